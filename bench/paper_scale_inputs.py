"""The inputs of `bench/paper_scale.py`: the paper's datasets at full size from the real annotations.

Real: every annotation (the 202,654 COCO val2014 captions as the annotation file ships them, the
Karpathy val/test ids, the 80-class labels of the 122,218 annotated COCO 2014 images). Stand-in:
every image is a hard link to one of the 12 real COCO JPEGs (cycled), so file sizes and decode
costs are real but the pixels say nothing of the annotations (no accuracy can be measured), and
the Flickr user tags of Ours+Tag1K, which are not available offline, are drawn at random from
the NUS-WIDE 1,000-tag list. No TensorFlow here: the test runs this at a tiny size.
"""

import dataclasses
import glob
import gzip
import json
import os

import numpy as np

# The project's real-data folder, beside the project's root (read-only).
DATA_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         "shared", "data")
_CAPTIONS = "coco_captions/captions_val2014_reconstructed.json.gz"
_VAL_IDS, _TEST_IDS = "coco_captions/karpathy_val_ids.txt", "coco_captions/karpathy_test_ids.txt"
_LABELS = "coco_multilabel/coco2014_multilabel80.npz"
_TAG_LIST = "nuswide/TagList1k.txt"
_JPEGS = "coco_mini12/images"
# Stand-in user tags per image: as many as a Flickr photo's tags inside NUS-WIDE's 1k list, roughly.
_TAGS_PER_IMAGE = (2, 12)


def missing_inputs(data_root: str = DATA_ROOT) -> list[str]:
    """The real-data files this bench reads that are absent under `data_root` (empty: all there)."""
    paths = [_CAPTIONS, _VAL_IDS, _TEST_IDS, _LABELS, _TAG_LIST, _JPEGS]
    return [os.path.join(data_root, p) for p in paths if not os.path.exists(os.path.join(data_root, p))]


@dataclasses.dataclass
class CaptionInputs:
    """COCO captions as `s-cnn-rnn-convert --dataset=coco_captions` reads them.

    Attributes:
      captions_json: the val2014 caption annotation file (plain JSON, as COCO ships it).
      image_dir: val2014/, one hard-linked stand-in JPEG per image, named as the file lists it.
      val_ids, test_ids: the Karpathy split files (read in place).
      images, captions: counts written.
      split_counts: images per split (train = every image in neither id file).
    """

    captions_json: str
    image_dir: str
    val_ids: str
    test_ids: str
    images: int
    captions: int
    split_counts: dict


@dataclasses.dataclass
class MultilabelInputs:
    """COCO multi-label as `s-cnn-rnn-convert --dataset=coco_multilabel` reads it.

    Attributes:
      instances_json: instances_train2014.json, instances_val2014.json (one object annotation
        per (image, label) pair of the real label matrix; the converter reads only which
        categories an image has).
      image_dirs: train2014/, val2014/ of hard-linked stand-in JPEGs.
      user_tags_json: stand-in user tags {image id: [tag, ...]} for Ours+Tag1K.
      images: {"train2014": n, "val2014": n}; annotations: object annotations written.
    """

    instances_json: list[str]
    image_dirs: list[str]
    user_tags_json: str
    images: dict
    annotations: int


def _link_images(image_dir: str, file_names: list[str], jpegs: list[str]) -> None:
    """Hard links (no image bytes written) to `jpegs`, cycled, named `file_names`."""
    os.makedirs(image_dir, exist_ok=True)
    for index, name in enumerate(file_names):
        os.link(jpegs[index % len(jpegs)], os.path.join(image_dir, name))


def _local_jpegs(data_root: str, raw_dir: str) -> list[str]:
    """The 12 real JPEGs, copied once into `raw_dir` so that every link is to a file this bench made.

    Linking straight into the read-only data folder would tie its files' link counts to ours and
    fails where it lies on another file system; 12 copies cost 2.3 MB.
    """
    sources = sorted(glob.glob(os.path.join(data_root, _JPEGS, "*.jpg")))
    target_dir = os.path.join(raw_dir, "jpegs")
    os.makedirs(target_dir, exist_ok=True)
    copies = []
    for source in sources:
        target = os.path.join(target_dir, os.path.basename(source))
        if not os.path.exists(target):
            with open(source, "rb") as reader, open(target, "wb") as writer:
                writer.write(reader.read())
        copies.append(target)
    return copies


def _read_ids(path: str) -> set[int]:
    with open(path, encoding="utf-8") as handle:
        return {int(line) for line in handle if line.strip()}


def _keep_per_split(image_ids: list[int], split_of, limit: int | None) -> set[int]:
    """The first `limit` ids (in the given order) of each split; all ids when `limit` is None."""
    if limit is None:
        return set(image_ids)
    kept, counts = set(), {}
    for image_id in image_ids:
        split = split_of(image_id)
        if counts.get(split, 0) < limit:
            kept.add(image_id)
            counts[split] = counts.get(split, 0) + 1
    return kept


