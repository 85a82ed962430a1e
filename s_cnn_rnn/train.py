r"""`s-cnn-rnn-train`: trains the S-CNN-RNN stages (cnn, rnn, joint) with custom loops.

Example:
  s-cnn-rnn-train --flagfile=flags/demo_multilabel.flags --data_dir=/tmp/s_cnn_rnn_data \
      --model_dir=/tmp/model --stage=all

`--train_steps`, when given, is the total of every stage it runs; otherwise each stage
uses its `--<stage>_train_steps`. A rerun resumes each stage from its last checkpoint.
"""

from s_cnn_rnn import command_line

command_line.quiet_startup(__name__)  # before TensorFlow is imported

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from s_cnn_rnn import train_flags  # noqa: E402
from s_cnn_rnn.training import stage_runner  # noqa: E402

FLAGS = flags.FLAGS
# Every flag comes from a dataclass field: see s_cnn_rnn/train_flags.py.
_TRAIN_FLAGS = train_flags.define(FLAGS)


def options_from_flags() -> stage_runner.TrainOptions:
    """The training library's options, read from the flags (see `train_flags.TrainFlags.options`)."""
    return _TRAIN_FLAGS.options()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    results = stage_runner.train(options_from_flags())
    for stage, record in results.items():
        print(f"{stage}: " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
    return 0


def run():
    """Console-script entry point (`s-cnn-rnn-train`)."""
    command_line.run(main, "s-cnn-rnn-train")


if __name__ == "__main__":
    run()
