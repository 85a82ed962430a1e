"""The paper's efficiency claim in miniature: a validation score against training cost.

The paper says semantic regularisation makes training converge faster (2 days on one Titan X
against more than 20 for one NIC ensemble member). Here every model dir's stages are read in
training order and laid end to end: a point of a later stage is offset by the earlier stages'
final wall seconds and image steps. Two costs, two x axes:

- wall seconds: each history record's "wall_seconds" (`training/history.py` `StageClock`: the
  stage's training cost, tracing included, validation left out, summed over resumed processes);
- image steps: the steps of the stages that decode images (`Stage.reads_images`); the tags and
  rnn stages read none, so they add seconds but no image steps.

The score: "val_CIDEr_pytok" (captions), "val_O-F1" (labels, decoded sequences) or, for a model
without a decoder (CNN+logistic), "val_concept_O-F1" (the concept layer's top 3): `metric_for`.
A fresh stage that decodes images is also scored at step 0 (what the earlier stages handed
over), so Ours' caption curve starts where its joint stage starts. Plain Python and NumPy;
matplotlib (Agg) is imported only to draw. No TensorFlow.
"""

import dataclasses
import os

from s_cnn_rnn import atomic_files
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn.models import variants
from s_cnn_rnn.reproduce import aggregate

WALL_SECONDS = model_dir_lib.WALL_SECONDS  # the stage clock's history keys
VALIDATION_WALL_SECONDS = model_dir_lib.VALIDATION_WALL_SECONDS
CAPTION_METRIC = "val_CIDEr_pytok"
LABEL_METRIC = "val_O-F1"
CONCEPT_METRIC = "val_concept_O-F1"


class EfficiencyError(ValueError):
    """A model dir's histories cannot be laid end to end (a stage missing, or written without a clock)."""


@dataclasses.dataclass(frozen=True)
class Curve:
    """One model dir's score against its cumulative cost, over its stages in training order.

    Attributes:
      model_dir: where it was read.
      metric: the history key of `values`.
      wall_seconds: [P] cumulative training wall seconds at each point.
      image_steps: [P] cumulative image steps at each point.
      values: [P] the metric at each point.
      stages: {stage: {"wall_seconds", "validation_wall_seconds", "steps", "image_steps"}}, the
        stage's own totals (its newest record), in training order.
    """

    model_dir: str
    metric: str
    wall_seconds: tuple
    image_steps: tuple
    values: tuple
    stages: dict

    @property
    def total_wall_seconds(self) -> float:
        """Every stage's training seconds, summed."""
        return sum(stage[WALL_SECONDS] for stage in self.stages.values())

    @property
    def total_image_steps(self) -> int:
        """Every image-reading stage's steps, summed."""
        return sum(stage["image_steps"] for stage in self.stages.values())


def _stages(model_dir: str) -> list:
    """The model dir's stages that have a history, in training order; EfficiencyError when one the
    variant runs is missing before a later one (the offsets would leave its cost out)."""
    present = [stage for stage in variants.STAGE_ORDER if os.path.exists(model_dir_lib.history_path(model_dir, stage))]
    if os.path.exists(os.path.join(model_dir, model_dir_lib.CONFIG_FILE)):
        config = model_dir_lib.load_config(model_dir)
        expected = variants.stages_to_run(config["variant"], bool(config.get("use_tags")))
        present = [stage for stage in present if stage in expected]
        missing = [stage for stage in expected[:expected.index(present[-1])] if stage not in present] if present else []
        if missing:
            raise EfficiencyError(
                f"{model_dir}: stage(s) {', '.join(missing)} have no history.jsonl but {present[-1]} has one, so its "
                "cost would be left out: train the whole variant with --stage=all into a fresh --model_dir.")
    return present


def read_curve(model_dir: str, metric: str) -> Curve:
    """The points of `model_dir` where its histories have `metric`, with cumulative costs.

    Raises:
      EfficiencyError: a stage's records carry no "wall_seconds" (written before training kept a
        clock), or a stage of the variant is missing before a later one.
      model_dir.HistoryError: a damaged history.jsonl.
    """
    wall, steps, values, totals = [], [], [], {}
    offset_wall, offset_steps = 0.0, 0
    for stage in _stages(model_dir):
        path = model_dir_lib.history_path(model_dir, stage)
        records = model_dir_lib.read_history(path)
        if not records:
            continue
        if any(WALL_SECONDS not in record for record in records):
            raise EfficiencyError(f"{path} has records without {WALL_SECONDS!r} (written by an older s_cnn_rnn): "
                                  "retrain the stage (--retrain) to measure its cost.")
        image_stage = variants.STAGES[stage].reads_images
        for record in records:
            value = record.get(metric)
            if value is not None:
                wall.append(offset_wall + record[WALL_SECONDS])
                steps.append(offset_steps + (record["step"] if image_stage else 0))
                values.append(float(value))
        newest = max(records, key=lambda record: record["step"])
        totals[stage] = {WALL_SECONDS: newest[WALL_SECONDS],
                         VALIDATION_WALL_SECONDS: newest.get(VALIDATION_WALL_SECONDS) or 0.0,
                         "steps": newest["step"], "image_steps": newest["step"] if image_stage else 0}
        offset_wall += totals[stage][WALL_SECONDS]
        offset_steps += totals[stage]["image_steps"]
    return Curve(model_dir, metric, tuple(wall), tuple(steps), tuple(values), totals)