def make_caption_inputs(raw_dir: str, data_root: str = DATA_ROOT, images_per_split: int | None = None) -> CaptionInputs:
    """Writes the caption annotation file and links one stand-in JPEG per image.

    Args:
      raw_dir: where annotations/ and val2014/ go (created).
      data_root: the real-data folder.
      images_per_split: None = all 40,504 images (the file as it is); N = the first N images (by
        id) of each of train / Karpathy val / Karpathy test (a tiny run for tests).
    """
    val_ids, test_ids = os.path.join(data_root, _VAL_IDS), os.path.join(data_root, _TEST_IDS)
    with gzip.open(os.path.join(data_root, _CAPTIONS), "rt", encoding="utf-8") as handle:
        document = json.load(handle)
    val, test = _read_ids(val_ids), _read_ids(test_ids)

    def split_of(image_id):
        return "val" if image_id in val else "test" if image_id in test else "train"

    kept = _keep_per_split(sorted(image["id"] for image in document["images"]), split_of, images_per_split)
    if images_per_split is not None:
        document = dict(document, images=[i for i in document["images"] if i["id"] in kept],
                        annotations=[a for a in document["annotations"] if a["image_id"] in kept])
    annotation_dir = os.path.join(raw_dir, "annotations")
    os.makedirs(annotation_dir, exist_ok=True)
    captions_json = os.path.join(annotation_dir, "captions_val2014.json")
    with open(captions_json, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    image_dir = os.path.join(raw_dir, "val2014")
    _link_images(image_dir, [image["file_name"] for image in document["images"]], _local_jpegs(data_root, raw_dir))
    counts = {"train": 0, "val": 0, "test": 0}
    for image in document["images"]:
        counts[split_of(image["id"])] += 1
    return CaptionInputs(captions_json, image_dir, val_ids, test_ids, len(document["images"]),
                         len(document["annotations"]), counts)


def make_multilabel_inputs(raw_dir: str, data_root: str = DATA_ROOT, images_per_set: int | None = None,
                           seed: int = 0) -> MultilabelInputs:
    """Writes COCO instances files from the real 80-class label matrix, the images and stand-in tags.

    Args:
      raw_dir: where annotations/, train2014/ and val2014/ go (created).
      data_root: the real-data folder.
      images_per_set: None = all 122,218 annotated images; N = the first N of train2014 and of
        val2014 (a tiny run for tests).
      seed: the stand-in tags' random seed.
    """
    arrays = np.load(os.path.join(data_root, _LABELS), allow_pickle=False)
    image_ids, sets, labels = arrays["image_id"], arrays["split"].astype(str), arrays["labels"]
    names, category_ids = arrays["names"].astype(str).tolist(), arrays["category_id"].tolist()
    categories = [{"id": int(c), "name": n, "supercategory": "none"} for c, n in zip(category_ids, names)]
    with open(os.path.join(data_root, _TAG_LIST), encoding="utf-8", newline="") as handle:
        tag_list = [line.strip() for line in handle if line.strip()]
    rng = np.random.default_rng(seed)
    annotation_dir = os.path.join(raw_dir, "annotations")
    os.makedirs(annotation_dir, exist_ok=True)
    jpegs = _local_jpegs(data_root, raw_dir)
    instances, image_dirs, counts, user_tags, next_annotation = [], [], {}, {}, 1
    for image_set in ("train2014", "val2014"):
        rows = np.flatnonzero(sets == image_set)
        rows = rows[np.argsort(image_ids[rows], kind="stable")][:images_per_set]
        images, annotations = [], []
        for row in rows:
            image_id = int(image_ids[row])
            images.append({"id": image_id, "file_name": f"COCO_{image_set}_{image_id:012d}.jpg",
                           "height": 480, "width": 640})
            for column in np.flatnonzero(labels[row]):
                annotations.append({"id": next_annotation, "image_id": image_id,
                                    "category_id": int(category_ids[column]), "iscrowd": 0})
                next_annotation += 1
            chosen = rng.choice(len(tag_list), size=int(rng.integers(*_TAGS_PER_IMAGE)), replace=False)
            user_tags[str(image_id)] = [tag_list[i] for i in sorted(chosen)]
        path = os.path.join(annotation_dir, f"instances_{image_set}.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"images": images, "annotations": annotations, "categories": categories}, handle)
        instances.append(path)
        image_dirs.append(os.path.join(raw_dir, image_set))
        _link_images(image_dirs[-1], [image["file_name"] for image in images], jpegs)
        counts[image_set] = len(images)
    user_tags_json = os.path.join(annotation_dir, "user_tags_standin.json")
    with open(user_tags_json, "w", encoding="utf-8") as handle:
        json.dump(user_tags, handle)
    return MultilabelInputs(instances, image_dirs, user_tags_json, counts, next_annotation - 1)


def vocabulary_facts(data_dir: str) -> dict:
    """words.txt's size and how much of the train word occurrences the 1,000 most frequent cover.

    Counts are the converter's (train split only; `<unk>` holds the words left out), so the share
    is over every train occurrence.
    """
    def read(name):
        with open(os.path.join(data_dir, "vocab", name), encoding="utf-8") as handle:
            return [(token, int(count)) for token, count in (line.rstrip("\n").split("\t") for line in handle)]

    words, concepts = read("words.txt"), read("concepts.txt")
    total = sum(count for _, count in words)
    top = sorted((count for token, count in words if token not in ("<pad>", "<start>", "<end>", "<unk>")),
                 reverse=True)[:1000]
    return {"words": len(words), "concepts": len(concepts), "train_word_occurrences": total,
            "top1000_share": round(sum(top) / total, 4) if total else None,
            "unk_share": round(dict(words).get("<unk>", 0) / total, 4) if total else None}


def longest_label_sequence(data_root: str = DATA_ROOT) -> int:
    """1 + the most labels any COCO image has: the longest teacher-forced label sequence."""
    labels = np.load(os.path.join(data_root, _LABELS), allow_pickle=False)["labels"]
    return 1 + int(labels.sum(axis=1).max())
