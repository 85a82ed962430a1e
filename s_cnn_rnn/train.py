r"""`s-cnn-rnn-train`: trains the S-CNN-RNN stages (cnn, rnn, joint) with custom loops.

Example:
  s-cnn-rnn-train --flagfile=flags/demo_multilabel.flags --data_dir=/tmp/s_cnn_rnn_data \
      --model_dir=/tmp/model --stage=all

`--train_steps`, when given, is the total of every stage it runs; otherwise each stage
uses its `--<stage>_train_steps`. A rerun resumes each stage from its last checkpoint.
"""

import sys

from absl import app
from absl import flags
from absl import logging

from s_cnn_rnn.models.config import ModelConfig
from s_cnn_rnn.training import model_store
from s_cnn_rnn.training import orchestrate
from s_cnn_rnn.training import runtime
from s_cnn_rnn.training import trainer

FLAGS = flags.FLAGS

flags.DEFINE_enum("stage", "all", ["cnn", "rnn", "joint", "all"], "Which stage to train.")
flags.DEFINE_string("data_dir", None, "The converter's output directory.")
flags.DEFINE_string("model_dir", None, "Where checkpoints, config and vocabularies go.")
flags.DEFINE_enum("task", "caption", ["caption", "multilabel"], "Captioning or multi-label classification.")
# Model (SPEC M1-M8, V1-V6).
flags.DEFINE_enum("variant", "s_cnn_rnn", ["s_cnn_rnn", "nic_f", "nic_deeply", "cnn_logistic", "ria"],
                  "Model variant (SPEC V1, V3-V6).")
flags.DEFINE_enum("backbone", "inception_v3", ["inception_v3", "vgg16", "small_cnn"], "Image CNN.")
flags.DEFINE_string("backbone_weights", "imagenet", "imagenet | none | PATH to a .weights.h5 file.")
flags.DEFINE_integer("image_size", None, "Input side in pixels (default: the backbone's).")
flags.DEFINE_integer("embedding_dim", 512, "Word embedding size (M5: 256 multi-label, M6: 512 captions).")
flags.DEFINE_integer("lstm_units", 512, "LSTM size (M3).")
flags.DEFINE_enum("lstm_activation", "tanh", ["tanh", "relu"], "LSTM activation (M5: relu for labels).")
flags.DEFINE_bool("use_tags", False, "Add the noisy-tag MLP (Tag1K, M8).")
flags.DEFINE_bool("freeze_cnn", False, "Freeze the CNN weights (the 'Fix' variant, T7).")
flags.DEFINE_float("dropout", 0.0, "Dropout rate (paper: unspecified).")
flags.DEFINE_integer("small_cnn_width", 32, "small_cnn backbone: channels of the first block.")
# Input.
flags.DEFINE_integer("batch_size", 32, "Global batch size (T4: 32).")
flags.DEFINE_bool("augment", False, "Random crops and colour jitter while training.")
flags.DEFINE_integer("max_caption_length", 20, "Tokens kept per caption before <end>.")
flags.DEFINE_string("val_split", "val", "Split validated on; empty for none.")
# Stages.
flags.DEFINE_integer("train_steps", None, "If set: the total steps of every stage this run trains.")
for _stage, _steps, _lr in (("cnn", 30000, 1e-4), ("rnn", 100000, 1e-4), ("joint", 50000, 1e-4)):
    flags.DEFINE_integer(f"{_stage}_train_steps", _steps, f"Total steps of the {_stage} stage.")
    flags.DEFINE_float(f"{_stage}_learning_rate", _lr, f"Learning rate of the {_stage} stage.")
    flags.DEFINE_enum(f"{_stage}_optimizer", "rmsprop", ["rmsprop", "adam", "sgd"], f"{_stage} optimizer.")
flags.DEFINE_integer("cnn_head_steps", 0, "cnn stage: first train only the concept layer this many steps (T4).")
flags.DEFINE_float("gradient_clip_norm", 0.0, "Clip gradients to this global norm (0 = off).")
flags.DEFINE_integer("log_every", 50, "Steps between log lines and history records.")
flags.DEFINE_integer("checkpoint_every", 500, "Steps between checkpoints.")
flags.DEFINE_integer("validate_every", 500, "Steps between validations (0 = never).")
flags.DEFINE_integer("validation_steps", 20, "Batches per validation (0 = the whole split).")
flags.DEFINE_integer("validation_decode_examples", 256,
                     "At each validation, decode this many validation images as s-cnn-rnn-evaluate does and log "
                     "the task's metrics (captions: val_CIDEr_pytok, val_Bleu_4_pytok, val_ROUGE_L_pytok, Python "
                     "tokenizer, no Java; labels: val_C-F1, val_O-F1; cnn stage: val_concept_O-F1); 0 = losses only.")
