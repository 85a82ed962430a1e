"""What each training stage optimises; which stages a variant runs is its record (`models/variants.py`).

| stage   | inputs                      | loss           | trains                                   | paper   |
|---------|-----------------------------|----------------|------------------------------------------|---------|
| tags    | tags only (no image)        | L_u of the MLP | the tag MLP                              | M8      |
| cnn     | images (+ tags)             | L_u            | concept head first, then all             | T4      |
| rnn     | ground-truth concepts s     | L_r            | bridge + decoder                         | T5      |
| decoder | images -> frozen CNN        | L_r            | bridge + decoder (CNN in inference mode) | V3 V4 V6 |
| joint   | images (+ tags)             | L_u + L_r      | everything (backbone frozen for Fix)     | T3 T6   |

Variants without a concept interface (NIC-F, RIA) have no L_u, so no cnn stage, and their
decoder reads CNN features, so no rnn stage from ground-truth concepts either: as im2txt's
first phase, their decoder first learns on the frozen pretrained CNN's features (decoder
stage), then everything is fine-tuned (joint). NIC-deeply has L_u (cnn stage) and then the
same decoder stage. CNN+logistic is the stage-1 CNN alone. The tags stage pretrains the tag
MLP of a `use_tags` model (Sec. 4.1). (Each variant's `stages` field says so.)
"""

import contextlib

import tensorflow as tf

from s_cnn_rnn import errors
from s_cnn_rnn.models import variants
from s_cnn_rnn.training import losses

STAGES = variants.STAGE_ORDER


def stages_for_variant(variant: str, use_tags: bool = False) -> tuple[str, ...]:
    """The stages `--stage=all` runs for a variant (with or without tags), in order."""
    return variants.stages_to_run(variant, use_tags)


def check_stage(stage: str, variant: str, use_tags: bool = False) -> None:
    """Raises a clear error when a variant (with or without tags) has no such stage."""
    record = variants.get(variant)
    runs = stages_for_variant(variant, use_tags)
    if stage not in runs:
        reasons = variants.stage_problems(variants.STAGES[stage], record) if stage in variants.STAGES else []
        if stage in record.stages:
            reasons = reasons or ["it pretrains the tag MLP, which only a --use_tags model has"]
        raise errors.OptionError(
            f"variant {variant!r} has no {stage!r} stage (it runs {', '.join(runs)})"
            + (f": {'; '.join(reasons)}" if reasons else "") + "; see s_cnn_rnn/models/variants.py"
        )


def reads_images(stage: str) -> bool:
    """Stage 2 trains on ground-truth concepts and never decodes an image."""
    return variants.STAGES[stage].reads_images


def per_example_losses(stage: str, model, batch: dict, training: bool) -> dict:
    """The stage's loss terms, one value per example.

    Args:
      stage: one of `STAGES`.
      model: an `SCnnRnnModel`.
      batch: an input-pipeline batch (see BUILD_NOTES.md).
      training: dropout / batch-norm mode (the decoder stage's CNN always runs in inference mode).

    Returns:
      {"L_u": float32 [batch]} and/or {"L_r": float32 [batch]}.
    """
    config = model.config
    if stage == "rnn":
        logits = model.relational_model_logits(batch["concepts"], batch["input_ids"], training=training)
        return {"L_r": losses.sequence_loss(batch["target_ids"], batch["target_mask"], logits)}
    if stage == "tags":  # M8: the tag MLP alone predicts the true labels from the tags [B, num_tags]
        logits = model.concept_cnn.tag_mlp(batch["tags"], training=training)
        return {"L_u": losses.concept_loss(batch["concepts"], logits)}
    tags = batch.get("tags") if config.use_tags else None
    if stage == "decoder":  # the frozen CNN's features [B, F] feed the decoder, which alone learns
        embedding = tf.stop_gradient(model.image_embedding(batch["image"], tags, training=False))
        logits = model.teacher_forcing_model([embedding, batch["input_ids"]], training=training)
        return {"L_r": losses.sequence_loss(batch["target_ids"], batch["target_mask"], logits)}
    if stage == "cnn":
        outputs = model.unary(batch["image"], tags, training=training)
        return {"L_u": losses.concept_loss(batch["concepts"], outputs["concept_logits"])}
    outputs = model(batch, training=training)
    terms = {"L_r": losses.sequence_loss(batch["target_ids"], batch["target_mask"], outputs["sequence_logits"])}
    if config.has_concept_loss:
        terms["L_u"] = losses.concept_loss(batch["concepts"], outputs["concept_logits"])
    return terms


def trainable_variables(stage: str, model, head_only: bool) -> list:
    """The variables a stage updates.

    Args:
      stage: one of `STAGES`.
      model: an `SCnnRnnModel`.
      head_only: cnn stage, first phase (T4): only the concept prediction layer (and the
        tag MLP) learn, the backbone keeps its initial weights.
    """
    if stage == "tags":
        return model.concept_cnn.tag_mlp.trainable_variables
    if stage == "cnn":
        if head_only:
            return model.concept_cnn.head_variables()
        return list(model.concept_cnn.trainable_variables)
    if stage in ("rnn", "decoder"):
        return list(model.decoder.trainable_variables)
    return list(model.trainable_variables)


@contextlib.contextmanager
def backbone_in_inference_mode(model):
    """While the head-only phase's step runs (and is traced): the backbone is not trainable, so its
    BatchNorm layers use and keep their moving statistics (Keras semantics), as its weights are held.
    """
    backbone = model.concept_cnn.backbone
    was_trainable = backbone.trainable
    backbone.trainable = False
    try:
        yield
    finally:
        backbone.trainable = was_trainable
