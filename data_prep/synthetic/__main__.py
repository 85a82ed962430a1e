r"""Writes the built-in synthetic dataset's raw files (normally `s-cnn-rnn-convert` does it).

Example:
  python -m data_prep.synthetic --raw_dir=/tmp/synthetic_raw --num_train=300 \
      --num_val=50 --num_test=50 --image_size=64
"""

import json
import sys

from absl import app
from absl import flags

from data_prep.synthetic import generator

_RAW_DIR = flags.DEFINE_string("raw_dir", None, "Output folder; must not exist or be empty.")
_NUM_TRAIN = flags.DEFINE_integer("num_train", generator.DEFAULT_SIZES["num_train"],
                                  "Train images.")
_NUM_VAL = flags.DEFINE_integer("num_val", generator.DEFAULT_SIZES["num_val"],
                                "Validation images.")
_NUM_TEST = flags.DEFINE_integer("num_test", generator.DEFAULT_SIZES["num_test"], "Test images.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", generator.DEFAULT_SIZES["image_size"],
                                   "Image side in pixels.")
_SEED = flags.DEFINE_integer("seed", 0, "Dataset seed.")
_NUM_WORKERS = flags.DEFINE_integer("num_workers", None,
                                    "Drawing processes (default: one per CPU).")


def main(argv):
    del argv
    if not _RAW_DIR.value:
        raise app.UsageError("--raw_dir is required.")
    try:
        summary = generator.generate(_RAW_DIR.value, _NUM_TRAIN.value, _NUM_VAL.value,
                                     _NUM_TEST.value, _IMAGE_SIZE.value, _SEED.value,
                                     _NUM_WORKERS.value)
    except (FileExistsError, ValueError) as error:
        print(f"data_prep.synthetic: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    app.run(main)
