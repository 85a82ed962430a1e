"""Runs a variant's stages in order: builds the model, hands checkpoints from stage to stage.

This is the library behind `s-cnn-rnn-train` and the demo; it knows the model and the
input pipeline's config but nothing of file formats.
"""

import dataclasses
import os

import tensorflow as tf
from absl import logging

from s_cnn_rnn import inference
from s_cnn_rnn import input_pipeline
from s_cnn_rnn.evaluation import references as references_lib
from s_cnn_rnn.models import builder
from s_cnn_rnn.models.config import ModelConfig
from s_cnn_rnn.training import decoded_validation
from s_cnn_rnn.training import model_store
from s_cnn_rnn.training import runtime
from s_cnn_rnn.training import stages
from s_cnn_rnn.training import trainer


@dataclasses.dataclass
class TrainOptions:
    """A whole training run (the flags of `s-cnn-rnn-train`).

    Attributes:
      stage: "cnn", "rnn", "joint" or "all" (the variant's stages in order).
      data_dir: the converter's output.
      model_dir: where config, vocabularies and each stage's checkpoints live.
      task: "caption" or "multilabel".
      model: the ModelConfig without its data-dependent sizes (filled from the data).
      stage_settings: one StageSettings per stage name.
      batch_size, augment, max_caption_length: input pipeline settings.
      val_split: the split validated on ("" = none).
      distribution, mixed_precision, deterministic, seed: see `runtime`.
      retrain: train a finished stage again from scratch.
      validation_decode_examples: validation images decoded and scored at each validation
        (0 = losses only); best_checkpoint_metric: the history key the best checkpoint of a
        stage is chosen by, "auto" = the stage's default (see `decoded_validation.py`).
    """

    stage: str
    data_dir: str
    model_dir: str
    task: str
    model: ModelConfig
    stage_settings: dict
    augment: bool = False
    max_caption_length: int = 20
    val_split: str = "val"
    distribution: str = "none"
    mixed_precision: str = "float32"
    deterministic: bool = False
    seed: int = 0
    retrain: bool = False
    validation_decode_examples: int = 0
    best_checkpoint_metric: str = decoded_validation.AUTO


def complete_model_config(options: TrainOptions) -> ModelConfig:
    """Fills the sizes that come from the data (k, vocabulary, tags) into the ModelConfig."""
    info = input_pipeline.dataset_info(options.data_dir)
    if options.task == "caption":
        num_concepts, vocab_size = info["num_concepts"], info["vocab_size"]
    else:
        num_concepts, vocab_size = info["num_labels"], info["num_label_tokens"]
    if num_concepts == 0:
        raise ValueError(
            f"{options.data_dir} has no {'concepts' if options.task == 'caption' else 'labels'} for "
            f"--task={options.task}; convert a dataset that has them or change --task."
        )
    return dataclasses.replace(
        options.model, num_concepts=num_concepts, vocab_size=vocab_size, num_tags=info["num_tags"]
    )


def _check_saved_config(model_dir: str, config: dict) -> None:
    path = os.path.join(model_dir, model_store.CONFIG_FILE)
    if not os.path.exists(path):
        model_store.save_config(model_dir, config)
        return
    saved = model_store.load_config(model_dir)
    different = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
    if different:
        raise ValueError(
            f"{path} was written for another model ({', '.join(f'{k}: {saved.get(k)!r} != {config.get(k)!r}' for k in different)}); "
            "use the same settings to resume, or a new --model_dir."
        )


def _pipeline_config(options: TrainOptions, stage: str, training: bool) -> input_pipeline.PipelineConfig:
    return input_pipeline.PipelineConfig(
        task=options.task,
        batch_size=options.stage_settings[stage].batch_size,
        backbone=options.model.backbone,
        image_size=options.model.image_size,
        training=training,
        augment=options.augment and training,
        read_images=stages.reads_images(stage),
        max_caption_length=options.max_caption_length,
        # XLA compiles once per shape: give it a static sequence length. Without XLA the step
        # takes the iterator (time dimension None), traces once, and pads only to each batch's
        # longest sequence (the image-free rnn stage would pay 15-30% for fixed padding).
        pad_to_max_length=options.stage_settings[stage].jit_compile,
        deterministic=options.deterministic,
        seed=options.seed,
    )


