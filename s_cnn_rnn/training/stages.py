"""What each training stage optimises; which stages a variant runs is its record (`models/variants.py`).

| stage | inputs                      | loss           | trains                          | paper |
|-------|-----------------------------|----------------|---------------------------------|-------|
| cnn   | images (+ tags)             | L_u            | concept head first, then all    | T4    |
| rnn   | ground-truth concepts s     | L_r            | bridge + decoder                | T5    |
| joint | images (+ tags)             | L_u + L_r      | everything (CNN frozen for Fix) | T3 T6 |

Variants without a concept interface (NIC-F, RIA) have no L_u, so no cnn stage, and their
decoder reads CNN features, so no rnn stage from ground-truth concepts either: they train
end to end in the joint stage on L_r alone, from the ImageNet (or given) backbone.
NIC-deeply has L_u (cnn stage) but its decoder reads features (no rnn stage).
CNN+logistic is the stage-1 CNN alone. (Each variant's `stages` field says so.)
"""

from s_cnn_rnn import errors
from s_cnn_rnn.models import variants
from s_cnn_rnn.training import losses

STAGES = variants.STAGE_ORDER


def stages_for_variant(variant: str) -> tuple[str, ...]:
    """The stages `--stage=all` runs for a variant, in order."""
    return variants.get(variant).stages


def check_stage(stage: str, variant: str) -> None:
    """Raises a clear error when a variant has no such stage."""
    record = variants.get(variant)
    if stage not in record.stages:
        reasons = variants.stage_problems(variants.STAGES[stage], record) if stage in variants.STAGES else []
        raise errors.OptionError(
            f"variant {variant!r} has no {stage!r} stage (it runs {', '.join(record.stages)})"
            + (f": {'; '.join(reasons)}" if reasons else "") + "; see s_cnn_rnn/models/variants.py"
        )


def reads_images(stage: str) -> bool:
    """Stage 2 trains on ground-truth concepts and never decodes an image."""
    return variants.STAGES[stage].reads_images


def per_example_losses(stage: str, model, batch: dict, training: bool) -> dict:
    """The stage's loss terms, one value per example.

    Args:
      stage: "cnn", "rnn" or "joint".
      model: an `SCnnRnnModel`.
      batch: an input-pipeline batch (see BUILD_NOTES.md).
      training: dropout / batch-norm mode.

    Returns:
      {"L_u": float32 [batch]} and/or {"L_r": float32 [batch]}.
    """
    config = model.config
    if stage == "rnn":
        logits = model.relational_model_logits(batch["concepts"], batch["input_ids"], training=training)
        return {"L_r": losses.sequence_loss(batch["target_ids"], batch["target_mask"], logits)}
    tags = batch.get("tags") if config.use_tags else None
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
      stage: "cnn", "rnn" or "joint".
      model: an `SCnnRnnModel`.
      head_only: cnn stage, first phase (T4): only the concept prediction layer (and the
        tag MLP) learn, the backbone keeps its initial weights.
    """
    if stage == "cnn":
        if head_only:
            return model.concept_cnn.head_variables()
        return list(model.concept_cnn.trainable_variables)
    if stage == "rnn":
        return list(model.decoder.trainable_variables)
    return list(model.trainable_variables)
