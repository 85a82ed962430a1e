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

from s_cnn_rnn import option_flags  # noqa: E402
from s_cnn_rnn.models import config as config_lib  # noqa: E402
from s_cnn_rnn.training import orchestrate  # noqa: E402
from s_cnn_rnn.training import stages  # noqa: E402
from s_cnn_rnn.training import trainer  # noqa: E402

FLAGS = flags.FLAGS

# Every flag comes from a dataclass field (its comment is the help; see s_cnn_rnn/option_flags.py).
_RUN = option_flags.define(orchestrate.TrainOptions, defaults={"stage": "all", "task": "caption"})
_MODEL = option_flags.define(
    config_lib.ModelConfig,
    exclude=("preprocessing", "num_concepts", "vocab_size", "num_tags", "tag_hidden_units"),
    choices={"variant": config_lib.VARIANTS, "backbone": config_lib.BACKBONES,
             "lstm_activation": config_lib.LSTM_ACTIVATIONS},
    paths=("backbone_weights",))
_TRAIN_STEPS = flags.DEFINE_integer(
    "train_steps", None, "If set: the total steps of every stage this run trains (overrides --<stage>_train_steps).",
    lower_bound=1)
# Per stage: --<stage>_train_steps, --<stage>_learning_rate, --<stage>_optimizer (+ --cnn_head_steps).
_PER_STAGE_FIELDS = ("train_steps", "learning_rate", "optimizer")
_STAGE_DEFAULT_STEPS = {"cnn": 30000, "rnn": 100000, "joint": 50000}
_PER_STAGE = {
    stage: option_flags.define(
        trainer.StageSettings, prefix=f"{stage}_", help_prefix=f"{stage} stage: ",
        fields=_PER_STAGE_FIELDS + (("head_steps",) if stage == "cnn" else ()),
        choices={"optimizer": trainer.OPTIMIZERS}, defaults={"train_steps": steps})
    for stage, steps in _STAGE_DEFAULT_STEPS.items()
}
# One flag for every stage: the other StageSettings fields (mixed_precision is TrainOptions').
_ALL_STAGES = option_flags.define(
    trainer.StageSettings, exclude=("stage", "mixed_precision", "head_steps") + _PER_STAGE_FIELDS,
    defaults={"batch_size": 32})


def options_from_flags() -> orchestrate.TrainOptions:
    """The training library's options, read from the flags (each dataclass validates its own).

    Raises:
      errors.OptionError: a value that makes no sense, naming its flag.
    """
    model = _MODEL.build(num_concepts=1, vocab_size=1)
    steps = {"train_steps": _TRAIN_STEPS.value} if _TRAIN_STEPS.value is not None else {}
    stage_settings = {
        stage: _ALL_STAGES.merged(_PER_STAGE[stage]).build(stage=stage, mixed_precision=FLAGS.mixed_precision,
                                                           **steps)
        for stage in stages.STAGES
    }
    return _RUN.build(model=model, stage_settings=stage_settings)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    results = orchestrate.train(options_from_flags())
    for stage, record in results.items():
        print(f"{stage}: " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
    return 0


def run():
    """Console-script entry point (`s-cnn-rnn-train`)."""
    command_line.run(main, "s-cnn-rnn-train")


if __name__ == "__main__":
    run()