def _latest(model_dir: str, stage: str) -> str | None:
    return tf.train.latest_checkpoint(os.path.join(model_dir, stage, "checkpoints"))


def _initializer(options: TrainOptions, model, stage: str):
    """The joint stage starts from the cnn and rnn stages' final weights (T6)."""
    if stage != "joint":
        return None
    variant_stages = stages.stages_for_variant(model.config.variant)

    def initialize():
        for previous, items in (("cnn", model.cnn_checkpoint_items()), ("rnn", model.decoder_checkpoint_items())):
            if previous not in variant_stages:
                continue
            path = _latest(options.model_dir, previous)
            if path is None:
                raise FileNotFoundError(
                    f"the joint stage starts from the {previous} stage, but {options.model_dir}/{previous} "
                    f"has no checkpoint: run --stage={previous} (or --stage=all) first."
                )
            tf.train.Checkpoint(**items).read(path).assert_existing_objects_matched().expect_partial()
            logging.info("joint stage initialised from %s", path)

    return initialize


def _decoded_validation(options: TrainOptions, model, stage: str, references: dict | None):
    """The stage's decoded validation: the first N validation images in the evaluation view."""
    count = options.validation_decode_examples
    config = dataclasses.replace(_pipeline_config(options, stage, training=False), read_images=True,
                                 batch_size=min(options.stage_settings[stage].batch_size, max(count, 1)))
    trained = inference.TrainedModel(model, model.config, options.task,
                                     model_store.load_vocabularies(options.model_dir), checkpoints={})
    return decoded_validation.DecodedValidation(
        trained, stage, lambda: input_pipeline.make_dataset(options.data_dir, options.val_split, config).take(
            -(-count // config.batch_size)), count, references, options.best_checkpoint_metric)


def train(options: TrainOptions) -> dict:
    """Runs the requested stage(s); returns {stage: final history record}."""
    runtime.set_determinism(options.seed, options.deterministic)
    runtime.set_precision(options.mixed_precision)
    strategy = runtime.make_strategy(options.distribution)
    os.makedirs(options.model_dir, exist_ok=True)
    model_store.bind_vocabularies(options.model_dir, options.data_dir)
    config = complete_model_config(options)
    _check_saved_config(options.model_dir, dict(config.to_dict(), task=options.task))
    requested = stages.stages_for_variant(config.variant) if options.stage == "all" else (options.stage,)
    for stage in requested:
        stages.check_stage(stage, config.variant)
    info = input_pipeline.dataset_info(options.data_dir)
    has_val = bool(options.val_split) and info["num_examples"].get(options.val_split, 0) > 0
    with strategy.scope():
        model = builder.build_model(config)
    references = None
    if has_val and options.task == "caption" and options.validation_decode_examples > 0:
        references = {r.image_id: list(r.captions) for r in references_lib.read_split(options.data_dir, options.val_split)}
    results = {}
    for stage in requested:
        settings = options.stage_settings[stage]
        stage_dir = os.path.join(options.model_dir, stage)
        if options.retrain and os.path.isdir(stage_dir):
            tf.io.gfile.rmtree(stage_dir)

        def train_dataset(start_step, stage=stage):
            return input_pipeline.make_dataset(
                options.data_dir, "train", _pipeline_config(options, stage, training=True),
                skip_examples=start_step * options.stage_settings[stage].batch_size,
            )

        def val_dataset(stage=stage):
            return input_pipeline.make_dataset(
                options.data_dir, options.val_split, _pipeline_config(options, stage, training=False)
            )

        stage_trainer = trainer.StageTrainer(
            model, strategy, settings, stage_dir, train_dataset, val_dataset if has_val else None,
            _decoded_validation(options, model, stage, references) if has_val else None,
        )
        results[stage] = stage_trainer.run(_initializer(options, model, stage))
    return results
