"""Stage hand-overs: which earlier stage's checkpoint initialises which part of a later stage (T6),
and restoring a whole trained model from a model dir (the final checkpoint, else each part from the
stage that would hand it on). The table is read from the stage records (`models/variants.py`,
`Stage.starts_from`); paths and checkpoint selection are `model_dir`'s.
"""

import dataclasses

from absl import logging

from s_cnn_rnn.model_dir import FINAL_STAGE, checkpoint_path, check_checkpoint_choice, latest_checkpoint
from s_cnn_rnn.model_dir import restore_checkpoint, stage_dir
from s_cnn_rnn.models import variants


@dataclasses.dataclass(frozen=True)
class Handover:
    """One part of the model that a stage's checkpoint hands to a later stage (T6).

    Attributes:
      source: the stage whose newest checkpoint holds the part.
      target: the stage that starts from it (and, for `FINAL_STAGE`, the stage whose
        absence makes the part come from `source` when a model is restored).
      part: the part's name in messages ("CNN", "decoder").
      items: the part's key in `_PARTS` ("cnn", "decoder", "tag_mlp"): `part_items` gives its
        `tf.train.Checkpoint` items.
    """

    source: str
    target: str
    part: str
    items: str


# A part of the model (`variants.Stage.starts_from`'s names) -> (its name in messages, the
# `tf.train.Checkpoint` items that restore only it from a stage checkpoint; `models/layout.py`
# fixes their names). The tag MLP sits under concept_cnn, as in a whole-model checkpoint.
_PARTS = {
    "cnn": ("CNN", lambda model: model.cnn_checkpoint_items()),
    "decoder": ("decoder", lambda model: model.decoder_checkpoint_items()),
    "tag_mlp": ("tag MLP", lambda model: {"concept_cnn": items} if (items := model.tag_mlp_checkpoint_items()) else {}),
}
# Which stage's checkpoint initialises which part of which later stage, read from the stage records
# (`models/variants.py`, `Stage.starts_from`): a new pretraining stage is one record there.
HANDOVERS = tuple(
    Handover(source=source, target=stage.name, part=_PARTS[part][0], items=part)
    for stage in variants.STAGES.values() for source, part in stage.starts_from
)


def part_items(model, part: str) -> dict:
    """The checkpoint items of one part of `model` ("cnn", "decoder", "tag_mlp")."""
    return _PARTS[part][1](model)


def _merged(first: dict, second: dict) -> dict:
    """Checkpoint item dicts merged key by key (nested dicts merged too)."""
    merged = dict(first)
    for key, value in second.items():
        merged[key] = _merged(merged[key], value) if isinstance(merged.get(key), dict) and isinstance(value, dict) \
            else value
    return merged


def saved_items(model, stage: str) -> dict:
    """What a stage's own checkpoint holds: the parts it hands to later stages (`HANDOVERS`); the
    final stage, and a stage that hands nothing on, the whole model.

    A stage that left a part untouched would otherwise save it again: every rnn and tags checkpoint
    held the random backbone (VGG16 made each rnn checkpoint of an 83-word decoder 552 MB).
    A resumed stage restores what it saved, which is everything it trains.
    """
    parts = sorted({row.items for row in HANDOVERS if row.source == stage}) if stage != FINAL_STAGE else []
    items = {}
    for part in parts:
        items = _merged(items, part_items(model, part))
    return items or model.checkpoint_items()


def handovers_into(stage: str, variant_stages: tuple[str, ...]) -> tuple[Handover, ...]:
    """The rows of `HANDOVERS` that initialise `stage` from stages the variant runs."""
    return tuple(row for row in HANDOVERS if row.target == stage and row.source in variant_stages)


def initialize_stage(model, model_dir: str, stage: str, variant_stages: tuple[str, ...]) -> dict:
    """Starts a stage from its earlier stages' newest weights (the joint stage: T6).

    Args:
      model: the `SCnnRnnModel` about to train `stage`.
      model_dir: the model directory.
      stage: the stage about to train.
      variant_stages: the stages of the model's variant (`Variant.stages`).

    Returns:
      {source stage: checkpoint path restored}; empty for a stage that starts from scratch.

    Raises:
      FileNotFoundError: a source stage has no checkpoint yet (naming the --stage to run).
    """
    restored = {}
    for row in handovers_into(stage, variant_stages):
        path = latest_checkpoint(model_dir, row.source)
        if path is None:
            raise FileNotFoundError(
                f"the {stage} stage starts from the {row.source} stage, but {stage_dir(model_dir, row.source)} "
                f"has no checkpoint: run --stage={row.source} (or --stage=all) first."
            )
        restore_checkpoint(part_items(model, row.items), path)
        logging.info("%s stage initialised from %s", stage, path)
        restored[row.source] = path
    return restored


def restore_model(model, model_dir: str, variant_stages: tuple[str, ...], which: str = "latest") -> dict:
    """Restores a model's complete weights from a model dir.

    The final (joint) checkpoint when there is one; otherwise each part of the model from the
    stage that would hand it to the final stage (a model pretrained but not fine-tuned).

    Args:
      model: a freshly built `SCnnRnnModel` of the model dir's config.
      model_dir: the model directory.
      variant_stages: the stages of the model's variant.
      which: which checkpoint of each stage, see `checkpoint_path`.

    Returns:
      {"all" | source stage: checkpoint path restored}.

    Raises:
      FileNotFoundError: no (such) checkpoint for a part of the model.
      ValueError: `which` is none of best, latest or a step number.
    """
    which = check_checkpoint_choice(which)
    final = checkpoint_path(model_dir, FINAL_STAGE, which)
    if final is None and which.isdigit() and latest_checkpoint(model_dir, FINAL_STAGE):
        raise FileNotFoundError(
            f"{stage_dir(model_dir, FINAL_STAGE)} has no checkpoint of step {which} (--checkpoint): pass best, "
            f"latest or a step it kept ({stage_dir(model_dir, FINAL_STAGE)}/*/ckpt-*)")
    if final:
        restore_checkpoint(model.checkpoint_items(), final)
        return {"all": final}
    restored = {}
    rows = [row for row in HANDOVERS if row.target == FINAL_STAGE and part_items(model, row.items)]
    for part in dict.fromkeys(row.part for row in rows):
        sources = [row for row in rows if row.part == part]
        found = [(row, path) for row in sources if row.source in variant_stages
                 for path in (checkpoint_path(model_dir, row.source, which),) if path]
        if not found:
            looked = " and ".join(f"{directory}/" for directory in
                                  [row.source for row in sources if row.source in variant_stages] + [FINAL_STAGE])
            raise FileNotFoundError(
                f"{model_dir} has no {'' if which in ('best', 'latest') else f'step-{which} '}checkpoint for the "
                f"{part} (looked in {looked}): train it with s-cnn-rnn-train --stage=all first"
                + ("." if which in ("best", "latest") else ", or pass --checkpoint=best|latest.")
            )
        # The last of the variant's stages that trains the part holds its newest weights.
        row, path = max(found, key=lambda pair: variant_stages.index(pair[0].source))
        restore_checkpoint(part_items(model, row.items), path)
        restored[row.source] = path
    return restored
