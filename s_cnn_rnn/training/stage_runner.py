"""Runs a variant's stages in order: builds the model, hands checkpoints from stage to stage.

This is the library behind `s-cnn-rnn-train` and the demo; it knows the model and the
input pipeline's config but nothing of file formats.
"""

import contextlib
import dataclasses
import os

import tensorflow as tf

from s_cnn_rnn import errors
from s_cnn_rnn import inference
from s_cnn_rnn import input_pipeline
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn import stage_handovers
from s_cnn_rnn.evaluation import references as references_lib
from s_cnn_rnn import tasks
from s_cnn_rnn.models import builder
from s_cnn_rnn.models import variants
from s_cnn_rnn.models.config import ModelConfig
from s_cnn_rnn.training import chief
from s_cnn_rnn.training import decoded_validation
from s_cnn_rnn.training import locks
from s_cnn_rnn.training import runtime
from s_cnn_rnn.training import stages
from s_cnn_rnn.training import trainer


@dataclasses.dataclass
class TrainOptions:
    """A whole training run. The comments are the help of `s-cnn-rnn-train`'s flags, which are
    derived from these fields (`model` and `stage_settings` from their own dataclasses).

    Raises:
      OptionError: on construction, a value that makes no sense.
    """

    # Which stage to train: tags | cnn | rnn | decoder | joint | all (the variant's stages in order).
    stage: str = dataclasses.field(metadata={"choices": (*variants.STAGE_ORDER, "all")})
    # The converter's output directory.
    data_dir: str = dataclasses.field(metadata={"path": True})
    # Where checkpoints, config and vocabularies go.
    model_dir: str = dataclasses.field(metadata={"path": True})
    # Captioning or multi-label classification.
    task: str = dataclasses.field(metadata={"choices": tasks.NAMES})
    # The ModelConfig without its data-dependent sizes (filled from the data).
    model: ModelConfig = dataclasses.field(metadata={"flag": None})
    # One StageSettings per stage name.
    stage_settings: dict = dataclasses.field(metadata={"flag": None})
    # Random crops and colour jitter while training.
    augment: bool = False
    # Tokens kept per caption before <end>.
    max_caption_length: int = 20
    # Split validated on; empty for none.
    val_split: str = "val"
    # tf.distribute strategy (see training/runtime.py).
    distribution: str = dataclasses.field(default="none", metadata={"choices": runtime.DISTRIBUTIONS})
    # Keras dtype policy (mixed_float16 gets loss scaling).
    mixed_precision: str = dataclasses.field(default="float32", metadata={"choices": runtime.PRECISIONS})
    # Seeded, op-deterministic training (slower).
    deterministic: bool = False
    # Random seed.
    seed: int = 0
    # Train already finished stages again from scratch.
    retrain: bool = False
    # At each validation, decode this many validation images as s-cnn-rnn-evaluate does and log the task's
    # metrics (captions: val_CIDEr_pytok, val_Bleu_4_pytok, val_ROUGE_L_pytok with the Python tokenizer, no
    # Java; labels: val_C-F1, val_O-F1; cnn stage: val_concept_O-F1); 0 = losses only.
    validation_decode_examples: int = 0
    # History key each stage's best checkpoint (MODEL_DIR/<stage>/best/) is chosen by; auto = val_CIDEr_pytok
    # (captions) / val_O-F1 (labels) for joint, val_concept_O-F1 (labels) / val_loss (captions) for cnn,
    # val_loss for rnn; ties go to the later step. Losses are minimised, scores maximised.
    best_checkpoint_metric: str = decoded_validation.AUTO

    def __post_init__(self):
        for name in ("stage", "task", "distribution", "mixed_precision"):
            errors.check_choice("TrainOptions", name, getattr(self, name),
                                self.__dataclass_fields__[name].metadata["choices"])
        for name in ("data_dir", "model_dir"):
            if not getattr(self, name):
                raise errors.OptionError(f"TrainOptions.{name} is required", field=name, reason="is required")
        errors.check_at_least("TrainOptions", "max_caption_length", self.max_caption_length, 1)
        errors.check_at_least("TrainOptions", "validation_decode_examples", self.validation_decode_examples, 0)


def complete_model_config(options: TrainOptions) -> ModelConfig:
    """Fills the sizes that come from the data (k, vocabulary, tags) into the ModelConfig."""
    info = input_pipeline.dataset_info(options.data_dir)
    task = tasks.get(options.task)
    num_concepts, vocab_size = task.sizes(info)
    if num_concepts == 0:
        raise errors.OptionError(
            f"{options.data_dir} has no {task.concepts_noun} for "
            f"--task={options.task}; convert a dataset that has them or change --task."
        )
    return dataclasses.replace(
        options.model, num_concepts=num_concepts, vocab_size=vocab_size, num_tags=info["num_tags"]
    )


def _settings_may_change(model_dir: str, own_stages: tuple[str, ...], retrain: bool) -> bool:
    """Whether the saved config and vocabularies bind nothing yet.

    They do once any stage has a checkpoint (other than the ones this run retrains from
    scratch) or another run is training a stage (it may not have saved yet).
    """
    for stage in stages.STAGES:
        if retrain and stage in own_stages:
            continue
        held_elsewhere = stage not in own_stages and locks.is_locked(model_dir_lib.stage_dir(model_dir, stage))
        if held_elsewhere or model_dir_lib.latest_checkpoint(model_dir, stage):
            return False
    return True


