r"""`s-cnn-rnn-convert`: a raw dataset -> sharded TFRecords, vocabularies and manifest.json.

Examples:
  s-cnn-rnn-convert --dataset=synthetic --output_dir=/tmp/synth
  s-cnn-rnn-convert --dataset=coco_captions --output_dir=/data/coco_tfr \
      --captions_json=annotations/captions_train2014.json,annotations/captions_val2014.json \
      --image_dir=train2014,val2014 \
      --splits=val:karpathy_val_ids.txt,test:karpathy_test_ids.txt
  s-cnn-rnn-convert --dataset=nuswide --nuswide_dir=NUS-WIDE --image_dir=Flickr --output_dir=...

Everything is written into a staging directory beside `--output_dir` and renamed into place
at the end, so an interrupted run leaves no partial output.
"""

import os
import sys

from absl import app
from absl import flags

from data_prep import conversion
from data_prep.sources.base import AnnotationError

DATASETS = ("synthetic", "coco_captions", "coco_multilabel", "nuswide", "tfds_coco_captions")

_DATASET = flags.DEFINE_enum("dataset", "synthetic", DATASETS, "Which raw dataset to convert.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where the records, vocab/ and manifest.json go.")
_IMAGE_DIR = flags.DEFINE_list(
    "image_dir", None, "Image folder(s), searched in order; without it, captions-only records."
)
_CAPTIONS_JSON = flags.DEFINE_list("captions_json", None, "COCO caption annotation JSON file(s).")
_SPLITS = flags.DEFINE_string(
    "splits", None, "NAME:IDS_FILE,... one image id per line; images in no file go to train."
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing non-empty --output_dir.")
_INSTANCES_JSON = flags.DEFINE_list("instances_json", None, "coco_multilabel: COCO instances JSON(s).")
_LABELS_JSON = flags.DEFINE_string(
    "labels_json", None, "coco_multilabel: per-image label JSON {names, category_id, labels}."
)
_LABELS_NPZ = flags.DEFINE_string(
    "labels_npz", None, "coco_multilabel: label matrix .npz (image_id, split, labels, names)."
)
_USER_TAGS_JSON = flags.DEFINE_string(
    "user_tags_json", None, "coco_multilabel: user tags JSON {image_id: [tag, ...]} (Tag1K).")
_NUM_USER_TAGS = flags.DEFINE_integer(
    "num_user_tags", 1000, "With --user_tags_json: tags.txt = the most frequent train tags.")
_NUSWIDE_DIR = flags.DEFINE_string("nuswide_dir", None, "nuswide: the official NUS-WIDE folder layout.")
_NUSWIDE_ANNOTATIONS = flags.DEFINE_string(
    "nuswide_annotations_json", None, "nuswide: per-photo JSON {id: {file, tags1k, concepts81}}."
)
_CONCEPTS_FILE = flags.DEFINE_string("concepts_file", None, "nuswide JSON input: Concepts81.txt.")
_TAG_LIST_FILE = flags.DEFINE_string("tag_list_file", None, "nuswide JSON input: TagList1k.txt.")
_TFDS_DATA_DIR = flags.DEFINE_string(
    "tfds_data_dir", None, "tfds_coco_captions: an already prepared TFDS data_dir (never downloads)."
)
_NUM_TRAIN = flags.DEFINE_integer("synthetic_num_train", 3000, "synthetic: train images.")
_NUM_VAL = flags.DEFINE_integer("synthetic_num_val", 500, "synthetic: validation images.")
_NUM_TEST = flags.DEFINE_integer("synthetic_num_test", 500, "synthetic: test images.")
_SYNTHETIC_IMAGE_SIZE = flags.DEFINE_integer("synthetic_image_size", 96, "synthetic: image side (px).")
_SEED = flags.DEFINE_integer("seed", 0, "synthetic: generator seed.")
_MAX_WORDS = flags.DEFINE_integer("max_words", 12000, "Word vocabulary cap, specials included (M6).")
_MIN_WORD_COUNT = flags.DEFINE_integer("min_word_count", 1, "Train occurrences a word needs.")
_NUM_CONCEPTS = flags.DEFINE_integer("num_concepts", 1000, "k: the most frequent caption words (M7).")
_EXAMPLES_PER_SHARD = flags.DEFINE_integer("examples_per_shard", 1000, "Target shard size.")
_NUM_WORKERS = flags.DEFINE_integer(
    "num_workers", os.cpu_count() or 1, "Worker processes (0 = in this process)."
)
_PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar on stderr.")


def options_from_flags() -> conversion.ConvertOptions:
    """Collects the flags into the library's options."""
    return conversion.ConvertOptions(
        dataset=_DATASET.value,
        output_dir=_OUTPUT_DIR.value,
        image_dirs=_IMAGE_DIR.value,
        captions_json=_CAPTIONS_JSON.value,
        splits=_SPLITS.value,
        overwrite=_OVERWRITE.value,
        instances_json=_INSTANCES_JSON.value,
        labels_json=_LABELS_JSON.value,
        labels_npz=_LABELS_NPZ.value,
        user_tags_json=_USER_TAGS_JSON.value,
        num_user_tags=_NUM_USER_TAGS.value,
        nuswide_dir=_NUSWIDE_DIR.value,
        nuswide_annotations_json=_NUSWIDE_ANNOTATIONS.value,
        concepts_file=_CONCEPTS_FILE.value,
        tag_list_file=_TAG_LIST_FILE.value,
        tfds_data_dir=_TFDS_DATA_DIR.value,
        synthetic_sizes=(_NUM_TRAIN.value, _NUM_VAL.value, _NUM_TEST.value),
        synthetic_image_size=_SYNTHETIC_IMAGE_SIZE.value,
        seed=_SEED.value,
        max_words=_MAX_WORDS.value,
        min_word_count=_MIN_WORD_COUNT.value,
        num_concepts=_NUM_CONCEPTS.value,
        examples_per_shard=_EXAMPLES_PER_SHARD.value,
        num_workers=_NUM_WORKERS.value,
        show_progress=_PROGRESS.value,
    )


def main(argv):
    del argv
    if not _OUTPUT_DIR.value:
        raise app.UsageError("--output_dir is required.")
    try:
        manifest = conversion.convert(options_from_flags())
    except (AnnotationError, conversion.ConversionError) as error:
        print(f"s-cnn-rnn-convert: error: {error}", file=sys.stderr)
        return 2
    print(conversion.summary_line(manifest))
    return 0


def run():
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
