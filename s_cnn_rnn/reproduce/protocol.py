"""The fair protocol: equal training budgets for every row, learning rates picked on validation.

Under `s-cnn-rnn-reproduce --protocol=fair` a row's step counts come from one `Budget`, not from its
flagfile, so a comparison is not won by giving one model more updates:

  every CNN gets C + J image steps     its own stage 1 (C) then the joint stage (J); a variant
                                       without stage 1 (NIC-F, RIA) trains end to end for C + J;
                                       one without a joint stage (CNN+logistic) trains C + J in stage 1
  every decoder gets R updates first   Ours' on ground-truth concepts (rnn, no images); the feature
                                       variants' on the frozen CNN's features (decoder)
  the tag MLP gets T updates           Tag1K rows only (tags, no images)
  H of the C steps are head-only       rows whose paper recipe first learns the concept layer alone
                                       (the captioning flagfiles' --cnn_head_steps, Sec. 5.1): the
                                       backbone frozen in inference mode, as it starts pretrained

So NIC-F's and RIA's decoders get R + C + J updates against Ours' R + J: the baselines' favour.
A row's learning rates are its flagfile's times one factor from `--lr_grid`, the factor whose
run at the selection seed (never a test seed) scores best on the validation split (the metric its final stage keeps the best
checkpoint by: CIDEr, the decoded O-F1, or CNN+logistic's top-3 O-F1), the same grid and budget for
every row. No TensorFlow here.
"""

import dataclasses
import math
import os

from s_cnn_rnn import model_dir as model_dir_lib
from s_cnn_rnn import tasks
from s_cnn_rnn.models import variants

SELECTION_FILE = "lr_selection.json"
# The test seeds when --seeds is not given. Fair: 8, so that a mean paired difference of one standard
# deviation of the per-seed differences gives t = sqrt(8) = 2.83, past t_{0.975,7} = 2.36 (p < 0.05).
# Flagfiles: the paper's full step counts, one seed.
DEFAULT_SEEDS = {"fair": tuple(range(8)), "flagfiles": (0,)}


@dataclasses.dataclass(frozen=True)
class Budget:
    """The fair protocol's step counts (see the module docstring).

    Attributes:
      cnn_steps: C, the image steps of stage 1.
      decoder_steps: R, the decoder's updates before the joint stage.
      joint_steps: J, the image steps of the joint stage.
      tags_steps: T, the tag MLP's image-free updates (Tag1K rows).
      head_steps: H, the head-only steps among the C of a row whose recipe has that phase.
    """

    cnn_steps: int
    decoder_steps: int
    joint_steps: int
    tags_steps: int
    head_steps: int = 0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if field.name != "head_steps" and getattr(self, field.name) < 1:
                raise ValueError(f"--budget_{field.name} must be >= 1 under --protocol=fair "
                                 f"(got {getattr(self, field.name)})")
        if not 0 <= self.head_steps < self.cnn_steps:
            raise ValueError(f"--budget_head_steps must be in [0, --budget_cnn_steps) (got {self.head_steps}, "
                             f"{self.cnn_steps})")


def check_extra_flags(extra_flags: list) -> None:
    """Under the fair protocol the budget sets every stage's steps and every run is deterministic: refuses
    flags that would change them.

    Raises:
      ValueError: naming the flag and the fix.
    """
    for flag in extra_flags:
        name = flag.lstrip("-").split("=", 1)[0]
        if name.endswith("_train_steps") or name in ("cnn_head_steps", "train_steps"):
            raise ValueError(f"{flag}: under --protocol=fair the budget sets every stage's steps; use "
                             "--budget_cnn_steps, --budget_decoder_steps, --budget_joint_steps, --budget_tags_steps")
        if name in ("deterministic", "nodeterministic"):
            raise ValueError(f"{flag}: under --protocol=fair every run is --deterministic (so a rerun gives the same "
                             "table); drop the flag")


