"""Writing the generated images' annotations in the real COCO and NUS-WIDE file formats.

Everything written here is a pure function of the records, so the same seed gives
byte-identical files: dict keys are inserted in a fixed order, no dates or timings.
"""

import dataclasses
import json
import os

import numpy as np

from data_prep.synthetic import catalogue
from data_prep.synthetic import tags as tags_lib

CRLF = "\r\n"


@dataclasses.dataclass
class ImageRecord:
    """Everything known about one generated image.

    Attributes:
      image_id: 1-based id; the file is `images/synthetic_{image_id:06d}.jpg`.
      scene: scene key.
      night: drawn at night.
      instances: visible instances as (label, [x, y, w, h] pixels, visible area in pixels).
      captions: five captions.
      tags: noisy user tags (names in TAG_LIST).
    """

    image_id: int
    scene: str
    night: bool
    instances: list
    captions: list
    tags: list

    @property
    def file_name(self) -> str:
        return file_name(self.image_id)

    @property
    def labels(self) -> list[str]:
        """Distinct labels of the visible instances, in LABEL_NAMES order."""
        present = {label for label, _, _ in self.instances}
        return [label for label in catalogue.LABEL_NAMES if label in present]


def file_name(image_id: int) -> str:
    """The image's file name inside `images/`."""
    return f"synthetic_{image_id:06d}.jpg"


def _info(seed: int, image_size: int) -> dict:
    return {
        "description": "s-cnn-rnn built-in synthetic dataset (procedurally drawn scenes)",
        "version": catalogue.GENERATOR_VERSION,
        "year": 2017,
        "contributor": "data_prep.synthetic",
        "seed": seed,
        "image_size": image_size,
    }


def _images(records: list, image_size: int) -> list:
    return [{"id": r.image_id, "file_name": r.file_name, "width": image_size,
             "height": image_size} for r in records]


def write_json(path: str, payload: dict) -> None:
    """Compact, ASCII JSON with a final newline."""
    with open(path, "w", encoding="ascii", newline="\n") as stream:
        json.dump(payload, stream, ensure_ascii=True, separators=(",", ":"))
        stream.write("\n")


def write_captions(path: str, records: list, seed: int, image_size: int) -> None:
    """COCO caption annotations: ids numbered 1.. in image order."""
    annotations = []
    for record in records:
        for caption in record.captions:
            annotations.append({"id": len(annotations) + 1, "image_id": record.image_id,
                                "caption": caption})
    write_json(path, {"info": _info(seed, image_size), "licenses": [], "type": "captions",
                      "images": _images(records, image_size), "annotations": annotations})


def write_instances(path: str, records: list, seed: int, image_size: int) -> None:
    """COCO instance annotations, one per visible instance (regions included)."""
    categories = [{"id": catalogue.category_id(name), "name": name,
                   "supercategory": catalogue.LABELS[name].supercategory}
                  for name in catalogue.LABEL_NAMES]
    annotations = []
    for record in records:
        for label, bbox, area in record.instances:
            annotations.append({"id": len(annotations) + 1, "image_id": record.image_id,
                                "category_id": catalogue.category_id(label),
                                "bbox": [float(v) for v in bbox], "area": float(area),
                                "iscrowd": 0})
    write_json(path, {"info": _info(seed, image_size), "licenses": [],
                      "images": _images(records, image_size), "categories": categories,
                      "annotations": annotations})


def write_user_tags(path: str, records: list) -> None:
    """The images' noisy tags as a COCO user-tag file, `{"<image id>": [tag, ...]}`.

    The same tags as the NUS-WIDE tag matrix, so `--dataset=coco_multilabel --user_tags_json`
    (Table 2's Tag1K) runs on the built-in dataset; every image is listed, an untagged one
    with [].
    """
    write_json(path, {str(record.image_id): list(record.tags) for record in records})


def write_lines(path: str, lines, line_end: str) -> None:
    """Writes each line followed by `line_end` ("\\n" or CRLF)."""
    with open(path, "w", encoding="ascii", newline="") as stream:
        stream.writelines(f"{line}{line_end}" for line in lines)