def _clear_stage_dir(stage_dir: str) -> None:
    """--retrain: deletes the stage's outputs but not its LOCK, which this run holds."""
    for name in os.listdir(stage_dir):
        if name != locks.LOCK_FILE:
            path = os.path.join(stage_dir, name)
            if os.path.isdir(path):
                tf.io.gfile.rmtree(path)
            else:
                os.unlink(path)


def pipeline_config(options: TrainOptions, stage: str, training: bool) -> input_pipeline.PipelineConfig:
    """The input pipeline's config of a stage, as training (and `bench/train_step.py`) use it."""
    return input_pipeline.PipelineConfig(
        task=options.task,
        batch_size=options.stage_settings[stage].batch_size,
        # The model's own view, as evaluation, prediction and serving take it (the pixel scaling
        # included: ModelConfig.preprocessing may override the backbone's).
        image_size=options.model.resolved_image_size,
        preprocessing=options.model.preprocessing_mode,
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


def _initializer(options: TrainOptions, model, stage: str):
    """A stage starts from its earlier stages' final weights (T6; `model_dir.HANDOVERS`)."""
    variant_stages = stages.stages_for_variant(model.config.variant, model.config.use_tags)
    if not stage_handovers.handovers_into(stage, variant_stages):
        return None
    return lambda: stage_handovers.initialize_stage(model, options.model_dir, stage, variant_stages)


def _decoded_validation(options: TrainOptions, model, stage: str, references: dict | None):
    """The stage's decoded validation: the first N validation images in the evaluation view."""
    count = options.validation_decode_examples
    config = dataclasses.replace(pipeline_config(options, stage, training=False), read_images=True,
                                 batch_size=min(options.stage_settings[stage].batch_size, max(count, 1)))
    trained = inference.TrainedModel(model, model.config, options.task,
                                     model_dir_lib.load_vocabularies(options.model_dir), checkpoints={})
    return decoded_validation.DecodedValidation(
        trained, stage, lambda: input_pipeline.make_dataset(options.data_dir, options.val_split, config).take(
            -(-count // config.batch_size)), count, references, options.best_checkpoint_metric)


def train(options: TrainOptions) -> dict:
    """Runs the requested stage(s); returns {stage: final history record}."""
    runtime.set_determinism(options.seed, options.deterministic)
    runtime.set_precision(options.mixed_precision)
    strategy = runtime.make_strategy(options.distribution)
    os.makedirs(options.model_dir, exist_ok=True)
    variant, use_tags = options.model.variant, options.model.use_tags
    requested = stages.stages_for_variant(variant, use_tags) if options.stage == "all" else (options.stage,)
    for stage in requested:
        stages.check_stage(stage, variant, use_tags)
    writer = chief.is_chief(strategy)
    with contextlib.ExitStack() as held:
        if writer:  # every stage this run trains, locked before anything is written
            for stage in requested:
                held.enter_context(locks.StageLock(model_dir_lib.stage_dir(options.model_dir, stage)))
        return _train_locked(options, strategy, requested, writer)


def _train_locked(options: TrainOptions, strategy, requested: tuple[str, ...], writer: bool) -> dict:
    """`train` once the stages are locked; `writer`: this process writes the model dir."""
    may_change = _settings_may_change(options.model_dir, requested, options.retrain)
    # Checked now, written only once the model is built: a run that fails before that (bad
    # --backbone_weights, wrong --data_dir) must not bind the dir to settings that never trained.
    model_dir_lib.bind_vocabularies(options.model_dir, options.data_dir, write=False, may_change=may_change)
    config = complete_model_config(options)
    config_dict = dict(config.to_dict(), task=options.task, mixed_precision=options.mixed_precision)
    config_changed = model_dir_lib.check_config(options.model_dir, config_dict, may_change)
    info = input_pipeline.dataset_info(options.data_dir)
    image_stages = [stage for stage in requested if stages.reads_images(stage)]
    if image_stages and not info["has_images"]:
        raise errors.OptionError(
            f"{options.data_dir} holds captions-only records (converted without --image_dir), but "
            f"--stage={options.stage} trains {', '.join(image_stages)}, which read images: train it with "
            "--stage=rnn, or convert again with --image_dir=IMAGES")
    has_val = bool(options.val_split) and info["num_examples"].get(options.val_split, 0) > 0
    with strategy.scope():
        model = builder.build_model(config)
    if writer:
        model_dir_lib.bind_vocabularies(options.model_dir, options.data_dir, may_change=may_change)
        if config_changed:
            model_dir_lib.save_config(options.model_dir, config_dict)
        model_dir_lib.save_summary(options.model_dir, model.summary())
    references = None
    if has_val and tasks.get(options.task).validation_needs_references and options.validation_decode_examples > 0:
        references = {r.image_id: list(r.captions) for r in references_lib.read_split(options.data_dir, options.val_split)}
    results = {}
    for stage in requested:
        settings = options.stage_settings[stage]
        stage_dir = model_dir_lib.stage_dir(options.model_dir, stage)
        if options.retrain and writer and os.path.isdir(stage_dir):
            _clear_stage_dir(stage_dir)

        def train_dataset(start_step, stage=stage):
            return input_pipeline.make_dataset(
                options.data_dir, "train", pipeline_config(options, stage, training=True),
                skip_examples=start_step * options.stage_settings[stage].batch_size,
            )

        def val_dataset(stage=stage):
            return input_pipeline.make_dataset(
                options.data_dir, options.val_split, pipeline_config(options, stage, training=False)
            )

        stage_trainer = trainer.StageTrainer(
            model, strategy, settings, stage_dir, train_dataset, val_dataset if has_val else None,
            _decoded_validation(options, model, stage, references) if has_val and writer else None,
        )
        results[stage] = stage_trainer.run(_initializer(options, model, stage))
    return results
