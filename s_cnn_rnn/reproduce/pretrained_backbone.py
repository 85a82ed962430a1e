"""The miniature's ImageNet: one pretrained backbone that every row of a table starts from.

The paper starts every row from an ImageNet-pretrained CNN. Offline the miniature tables use the small
CNN pretrained on single-object images of the synthetic world (`s-cnn-rnn-pretrain-backbone`, never
the tables' images). `s-cnn-rnn-reproduce --pretrained_backbone=PATH` makes that weights file once
(when PATH does not exist) at the rows' backbone settings and hands it to every row as
`--backbone_weights=PATH`; later tables given the same PATH reuse it. No TensorFlow here: the
pretraining runs as a subprocess.
"""

import json
import os

from s_cnn_rnn import pretrained_weights
from s_cnn_rnn.reproduce import runner

# The model flags the weights must match: the backbone they were trained as.
BACKBONE_FLAGS = ("backbone", "image_size", "small_cnn_width")
PRETRAIN_MODULE = "s_cnn_rnn.pretrain_backbone"
PRETRAIN_SEED = 0  # one backbone for every row and seed, as one ImageNet model serves the paper's rows


# The pretraining's JSON report beside its weights (`x.weights.h5` -> `x.json`): where the command writes it.
report_path = pretrained_weights.report_path


def log_path(weights_path: str) -> str:
    """Where the table writes the pretraining's output (`x.weights.h5` -> `x.log`)."""
    return weights_path.removesuffix(pretrained_weights.WEIGHTS_SUFFIX) + ".log"


def row_flags(weights_path: str | None) -> tuple:
    """What every row's training gets: `--backbone_weights=PATH` (none without a pretrained backbone)."""
    return () if weights_path is None else (f"--backbone_weights={weights_path}",)


def backbone_settings(flags_dir: str, runs: list) -> dict:
    """{flag: value} of BACKBONE_FLAGS that every run's training command gives (flagfiles read).

    Raises:
      ValueError: two rows train different backbones (one weights file cannot serve both).
    """
    settings = {}
    for run in runs:
        these = {name: runner.flag_value(flags_dir, list(run.train_command), name) for name in BACKBONE_FLAGS}
        if settings and these != settings:
            raise ValueError(f"--pretrained_backbone: the rows train different backbones ({settings} and {these} in "
                             f"{run.model_dir}): give every row the same --backbone, --image_size, --small_cnn_width")
        settings = these
    if settings.get("backbone") != "small_cnn":
        raise ValueError(f"--pretrained_backbone makes a small_cnn backbone; these rows train {settings.get('backbone')} "
                         "(use --backbone_weights=imagenet or a .weights.h5 file of that backbone instead)")
    return settings


def ensure(weights_path: str, flags_dir: str, runs: list, log) -> dict:
    """Makes the pretrained backbone at `weights_path` unless it exists; checks that it fits the rows.

    Args:
      weights_path: a `.weights.h5` path.
      flags_dir: the flags/ folder (the commands run in its parent).
      runs: every planned `runner.RowRun` of the table.
      log: prints one progress line.

    Returns:
      The pretraining's report (held-out top-1, settings, seconds).

    Raises:
      ValueError: a path that is not `.weights.h5`, a report missing beside existing weights, or weights
        made at other backbone settings, naming the file and the fix; runner.RunError: the pretraining failed.
    """
    if not weights_path.endswith(pretrained_weights.WEIGHTS_SUFFIX):
        raise ValueError(f"--pretrained_backbone={weights_path}: expected a path ending in .weights.h5")
    settings = backbone_settings(flags_dir, runs)
    report = report_path(weights_path)
    if not os.path.isfile(weights_path):
        os.makedirs(os.path.dirname(weights_path) or ".", exist_ok=True)
        log(f"pretrained backbone: making {weights_path} ({', '.join(f'{k}={v}' for k, v in settings.items())})")
        command = ("-m", PRETRAIN_MODULE, f"--output={weights_path}", f"--seed={PRETRAIN_SEED}",
                   *(f"--{name}={value}" for name, value in settings.items() if value is not None))
        seconds, _ = runner.run_logged(command, log_path(weights_path),
                                       os.path.dirname(flags_dir), None)
        log(f"pretrained backbone: made in {seconds:.0f} s")
    if not os.path.isfile(report):
        raise ValueError(f"{weights_path} has no report {report}: it was not made by s-cnn-rnn-pretrain-backbone; "
                         "give --pretrained_backbone a new path and the table makes it")
    with open(report, encoding="utf-8") as handle:
        made = json.load(handle)
    different = {name: (made.get(name), value) for name, value in settings.items()
                 if value is not None and str(made.get(name)) != str(value)}
    if different:
        raise ValueError(f"{weights_path} was made for other backbone settings ({report}: "
                         f"{', '.join(f'{k} {a} here {b}' for k, (a, b) in different.items())}); give "
                         "--pretrained_backbone a new path")
    return made
