r"""`s-cnn-rnn-export`: a trained model dir -> a self-contained SavedModel for serving.

Example:
  s-cnn-rnn-export --model_dir=/tmp/model --export_dir=/tmp/model_export/1
  saved_model_cli show --dir=/tmp/model_export/1 --all

Signatures: `serving_default` (image_bytes string [B], plus tags float32 [B, num_tags] for
use_tags models) and `tf_example` (serialized records); see
`s_cnn_rnn/serving/export_lib.py` and EXPORT_DIR/assets.extra/model_info.json.
"""

import json

from s_cnn_rnn import command_line

command_line.quiet_startup(__name__)  # before TensorFlow is imported

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from s_cnn_rnn import decode_options  # noqa: E402
from s_cnn_rnn import option_flags  # noqa: E402
from s_cnn_rnn.serving import export_lib  # noqa: E402

FLAGS = flags.FLAGS

command_line.define_path("model_dir", None, "The trained model dir (model_config.json, vocab/, checkpoints).")
command_line.define_path("export_dir", None, "Where the SavedModel goes (must not exist unless --overwrite).")
_DECODE = option_flags.define(decode_options.DecodeOptions, fields=("beam_width", "max_length", "checkpoint"))
flags.DEFINE_bool("overwrite", False, "Replace an existing --export_dir.")


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}", exitcode=2)
    decode = _DECODE.build()
    try:
        info = export_lib.export_saved_model(FLAGS.model_dir, FLAGS.export_dir, beam_width=decode.beam_width,
                                             max_length=decode.max_length, overwrite=FLAGS.overwrite,
                                             checkpoint=decode.checkpoint)
    except (FileExistsError, ValueError) as error:  # errors.UserError and FileNotFoundError: command_line
        command_line.print_error("s-cnn-rnn-export", error)
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
    command_line.run(main, "s-cnn-rnn-export")


if __name__ == "__main__":
    run()
