"""`ConvertOptions`: the settings of `s-cnn-rnn-convert` (one flag per field), checked on construction.

Imports no TensorFlow, so the command defines its flags and refuses a bad value before TensorFlow starts.
"""

import dataclasses
import os

from s_cnn_rnn import errors

DATASETS = ("synthetic", "coco_captions", "coco_multilabel", "nuswide", "tfds_coco_captions")


def _path(**metadata) -> dict:
    return {"path": True, **metadata}


@dataclasses.dataclass
class ConvertOptions:
    """Everything `convert` needs. The flags of `s-cnn-rnn-convert` are derived from these fields
    (`s_cnn_rnn/option_flags.py`): the comment above a field is its flag's help.

    Raises:
      OptionError: on construction, a value that makes no sense (naming the flag).
    """

    # Which raw dataset to convert.
    dataset: str = dataclasses.field(metadata={"choices": DATASETS})
    # Where the records, vocab/ and manifest.json go.
    output_dir: str = dataclasses.field(metadata=_path())
    # Image folder(s), searched in order; without it, captions-only records.
    image_dirs: list[str] | None = dataclasses.field(default=None, metadata=_path(flag="image_dir"))
    # COCO caption annotation JSON file(s).
    captions_json: list[str] | None = dataclasses.field(default=None, metadata=_path())
    # NAME:IDS_FILE,... one image id per line; images in no file go to train.
    splits: str | None = None
    # Replace an existing non-empty --output_dir.
    overwrite: bool = False
    # coco_multilabel: COCO instances JSON(s).
    instances_json: list[str] | None = dataclasses.field(default=None, metadata=_path())
    # coco_multilabel: per-image label JSON {names, category_id, labels}.
    labels_json: str | None = dataclasses.field(default=None, metadata=_path())
    # coco_multilabel: label matrix .npz (image_id, split, labels, names).
    labels_npz: str | None = dataclasses.field(default=None, metadata=_path())
    # coco_multilabel: Flickr user tags, a JSON object {image_id: [tag, ...]} (Table 2 Tag1K).
    user_tags_json: str | None = dataclasses.field(default=None, metadata=_path())
    # With --user_tags_json: tags.txt keeps this many most frequent train tags (the paper: 1,000).
    num_user_tags: int = 1000
    # nuswide: the official NUS-WIDE folder layout.
    nuswide_dir: str | None = dataclasses.field(default=None, metadata=_path())
    # nuswide: per-photo JSON {id: {file, tags1k, concepts81}}.
    nuswide_annotations_json: str | None = dataclasses.field(default=None, metadata=_path())
    # nuswide JSON input: Concepts81.txt.
    concepts_file: str | None = dataclasses.field(default=None, metadata=_path())
    # nuswide JSON input: TagList1k.txt.
    tag_list_file: str | None = dataclasses.field(default=None, metadata=_path())
    # tfds_coco_captions: an already prepared TFDS data_dir (never downloads).
    tfds_data_dir: str | None = dataclasses.field(default=None, metadata=_path())
    # synthetic: train images.
    synthetic_num_train: int = 3000
    # synthetic: validation images.
    synthetic_num_val: int = 500
    # synthetic: test images.
    synthetic_num_test: int = 500
    # synthetic: image side (px).
    synthetic_image_size: int = 96
    # synthetic: generator seed.
    seed: int = 0
    # Word vocabulary cap, specials included (M6).
    max_words: int = 12000
    # Train occurrences a word needs.
    min_word_count: int = 1
    # k: the most frequent caption words (M7).
    num_concepts: int = 1000
    # Target shard size.
    examples_per_shard: int = 1000
    # Worker processes (0 = in this process); default: one per CPU, none below 1,000 images.
    num_workers: int | None = None
    # Show a progress bar on stderr.
    show_progress: bool = dataclasses.field(default=True, metadata={"flag": "progress"})

    def __post_init__(self):
        errors.check_choice("ConvertOptions", "dataset", self.dataset, DATASETS)
        if not self.output_dir:
            raise errors.OptionError("ConvertOptions.output_dir is required", field="output_dir",
                                     reason="is required")
        for name, minimum in (("synthetic_num_train", 1), ("synthetic_num_val", 0), ("synthetic_num_test", 0),
                              ("synthetic_image_size", 16), ("max_words", 5), ("min_word_count", 1),
                              ("num_concepts", 1), ("examples_per_shard", 1), ("num_workers", 0)):
            if getattr(self, name) is not None:  # num_workers None: the default count
                errors.check_at_least("ConvertOptions", name, getattr(self, name), minimum)
        for name in ("image_dirs", "captions_json", "instances_json"):
            _check_each_once(name, getattr(self, name))

    @property
    def synthetic_sizes(self) -> tuple[int, int, int]:
        """(train, val, test) image counts of the synthetic dataset."""
        return self.synthetic_num_train, self.synthetic_num_val, self.synthetic_num_test


def _check_each_once(name: str, paths: list[str] | None) -> None:
    """Refuses a list flag naming one file or folder twice: its annotations would count twice.

    Raises:
      OptionError: the path repeated (also under another spelling of it).
    """
    seen = {}
    for path in paths or ():
        real = os.path.realpath(os.path.expanduser(path))
        if real in seen:
            also = "" if seen[real] == path else f" (as {seen[real]})"
            reason = f"names {path} twice{also}: every caption and word would count twice; give each once"
            raise errors.OptionError(f"ConvertOptions.{name}: {reason}", field=name, reason=reason)
        seen[real] = path
