"""Runs a table's trainings and evaluations, side by side when asked: the learning-rate grid first
(every row at every factor at the selection seed, scored on validation), then every seed at the chosen factor.

Each job is one (row, seed[, factor]) in its own model dir (`runner.plan_run`); a job already done is
skipped, so a rerun resumes. No TensorFlow in this process: every job is a subprocess.
"""

import concurrent.futures
import dataclasses
import functools
import json
import os

from s_cnn_rnn import atomic_files
from s_cnn_rnn.reproduce import pretrained_backbone
from s_cnn_rnn.reproduce import protocol
from s_cnn_rnn.reproduce import render
from s_cnn_rnn.reproduce import runner


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every run of one `s-cnn-rnn-reproduce` call shares.

    Attributes:
      flags_dir, data_dir, output_dir: the flagfiles, the converted data, where runs go.
      task: the table's task ("caption" or "multilabel").
      seeds: the training (test) seeds.
      split: the split every chosen run is evaluated on.
      scale: --step_scale of every training.
      extra_flags: training flags for every row (after its flagfile).
      eval_max_images: evaluate only the split's first this many images (None: all).
      budget: the fair protocol's `protocol.Budget`; None: the flagfiles' own step counts.
      lr_grid: learning-rate factors to pick from on validation; () trains the flagfiles' rates.
      parallel: jobs at a time.
      pretrained_backbone: the `.weights.h5` every row's backbone starts from (`pretrained_backbone`);
        None: each row's flagfile's --backbone_weights.
      selection_seed: the seed the lr grid trains at, never a test seed (the fair protocol); None: the
        first of `seeds` (the flagfiles protocol).
    """

    flags_dir: str
    data_dir: str
    output_dir: str
    task: str
    seeds: tuple
    split: str = "test"
    scale: float = 1.0
    extra_flags: tuple = ()
    eval_max_images: int | None = None
    budget: protocol.Budget | None = None
    lr_grid: tuple = ()
    parallel: int = 1
    pretrained_backbone: str | None = None
    selection_seed: int | None = None

    def __post_init__(self):
        if self.selection_seed is not None and self.selection_seed in self.seeds:
            # A seed that picked the learning rate would score the table on its own selection run.
            raise ValueError(f"--seeds={','.join(map(str, self.seeds))} contains the selection seed "
                             f"{self.selection_seed}: leave it out of --seeds or pass another --selection_seed")

    @property
    def grid_seed(self) -> int:
        """The seed every run of the lr grid trains at."""
        return self.seeds[0] if self.selection_seed is None else self.selection_seed

    @property
    def threads(self) -> int | None:
        """TensorFlow threads per job: the cores shared out when jobs run side by side."""
        return max(1, (os.cpu_count() or 1) // self.parallel) if self.parallel > 1 else None


@functools.lru_cache(maxsize=None)
def _has_head_phase(flags_dir: str, flagfile: str) -> bool:
    """Whether a row's flagfile (its includes read) gives stage 1 a head-only phase; read once per row."""
    own_flagfile = [f"--flagfile={os.path.join(flags_dir, flagfile)}"]
    return int(runner.flag_value(flags_dir, own_flagfile, "cnn_head_steps") or 0) > 0


def plan(row, seed: int, settings: Settings, factor: float | None) -> runner.RowRun:
    """The commands of (row, seed) at learning-rate factor `factor` (None: no grid)."""
    budget_flags = ()
    if settings.budget:
        head_phase = _has_head_phase(settings.flags_dir, row.flagfile)
        budget_flags = protocol.step_flags(row.stages, settings.budget, head_phase) + protocol.RUN_FLAGS
    budget_flags += pretrained_backbone.row_flags(settings.pretrained_backbone)
    return runner.plan_run(row, seed, flags_dir=settings.flags_dir, data_dir=settings.data_dir,
                           output_dir=settings.output_dir, split=settings.split, scale=settings.scale,
                           extra_flags=list(settings.extra_flags), eval_max_images=settings.eval_max_images,
                           protocol_flags=budget_flags, lr_factor=factor)


def run_all(jobs: list, parallel: int) -> list:
    """Calls every job (a no-argument function), `parallel` at a time; returns their results in order.

    Raises:
      runner.RunError: the first failure, after the jobs already running have ended (none is
      started after it).
    """
    if parallel <= 1:
        return [job() for job in jobs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(job) for job in jobs]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _one_per_run(rows: tuple) -> tuple:
    """The rows that train: the first of the rows that read the same models (`tables.ROW_READINGS`)."""
    first = {}
    for row in rows:
        first.setdefault(row.run_key, row)
    return tuple(first.values())


