r"""`s-cnn-rnn-pretrain-backbone`: a backbone pretrained on the synthetic world's objects.

The paper's rows all start from an ImageNet CNN; the miniature tables, on the built-in synthetic
dataset, start from this instead: `small_cnn` trained to name the one object in single-object
images of the same world (`data_prep.synthetic.single_object`: new images, never a table's).
Only the backbone's weights are written, so that `s-cnn-rnn-train --backbone_weights=PATH` loads
them; a JSON report beside them (PATH without `.weights.h5`, plus `.json`) holds the held-out
top-1, chance, classes and settings.

Example:
  s-cnn-rnn-pretrain-backbone --output=/tmp/small_cnn_64.weights.h5
  s-cnn-rnn-train ... --backbone=small_cnn --image_size=64 --small_cnn_width=32 \
      --backbone_weights=/tmp/small_cnn_64.weights.h5

In-process (no flags defined): `pretrained_weights.make_backbone_weights(path, PretrainOptions())`.
"""

from s_cnn_rnn import command_line

command_line.quiet_startup(__name__)  # before TensorFlow is imported

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from s_cnn_rnn import option_flags  # noqa: E402
from s_cnn_rnn import pretrained_weights  # noqa: E402
from s_cnn_rnn.pretrain_options import PretrainOptions  # noqa: E402

COMMAND = pretrained_weights.COMMAND

FLAGS = flags.FLAGS

command_line.define_path("output", None, "The backbone's weights file to write (ends in .weights.h5); the "
                         "report goes beside it (.json instead of .weights.h5).")
_OPTIONS = option_flags.define(PretrainOptions)
flags.DEFINE_bool("overwrite", False, "Replace an existing --output written by this command.")


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}", exitcode=2)
    options = _OPTIONS.build()
    pretrained_weights.make_backbone_weights(FLAGS.output, options, overwrite=FLAGS.overwrite,
                                             log=lambda line: print(line, flush=True))
    return 0


def run() -> None:
    """Console-script entry point."""
    flags.mark_flags_as_required(["output"])
    command_line.run(main, COMMAND)


if __name__ == "__main__":
    run()
