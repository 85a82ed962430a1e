"""The normalised form every dataset reader produces, before vocabularies exist."""

import dataclasses

from s_cnn_rnn import errors


class AnnotationError(errors.UserError, ValueError):
    """A missing or malformed annotation file; raised before any work is done.

    The message always names the file and says how to fix it.
    """


@dataclasses.dataclass
class RawItem:
    """One image of a raw dataset, as read from its annotation files.

    Attributes:
      image_id: the dataset's numeric image id (COCO id, NUS-WIDE photo id).
      source_id: the dataset's own name for the image (its file name).
      split: "train", "val", "test" or any split name given by `--splits`.
      image_path: absolute path of the image file, or None for captions-only records.
      captions: caption texts as written in the source (valid UTF-8 only).
      labels: ground-truth label names (multi-label datasets); may be empty.
      tags: noisy user-tag names (NUS-WIDE style side information); may be empty.
    """

    image_id: int
    source_id: str
    split: str
    image_path: str | None
    captions: list[str] = dataclasses.field(default_factory=list)
    labels: list[str] = dataclasses.field(default_factory=list)
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class SourceData:
    """Everything a reader returns.

    Attributes:
      items: the readable items, in a deterministic order (by image id).
      label_names: the dataset's label list in ITS OWN order (COCO category-id order,
        Concepts81.txt order); empty for caption-only datasets. The rare-first
        vocabulary is built from this later, ties broken by this order.
      tag_names: the dataset's tag list in its own order (TagList1k.txt); may be empty.
      skipped: items or captions dropped while reading, each
        {"id": ..., "kind": "image"|"caption", "reason": "..."}.
      repeated: annotations that repeat an identical one of the same image, each
        {"id": image id, "caption": text, "times": copies in all}; they are kept (COCO has a few
        genuine ones) but reported, since a file given twice under two names doubles them all.
    """

    items: list[RawItem]
    label_names: list[str] = dataclasses.field(default_factory=list)
    tag_names: list[str] = dataclasses.field(default_factory=list)
    skipped: list[dict] = dataclasses.field(default_factory=list)
    repeated: list[dict] = dataclasses.field(default_factory=list)
