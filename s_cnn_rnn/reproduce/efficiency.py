"""The paper's efficiency claim in miniature: a validation score against training cost.

The paper (Sec. 5.1) says that after pretraining (the CNN on concepts; the LSTM on ground-truth
concepts, which reads no image) the full model's joint fine-tuning converges much faster than the
baselines trained end to end. Two views of every model dir:

- the whole run: its stages read in training order and laid end to end (a point of a later stage
  is offset by the earlier stages' totals);
- the final stage alone (joint for every decoder variant, cnn for CNN+logistic): its own steps and
  cost from its step 0, which scores what the earlier stages handed over (the trainer validates a
  fresh image stage at step 0 whenever it decodes validation images).

Costs, from each history record (`training/history.py` `StageClock`, validation left out):
- "cpu_seconds": the training process' CPU seconds, the one unit that charges every pass at its
  cost: a decoder step through a frozen CNN pays the CNN's forward pass, an image-free rnn step only
  its LSTM, a tags step only its MLP (not FLOPs: TF's graph profiler does not enter the LSTM's
  while loop, so it would count an rnn step as nearly free; `bench/profiler_flops.py`);
- "wall_seconds": what a user waits, shared cores included;
- image steps: the steps of the stages whose batches carry images (`Stage.reads_images`: cnn,
  decoder, joint, a frozen-CNN decoder step counting one whole step); tags and rnn count none.
  `IMAGE_STEP_RULE` states it beside every table.

"To 90%": the first point reaching 90% of the BEST score of that curve (the whole run's or the
final stage's), not of its last. The score: "val_CIDEr_pytok" (captions), "val_O-F1" (labels,
decoded sequences) or, for a model without a decoder (CNN+logistic), "val_concept_O-F1" (the
concept layer's top 3): `metric_for`. Plain Python and NumPy; matplotlib (Agg) is imported only
to draw. No TensorFlow.
"""

import dataclasses
import os

from s_cnn_rnn import atomic_files
from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn.models import variants
from s_cnn_rnn.reproduce import aggregate

WALL_SECONDS = model_dir_lib.WALL_SECONDS  # the stage clock's history keys
VALIDATION_WALL_SECONDS = model_dir_lib.VALIDATION_WALL_SECONDS
CPU_SECONDS = model_dir_lib.CPU_SECONDS
CAPTION_METRIC = "val_CIDEr_pytok"
LABEL_METRIC = "val_O-F1"
CONCEPT_METRIC = "val_concept_O-F1"
IMAGE_STEP_RULE = ("image steps: every step of a stage whose batches carry images (cnn, decoder, joint; a "
                   "decoder step through a frozen CNN counts one whole step), none of tags or rnn")


class EfficiencyError(ValueError):
    """A model dir's histories cannot be laid end to end (a stage missing, or written without a clock)."""


@dataclasses.dataclass(frozen=True)
class StageCurve:
    """The final stage's own points, from its step 0.

    Attributes:
      stage: its name ("joint"; "cnn" for CNN+logistic).
      steps: [P] the stage's step at each point.
      wall_seconds: [P] the stage's own training wall seconds.
      cpu_seconds: [P] the stage's own training CPU seconds; None entries: not recorded.
      values: [P] the metric.
    """

    stage: str
    steps: tuple
    wall_seconds: tuple
    cpu_seconds: tuple
    values: tuple


@dataclasses.dataclass(frozen=True)
class Curve:
    """One model dir's score against its cumulative cost, over its stages in training order.

    Attributes:
      model_dir: where it was read.
      metric: the history key of `values`.
      wall_seconds: [P] cumulative training wall seconds at each point.
      cpu_seconds: [P] cumulative training CPU seconds; None where a stage so far lacks them.
      image_steps: [P] cumulative image steps at each point.
      values: [P] the metric at each point.
      stages: {stage: {"wall_seconds", "validation_wall_seconds", "cpu_seconds" (None: unknown),
        "steps", "image_steps"}}, the stage's own totals (its newest record), in training order.
      final_stage: the last stage's own points (None without stages).
    """

    model_dir: str
    metric: str
    wall_seconds: tuple
    cpu_seconds: tuple
    image_steps: tuple
    values: tuple
    stages: dict
    final_stage: StageCurve | None = None

    @property
    def total_wall_seconds(self) -> float:
        """Every stage's training seconds, summed."""
        return sum(stage[WALL_SECONDS] for stage in self.stages.values())

    @property
    def total_cpu_seconds(self) -> float | None:
        """Every stage's training CPU seconds, summed; None when a stage was trained without counting them."""
        seconds = [stage[CPU_SECONDS] for stage in self.stages.values()]
        return None if any(value is None for value in seconds) else sum(seconds)

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