def write_nuswide(nus_dir: str, records: list, test_ids: set) -> None:
    """The NUS-WIDE layout: concept list, image lists, per-label ground truth, tag matrix.

    Train lists hold train+val images, test lists the test images, both in id order;
    every per-image file is aligned line by line with its image list.
    """
    for sub in ("ImageList", os.path.join("Groundtruth", "TrainTestLabels"), "NUS_WID_Tags"):
        os.makedirs(os.path.join(nus_dir, sub), exist_ok=True)
    write_lines(os.path.join(nus_dir, "Concepts81.txt"), catalogue.LABEL_NAMES, CRLF)
    write_lines(os.path.join(nus_dir, "NUS_WID_Tags", "TagList1k.txt"), tags_lib.TAG_LIST, CRLF)

    def list_line(record):
        return f"images\\{record.file_name}"

    parts = {"Train": [r for r in records if r.image_id not in test_ids],
             "Test": [r for r in records if r.image_id in test_ids]}
    write_lines(os.path.join(nus_dir, "ImageList", "Imagelist.txt"),
                (list_line(r) for r in records), CRLF)
    tag_column = {tag: i for i, tag in enumerate(tags_lib.TAG_LIST)}
    for part, part_records in parts.items():
        write_lines(os.path.join(nus_dir, "ImageList", f"{part}Imagelist.txt"),
                    (list_line(r) for r in part_records), CRLF)
        label_sets = [set(r.labels) for r in part_records]
        for name in catalogue.LABEL_NAMES:
            write_lines(os.path.join(nus_dir, "Groundtruth", "TrainTestLabels",
                                     f"Labels_{name}_{part}.txt"),
                        ("1" if name in labels else "0" for labels in label_sets), CRLF)
        matrix = np.zeros((len(part_records), len(tags_lib.TAG_LIST)), np.uint8)
        for row, record in enumerate(part_records):
            matrix[row, [tag_column[t] for t in record.tags]] = 1
        with open(os.path.join(nus_dir, "NUS_WID_Tags", f"{part}_Tags1k.dat"), "wb") as stream:
            stream.write(_tab_separated_bits(matrix))


def _tab_separated_bits(matrix: np.ndarray) -> bytes:
    """Rows of 0/1 as "0\\t1\\t...\\t0\\r\\n" bytes, built without a Python loop per cell."""
    rows, cols = matrix.shape
    out = np.full((rows, 2 * cols + 1), ord("\t"), np.uint8)
    out[:, 0:2 * cols:2] = matrix + ord("0")
    out[:, 2 * cols - 1] = ord("\r")
    out[:, 2 * cols] = ord("\n")
    return out.tobytes()


def readme_text(summary: dict) -> str:
    """README.txt: what this is, how it was made, and its label statistics."""
    lines = [
        "Synthetic scenes for the S-CNN-RNN reference implementation",
        "=" * 60,
        "",
        "Procedurally drawn JPEG scenes (street, park, room, beach, farm, harbour, winter)",
        "with COCO-format captions (5 per image) and instances, and the same images in the",
        "NUS-WIDE layout (81-concept-style ground truth over this dataset's labels, a",
        "1,000-tag noisy user-tag matrix). Nothing here depicts real photographs.",
        "",
        f"generator version: {summary['generator_version']}",
        f"seed: {summary['seed']}",
        f"image size: {summary['image_size']} x {summary['image_size']} (RGB JPEG, quality 90)",
        "images: {num_images} (train {train}, val {val}, test {test})".format(
            num_images=summary["num_images"], **summary["splits"]),
        f"labels: {summary['num_labels']}, tags: {summary['num_tags']}",
        f"instances: {summary['num_instances']}, captions: {summary['num_captions']}",
        f"mean labels per image: {summary['mean_labels_per_image']:.2f}",
        f"mean tags per image: {summary['mean_tags_per_image']:.2f}",
        "",
        "Files",
        "  images/synthetic_NNNNNN.jpg          image id NNNNNN (1..N)",
        "  annotations/captions.json            COCO captions",
        "  annotations/instances.json           COCO instances (one per visible object/region)",
        "  annotations/user_tags.json           user tags {image id: [tag, ...]} (COCO Tag1K)",
        "  splits/val_ids.txt, splits/test_ids.txt   image ids; all others are train",
        "  nuswide/                             NUS-WIDE layout (CRLF line ends, as shipped)",
        "",
        "Scenes (images)",
    ]
    lines += [f"  {name:10s} {count:6d}" for name, count in summary["scene_frequency"].items()]
    lines += ["", "Labels (images containing the label, all splits)"]
    total = max(1, summary["num_images"])
    lines += [f"  {name:12s} {count:6d}  {100.0 * count / total:5.1f}%"
              for name, count in summary["label_frequency"].items()]
    return "\n".join(lines) + "\n"