# Every fair run is seeded and op- and input-deterministic, so a rerun with the same --parallel (TF's thread
# count: convolutions split their sums by it) gives the same table: without it two identical runs of Ours'
# rnn stage drifted apart from step 350 on this CPU; with it a whole Ours run matched in every history value
# and test prediction at the same CPU time (BUILD_NOTES "The fair protocol").
RUN_FLAGS = ("--deterministic",)


def stage_steps(stages: tuple, budget: Budget) -> dict:
    """{stage: train steps} of a row that trains `stages` (in order) under `budget`."""
    steps = {}
    for stage in stages:
        if stage == "tags":
            steps[stage] = budget.tags_steps
        elif stage in ("rnn", "decoder"):
            steps[stage] = budget.decoder_steps
    image_stages = [stage for stage in ("cnn", "joint") if stage in stages]
    if len(image_stages) == 2:
        steps.update(cnn=budget.cnn_steps, joint=budget.joint_steps)
    elif image_stages:  # one stage trains the CNN: it gets both shares
        steps[image_stages[0]] = budget.cnn_steps + budget.joint_steps
    return steps


def step_flags(stages: tuple, budget: Budget, head_phase: bool = False) -> tuple:
    """The training flags that give a row its budget: `--<stage>_train_steps=N` and `--cnn_head_steps`.

    Args:
      stages: the row's stages in order.
      budget: the budget.
      head_phase: the row's recipe learns the concept layer alone first (its flagfile's
        --cnn_head_steps > 0): H of stage 1's C image steps are head-only.
    """
    steps = stage_steps(stages, budget)
    head = budget.head_steps if head_phase and "cnn" in stages and "joint" in stages else 0
    if head:
        steps["cnn"] -= head  # the trainer runs --cnn_head_steps, then --cnn_train_steps
    return tuple(f"--{stage}_train_steps={steps[stage]}" for stage in stages) + (f"--cnn_head_steps={head}",)


def image_steps(stages: tuple, budget: Budget) -> int:
    """The steps of a row under `budget` that read images (the frozen-CNN decoder stage included)."""
    steps = stage_steps(stages, budget)
    return sum(count for stage, count in steps.items() if variants.STAGES[stage].reads_images)


def selection_metric(task: str, stages: tuple) -> str:
    """The validation key a row's learning rate is picked by: its final stage's best-checkpoint metric."""
    metric = tasks.get(task).best_metrics.get(stages[-1])
    if metric is None:
        raise ValueError(f"the {task} task keeps no best checkpoint for stage {stages[-1]!r}: no selection metric")
    return metric


def validation_score(model_dir: str, stage: str, metric: str) -> float:
    """The best validation value of `metric` that `stage` reached (its `<stage>/best/best.json`): the
    checkpoint `s-cnn-rnn-evaluate` restores by default.

    Raises:
      ValueError: the stage kept no best checkpoint by `metric`, naming the file.
    """
    stage_dir = os.path.join(model_dir, stage)
    path = os.path.join(stage_dir, model_dir_lib.BEST_DIR, model_dir_lib.BEST_FILE)
    best = model_dir_lib.read_best(stage_dir)
    if best is None:
        raise ValueError(f"{path} not found: stage {stage} of {model_dir} recorded no validation score (train it "
                         "with --validate_every > 0)")
    if best.get("metric") != metric:
        raise ValueError(f"{path} keeps the best {best.get('metric')!r}, not {metric!r}: the lr grid cannot be scored")
    return float(best["value"])


def pick(scores: dict) -> float:
    """The grid factor with the highest score; a tie goes to the factor nearest 1 (the flagfile's rates).

    Args:
      scores: {factor: validation score, or None for a run whose loss diverged (never picked)}.

    Raises:
      ValueError: every factor diverged.
    """
    finite = {factor: score for factor, score in scores.items() if score is not None}
    if not finite:
        raise ValueError(f"every factor of the lr grid ({', '.join(f'x{f:g}' for f in scores)}) diverged: give "
                         "--lr_grid smaller factors")
    return max(finite, key=lambda factor: (finite[factor], -abs(math.log(factor))))