def metric_for(model_dir: str, task: str) -> str:
    """The score a model dir's curve follows: captions CIDEr; labels the decoded O-F1, or the concept
    layer's top-3 O-F1 for a model without a decoder (CNN+logistic)."""
    if task == "caption":
        return CAPTION_METRIC
    config = model_dir_lib.load_config(model_dir)
    return LABEL_METRIC if variants.get(config["variant"]).has_decoder else CONCEPT_METRIC


def _first_reaching(curve: Curve, fraction: float) -> int | None:
    """The index of the first point whose value reaches `fraction` x the final value (a score: higher
    is better); None without points."""
    if not curve.values:
        return None
    target = fraction * curve.values[-1]
    return next(index for index, value in enumerate(curve.values) if value >= target)


def seconds_to_fraction(curve: Curve, fraction: float = 0.9) -> float | None:
    """The first cumulative wall second at which the score reaches `fraction` x its final value."""
    index = _first_reaching(curve, fraction)
    return None if index is None else curve.wall_seconds[index]


def image_steps_to_fraction(curve: Curve, fraction: float = 0.9) -> int | None:
    """The first cumulative image step at which the score reaches `fraction` x its final value."""
    index = _first_reaching(curve, fraction)
    return None if index is None else curve.image_steps[index]


def summary(curves: dict, fraction: float = 0.9) -> dict:
    """One record per row for the table JSON and README, each number a mean over its seeds.

    Args:
      curves: {row name: [Curve per seed]}.
      fraction: of the final score (0.9: "seconds_to_90").

    Returns:
      {row: {"seconds_to_90", "image_steps_to_90", "final", "total_wall_seconds", "image_steps",
      "seeds" (how many curves), "per_seed": [{the same numbers of one seed}]}}; a mean is None when
      no seed has the number (no points), "seconds_to_90_std" the sample std over the seeds.
    """
    key = f"{round(fraction * 100)}"
    table = {}
    for row, seeds in curves.items():
        per_seed = [{f"seconds_to_{key}": seconds_to_fraction(curve, fraction),
                     f"image_steps_to_{key}": image_steps_to_fraction(curve, fraction),
                     "final": curve.values[-1] if curve.values else None,
                     "total_wall_seconds": curve.total_wall_seconds, "image_steps": curve.total_image_steps,
                     "model_dir": curve.model_dir} for curve in seeds]
        record = {name: aggregate.mean_std([seed[name] for seed in per_seed])["mean"]
                  for name in (f"seconds_to_{key}", f"image_steps_to_{key}", "final", "total_wall_seconds",
                               "image_steps")}
        record[f"seconds_to_{key}_std"] = aggregate.mean_std([seed[f"seconds_to_{key}"] for seed in per_seed])["std"]
        table[row] = dict(record, seeds=len(seeds), per_seed=per_seed)
    return table


def write_figure(curves: dict, path: str, metric_title: str, fraction: float = 0.9) -> str:
    """ONE PNG, two panels: the score against cumulative wall seconds and against image steps.

    One colour per row, one thin line per seed; a cross marks where each seed first reaches
    `fraction` of its final score. Written atomically.

    Args:
      curves: {row name: [Curve per seed]}.
      path: the PNG.
      metric_title: the y axis' name, e.g. "validation CIDEr".

    Returns:
      path.
    """
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel

    figure, axes = pyplot.subplots(1, 2, figsize=(11, 4.2))
    colours = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (row, seeds) in enumerate(curves.items()):
        colour = colours[index % len(colours)]
        drawn = [curve for curve in seeds if curve.values]
        label = row if drawn else f"{row} (no {seeds[0].metric if seeds else 'points'})"
        axes[0].plot([], [], color=colour, label=label)  # one legend entry per row
        for curve in drawn:
            crossing = _first_reaching(curve, fraction)
            for axis, costs in ((axes[0], curve.wall_seconds), (axes[1], curve.image_steps)):
                axis.plot(costs, curve.values, "o-", color=colour, linewidth=1, markersize=2.5, alpha=0.8)
                axis.plot([costs[crossing]], [curve.values[crossing]], "x", color=colour, markersize=8)
    for axis, title in ((axes[0], "training wall-clock seconds (validation excluded)"),
                        (axes[1], "image steps (the tags and rnn stages read no image)")):
        axis.set_xlabel(title)
        axis.set_ylabel(metric_title)
        axis.set_xlim(left=0)  # the cost before a curve's first point shows as its offset
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(f"{metric_title} against training cost; x: first reaching {fraction:.0%} of the final score",
                    fontsize=10)
    figure.tight_layout()
    try:
        with atomic_files.replacing(path) as temporary:
            figure.savefig(temporary, dpi=90, format="png")
    finally:
        pyplot.close(figure)
    return path
