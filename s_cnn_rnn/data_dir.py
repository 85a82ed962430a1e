"""A converted data dir (the converter's output): its manifest, sizes and shard files.

Pure Python (no TensorFlow), shared by the input pipeline, evaluation and training.
"""

import json
import os

from s_cnn_rnn import record_schema

CONVERT_HINT = "run `s-cnn-rnn-convert --dataset=... --output_dir=DATA_DIR` to create it"


def count_lines(path: str) -> int:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: the data dir is incomplete; {CONVERT_HINT}")
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def read_manifest(data_dir: str) -> dict:
    path = os.path.join(data_dir, record_schema.MANIFEST_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: {data_dir} is not a converted data dir; {CONVERT_HINT}")
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
        manifest["splits"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a valid manifest ({error}); {CONVERT_HINT} again") from error
    return manifest


def dataset_info(data_dir: str) -> dict:
    """What model building needs to know about a converted data dir.

    Returns:
      {"num_examples": {split: N}, "num_concepts": lines of concepts.txt, "num_labels":
      lines of labels.txt, "num_label_tokens": num_labels + 3 (<pad> <start> <end>),
      "num_tags": lines of tags.txt, "vocab_size": lines of words.txt, "has_images": bool}.
    """
    manifest = read_manifest(data_dir)
    num_labels = count_lines(os.path.join(data_dir, record_schema.LABELS_FILE))
    return {
        "num_examples": {name: int(split["num_examples"]) for name, split in manifest["splits"].items()},
        "num_concepts": count_lines(os.path.join(data_dir, record_schema.CONCEPTS_FILE)),
        "num_labels": num_labels,
        "num_label_tokens": num_labels + len(record_schema.LABEL_SPECIALS),
        "num_tags": count_lines(os.path.join(data_dir, record_schema.TAGS_FILE)),
        "vocab_size": count_lines(os.path.join(data_dir, record_schema.WORDS_FILE)),
        "has_images": bool(manifest.get("has_images", True)),
    }


def shard_paths(data_dir: str, split: str, manifest: dict | None = None) -> list[str]:
    """The TFRecord shards of `split` listed in DATA_DIR/manifest.json.

    Raises:
      FileNotFoundError: no manifest, or a listed shard is missing.
      ValueError: a malformed manifest, no such split, or a split with 0 examples.
    """
    manifest = manifest if manifest is not None else read_manifest(data_dir)
    splits = manifest["splits"]
    manifest_path = os.path.join(data_dir, record_schema.MANIFEST_FILE)
    if split not in splits:
        raise ValueError(
            f"split {split!r} is not in {manifest_path} (it has {sorted(splits)}); convert with "
            f"`s-cnn-rnn-convert ... --splits={split}:IDS_FILE` or pick another split"
        )
    if int(splits[split].get("num_examples", 0)) == 0 or not splits[split].get("shards"):
        raise ValueError(f"split {split!r} in {manifest_path} has 0 examples; nothing to read")
    paths = [os.path.join(data_dir, shard) for shard in splits[split]["shards"]]
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        raise FileNotFoundError(f"{missing[0]} (listed in {manifest_path}) not found; {CONVERT_HINT} again")
    return paths