def _plus(offset, value):
    """offset + value, None when either is unknown."""
    return None if offset is None or value is None else offset + value


def read_curve(model_dir: str, metric: str) -> Curve:
    """The points of `model_dir` where its histories have `metric`, with cumulative costs.

    Raises:
      EfficiencyError: a stage's records carry no "wall_seconds" (written before training kept a
        clock), or a stage of the variant is missing before a later one.
      model_dir.HistoryError: a damaged history.jsonl.
    """
    wall, cpu, steps, values, totals = [], [], [], [], {}
    offset_wall, offset_cpu, offset_steps = 0.0, 0.0, 0
    final = None
    for stage in _stages(model_dir):
        path = model_dir_lib.history_path(model_dir, stage)
        records = model_dir_lib.read_history(path)
        if not records:
            continue
        if any(WALL_SECONDS not in record for record in records):
            raise EfficiencyError(f"{path} has records without {WALL_SECONDS!r} (written by an older s_cnn_rnn): "
                                  "retrain the stage (--retrain) to measure its cost.")
        image_stage = variants.STAGES[stage].reads_images
        own = [record for record in records if record.get(metric) is not None]
        for record in own:
            wall.append(offset_wall + record[WALL_SECONDS])
            cpu.append(_plus(offset_cpu, record.get(CPU_SECONDS)))
            steps.append(offset_steps + (record["step"] if image_stage else 0))
            values.append(float(record[metric]))
        final = StageCurve(stage, tuple(record["step"] for record in own),
                           tuple(record[WALL_SECONDS] for record in own),
                           tuple(record.get(CPU_SECONDS) for record in own),
                           tuple(float(record[metric]) for record in own))
        newest = max(records, key=lambda record: record["step"])
        totals[stage] = {WALL_SECONDS: newest[WALL_SECONDS],
                         VALIDATION_WALL_SECONDS: newest.get(VALIDATION_WALL_SECONDS) or 0.0,
                         CPU_SECONDS: newest.get(CPU_SECONDS),
                         "steps": newest["step"], "image_steps": newest["step"] if image_stage else 0}
        offset_wall += totals[stage][WALL_SECONDS]
        offset_cpu = _plus(offset_cpu, totals[stage][CPU_SECONDS])
        offset_steps += totals[stage]["image_steps"]
    return Curve(model_dir, metric, tuple(wall), tuple(cpu), tuple(steps), tuple(values), totals, final)


def metric_for(model_dir: str, task: str) -> str:
    """The score a model dir's curve follows: captions CIDEr; labels the decoded O-F1, or the concept
    layer's top-3 O-F1 for a model without a decoder (CNN+logistic)."""
    if task == "caption":
        return CAPTION_METRIC
    config = model_dir_lib.load_config(model_dir)
    return LABEL_METRIC if variants.get(config["variant"]).has_decoder else CONCEPT_METRIC


def first_reaching(values: tuple, fraction: float) -> int | None:
    """The index of the first value reaching `fraction` x the best (highest) value; None without values."""
    if not values:
        return None
    target = fraction * max(values)
    return next(index for index, value in enumerate(values) if value >= target)


def _at(costs: tuple, index: int | None):
    return None if index is None else costs[index]


def seed_numbers(curve: Curve, fraction: float = 0.9) -> dict:
    """One run's numbers (see `summary`); None where the curve has no point or the cost is unknown."""
    key = f"{round(fraction * 100)}"
    index = first_reaching(curve.values, fraction)
    final = curve.final_stage
    stage_index = first_reaching(final.values, fraction) if final else None
    return {"best": max(curve.values) if curve.values else None,
            "final": curve.values[-1] if curve.values else None,
            f"seconds_to_{key}": _at(curve.wall_seconds, index),
            f"cpu_seconds_to_{key}": _at(curve.cpu_seconds, index),
            f"image_steps_to_{key}": _at(curve.image_steps, index),
            "stage": final.stage if final else None,
            f"stage_steps_to_{key}": _at(final.steps, stage_index) if final else None,
            f"stage_seconds_to_{key}": _at(final.wall_seconds, stage_index) if final else None,
            f"stage_cpu_seconds_to_{key}": _at(final.cpu_seconds, stage_index) if final else None,
            "total_wall_seconds": curve.total_wall_seconds, "total_cpu_seconds": curve.total_cpu_seconds,
            "image_steps": curve.total_image_steps, "model_dir": curve.model_dir}