def _selection_path(settings: Settings, row) -> str:
    return os.path.join(settings.output_dir, row.run_key, protocol.SELECTION_FILE)


def select_learning_rates(rows: tuple, settings: Settings, log) -> dict:
    """Trains every row at every factor of the grid at `settings.grid_seed` and picks each row's on validation.

    Returns:
      {row key: chosen factor}, all None without a grid. Each row's scores go to
      OUTPUT_DIR/<row>/lr_selection.json once all its grid runs are trained; a rerun keeps that choice.
      A run whose loss diverged (non-finite) scores null there and is never chosen.

    Raises:
      runner.RunError: a training that failed otherwise; ValueError: a run that recorded no validation
      score, or a row whose every factor diverged.
    """
    if not settings.lr_grid:
        return {row.key: None for row in rows}
    seed = settings.grid_seed
    runs = {(row.key, factor): plan(row, seed, settings, factor) for row in rows for factor in settings.lr_grid}

    def job(row, factor):
        run = runs[(row.key, factor)]
        label = f"row {row.name} lr x{factor:g} seed {seed}"
        earlier = "trained" if runner.is_trained(run) else "diverged" if runner.diverged(run) else None
        if earlier:  # (the command checked every run's settings before any work)
            log(f"{label}: {earlier} earlier ({run.model_dir}), skipped")
            return
        log(f"{label}: training in {run.model_dir}")
        try:
            log(f"{label}: trained in {runner.train(run, settings.flags_dir, settings.threads):.0f} s")
        except runner.RunError:
            if not runner.diverged(run):
                raise
            log(f"{label}: the loss diverged (see {run.model_dir}/{runner.TRAIN_LOG}); this factor is out of the choice")

    run_all([lambda row=row, factor=factor: job(row, factor)
             for row in _one_per_run(rows) for factor in settings.lr_grid], settings.parallel)
    chosen = {}
    for row in rows:
        earlier = read_selection(settings, row)
        if (earlier is not None and earlier.get("seed") == seed
                and set(earlier["scores"]) == {f"{factor:g}" for factor in settings.lr_grid}):
            chosen[row.key] = earlier["chosen"]  # picked once: resuming a run never changes a choice
            continue
        metric = protocol.selection_metric(settings.task, row.stages)
        scores = {factor: None if runner.diverged(runs[(row.key, factor)]) else  # never picked
                  protocol.validation_score(runs[(row.key, factor)].model_dir, row.stages[-1], metric)
                  for factor in settings.lr_grid}
        chosen[row.key] = protocol.pick(scores)
        atomic_files.write_json(_selection_path(settings, row), {
            "metric": metric, "split": "validation", "seed": seed, "chosen": chosen[row.key],
            "scores": {f"{factor:g}": score for factor, score in scores.items()}}, indent=1)
        log(f"row {row.name}: lr x{chosen[row.key]:g} chosen by {metric} "
            f"({', '.join(f'x{factor:g} {render.grid_score(score)}' for factor, score in scores.items())})")
    return chosen


def read_selection(settings: Settings, row) -> dict | None:
    """The row's lr_selection.json, None without one."""
    path = _selection_path(settings, row)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def run_seeds(rows: tuple, settings: Settings, factors: dict, log) -> list:
    """Trains (unless trained) and evaluates (unless evaluated) every (row, seed) at its factor.

    Returns:
      [(row, run)] seed-major (a partial multi-seed table stays balanced), all finished.

    Raises:
      runner.RunError: a failed command (the message names its log).
    """
    runs = [(row, plan(row, seed, settings, factors[row.key])) for seed in settings.seeds for row in rows]

    def job(row, run):
        factor = factors[row.key]
        label = f"row {row.name} ({row.key}){'' if factor is None else f' lr x{factor:g}'} seed {run.seed}"
        if runner.is_finished(run):
            log(f"{label}: finished earlier ({run.metrics_path}), skipped")
            return
        log(f"{label}: training and evaluating in {run.model_dir}")
        timing = runner.execute(run, settings.flags_dir, settings.threads)
        log(f"{label}: done (train {timing['train_seconds']:.0f} s, evaluate {timing['evaluate_seconds']:.0f} s)")

    training = {row.key for row in _one_per_run(rows)}  # a second reading of the same models trains nothing
    run_all([lambda row=row, run=run: job(row, run) for row, run in runs if row.key in training], settings.parallel)
    return runs