flags.DEFINE_string("best_checkpoint_metric", "auto",
                    "History key each stage's best checkpoint (MODEL_DIR/<stage>/best/) is chosen by; auto = "
                    "val_CIDEr_pytok (captions) / val_O-F1 (labels) for joint, val_concept_O-F1 (labels) / val_loss "
                    "(captions) for cnn, val_loss for rnn; ties go to the later step. Losses are minimised, scores maximised.")
# Runtime.
flags.DEFINE_enum("distribution", "none", list(runtime.DISTRIBUTIONS), "tf.distribute strategy.")
flags.DEFINE_enum("mixed_precision", "float32", list(runtime.PRECISIONS), "Keras dtype policy.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the training step.")
flags.DEFINE_bool("deterministic", False, "Seeded, op-deterministic training (slower).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_bool("retrain", False, "Train already finished stages again from scratch.")


def options_from_flags() -> orchestrate.TrainOptions:
    """Maps the flags onto the training library's options."""
    model = ModelConfig(
        variant=FLAGS.variant,
        backbone=FLAGS.backbone,
        backbone_weights=FLAGS.backbone_weights,
        image_size=FLAGS.image_size,
        num_concepts=1,
        vocab_size=1,
        embedding_dim=FLAGS.embedding_dim,
        lstm_units=FLAGS.lstm_units,
        lstm_activation=FLAGS.lstm_activation,
        use_tags=FLAGS.use_tags,
        freeze_cnn=FLAGS.freeze_cnn,
        dropout=FLAGS.dropout,
        small_cnn_width=FLAGS.small_cnn_width,
    )
    stage_settings = {}
    for stage in ("cnn", "rnn", "joint"):
        stage_settings[stage] = trainer.StageSettings(
            stage=stage,
            train_steps=FLAGS.train_steps or FLAGS[f"{stage}_train_steps"].value,
            batch_size=FLAGS.batch_size,
            learning_rate=FLAGS[f"{stage}_learning_rate"].value,
            optimizer=FLAGS[f"{stage}_optimizer"].value,
            head_steps=FLAGS.cnn_head_steps if stage == "cnn" else 0,
            gradient_clip_norm=FLAGS.gradient_clip_norm,
            log_every=FLAGS.log_every,
            checkpoint_every=FLAGS.checkpoint_every,
            validate_every=FLAGS.validate_every,
            validation_steps=FLAGS.validation_steps,
            mixed_precision=FLAGS.mixed_precision,
            jit_compile=FLAGS.jit_compile,
        )
    return orchestrate.TrainOptions(
        stage=FLAGS.stage,
        data_dir=FLAGS.data_dir,
        model_dir=FLAGS.model_dir,
        task=FLAGS.task,
        model=model,
        stage_settings=stage_settings,
        augment=FLAGS.augment,
        max_caption_length=FLAGS.max_caption_length,
        val_split=FLAGS.val_split,
        distribution=FLAGS.distribution,
        mixed_precision=FLAGS.mixed_precision,
        deterministic=FLAGS.deterministic,
        seed=FLAGS.seed,
        retrain=FLAGS.retrain,
        validation_decode_examples=FLAGS.validation_decode_examples,
        best_checkpoint_metric=FLAGS.best_checkpoint_metric,
    )


def main(argv):
    del argv
    if not FLAGS.data_dir or not FLAGS.model_dir:
        raise app.UsageError("--data_dir and --model_dir are required.")
    try:
        results = orchestrate.train(options_from_flags())
    except (trainer.NonFiniteLossError, model_store.VocabularyMismatchError, FileNotFoundError, ValueError) as error:
        logging.error("%s", error)
        print(f"s-cnn-rnn-train: error: {error}", file=sys.stderr)
        return 2
    for stage, record in results.items():
        print(f"{stage}: " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
    return 0


def run():
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