def summary(curves: dict, fraction: float = 0.9) -> dict:
    """One record per row for the table JSON and README, each number a mean over its seeds.

    Args:
      curves: {row name: [Curve per seed]}.
      fraction: of the best score (0.9: "..._to_90").

    Returns:
      {row: {"best", "final", "seconds_to_90", "cpu_seconds_to_90", "image_steps_to_90" (whole run),
      "stage" (the final stage's name), "stage_steps_to_90", "stage_seconds_to_90",
      "stage_cpu_seconds_to_90" (the final stage alone, from its step 0), "total_wall_seconds",
      "total_cpu_seconds", "image_steps", each with "<name>_std" (sample std over the seeds),
      "seeds" (how many curves), "image_step_rule", "per_seed": [{the numbers of one seed}]}}; a
      mean is None when a seed lacks the number (no points, or CPU seconds not recorded).
    """
    table = {}
    for row, seeds in curves.items():
        per_seed = [seed_numbers(curve, fraction) for curve in seeds]
        record = {}
        for name in (per_seed[0] if per_seed else {}):
            if name in ("stage", "model_dir"):
                continue
            numbers = [seed[name] for seed in per_seed]
            spread = aggregate.mean_std(numbers) if None not in numbers else {"mean": None, "std": None}
            record[name], record[f"{name}_std"] = spread["mean"], spread["std"]
        stages = {seed["stage"] for seed in per_seed}
        table[row] = dict(record, stage=stages.pop() if len(stages) == 1 else None, seeds=len(seeds),
                          image_step_rule=IMAGE_STEP_RULE, per_seed=per_seed)
    return table


def _panels(curve: Curve) -> tuple:
    """(x costs, values) per panel: run CPU seconds, run image steps, final-stage steps, final-stage CPU
    seconds; a panel whose costs are unknown (CPU seconds not recorded) gets no line."""
    final = curve.final_stage or StageCurve("", (), (), (), ())
    pairs = ((curve.cpu_seconds, curve.values), (curve.image_steps, curve.values),
             (final.steps, final.values), (final.cpu_seconds, final.values))
    return tuple((costs, values) if None not in costs else ((), ()) for costs, values in pairs)


PANEL_TITLES = ("training CPU seconds, whole run (validation excluded)",
                "image steps, whole run (tags and rnn steps count none)",
                "final stage's own steps (joint; CNN+logistic: cnn), from its step 0",
                "final stage's own training CPU seconds, from its step 0")


def write_figure(curves: dict, path: str, metric_title: str, fraction: float = 0.9) -> str:
    """ONE PNG, four panels: the score against the whole run's cumulative CPU seconds and image
    steps (top), and against the final stage's own steps and CPU seconds from its step 0 (bottom:
    Ours' joint fine-tuning beside the baselines' joint stage).

    One colour per row, one thin line per seed; a cross marks where each seed first reaches
    `fraction` of that curve's best score. Written atomically.

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

    figure, grid = pyplot.subplots(2, 2, figsize=(11, 8))
    axes = grid.flatten()
    colours = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (row, seeds) in enumerate(curves.items()):
        colour = colours[index % len(colours)]
        drawn = [curve for curve in seeds if curve.values]
        label = row if drawn else f"{row} (no {seeds[0].metric if seeds else 'points'})"
        for axis in axes:
            axis.plot([], [], color=colour, label=label)  # one legend entry per row and panel
        for curve in drawn:
            for axis, (costs, values) in zip(axes, _panels(curve)):
                if not values:
                    continue
                crossing = first_reaching(values, fraction)
                axis.plot(costs, values, "o-", color=colour, linewidth=1, markersize=2.5, alpha=0.8)
                axis.plot([costs[crossing]], [values[crossing]], "x", color=colour, markersize=8)
    for axis, title in zip(axes, PANEL_TITLES):
        axis.set_xlabel(title, fontsize=9)
        axis.set_ylabel(metric_title)
        axis.set_xlim(left=0)  # the cost before a curve's first point shows as its offset
        axis.grid(alpha=0.3)
    if curves:  # no row at all (every one skipped): no legend, rather than matplotlib's warning of an empty one
        axes[0].legend(fontsize=8)
        axes[2].legend(fontsize=8)
    figure.suptitle(f"{metric_title} against training cost; x: first reaching {fraction:.0%} of the curve's best "
                    "score", fontsize=10)
    figure.tight_layout()
    try:
        with atomic_files.replacing(path) as temporary:
            figure.savefig(temporary, dpi=90, format="png")
    finally:
        pyplot.close(figure)
    return path
