r"""`s-cnn-rnn-export`: a trained model dir -> a self-contained SavedModel for serving.

Example:
  s-cnn-rnn-export --model_dir=/tmp/model --export_dir=/tmp/model_export/1
  saved_model_cli show --dir=/tmp/model_export/1 --all

Signatures: `serving_default` (image_bytes string [B], plus tags float32 [B, num_tags] for
use_tags models) and `tf_example` (serialized records); see
`s_cnn_rnn/serving/export_lib.py` and EXPORT_DIR/assets.extra/model_info.json.
"""

import json
import sys

from absl import app
from absl import flags
from absl import logging

from s_cnn_rnn.serving import export_lib
from s_cnn_rnn.training import model_store

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "The trained model dir (model_config.json, vocab/, checkpoints).")
flags.DEFINE_string("export_dir", None, "Where the SavedModel goes (must not exist unless --overwrite).")
flags.DEFINE_integer("beam_width", 3, "Captions: beam width (SPEC I2: 3).")
flags.DEFINE_integer("max_length", None, "Most tokens decoded (default: 20 for captions, the label count for labels).")
flags.DEFINE_bool("overwrite", False, "Replace an existing --export_dir.")
flags.DEFINE_string("checkpoint", "best", model_store.CHECKPOINT_HELP)


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}", exitcode=2)
    try:
        info = export_lib.export_saved_model(FLAGS.model_dir, FLAGS.export_dir, beam_width=FLAGS.beam_width,
                                             max_length=FLAGS.max_length, overwrite=FLAGS.overwrite,
                                             checkpoint=FLAGS.checkpoint)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        logging.error("%s", error)
        print(f"s-cnn-rnn-export: error: {error}", file=sys.stderr)
        return 2
    signatures = info["signatures"]
    summary = {
        "export_dir": info["export_dir"],
        "task": info["task"],
        "inputs": {name: sorted(signatures[name]["inputs"]) for name in ("serving_default", "tf_example")},
        "outputs": sorted(signatures["serving_default"]["outputs"]),
        "export_seconds": info["export_seconds"],
    }
    print(json.dumps(summary, indent=1))
    return 0


def run() -> None:
    """Console-script entry point."""
    flags.mark_flags_as_required(["model_dir", "export_dir"])
    app.run(main)


if __name__ == "__main__":
    run()
