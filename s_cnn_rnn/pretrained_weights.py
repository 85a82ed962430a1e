"""The miniature's pretrained backbone as files: draws the single-object images, pretrains the backbone,
writes its weights (what `s-cnn-rnn-train --backbone_weights=PATH` loads) and a JSON report beside them.

`s-cnn-rnn-pretrain-backbone` is its command line; this module defines no flags, so tests and other
commands can make a backbone in their own process.
"""

import dataclasses
import json
import os
import tempfile
import time
from typing import Callable, Optional

from s_cnn_rnn import atomic_files
from s_cnn_rnn import errors
from s_cnn_rnn.pretrain_options import PretrainOptions

COMMAND = "s-cnn-rnn-pretrain-backbone"
WEIGHTS_SUFFIX = ".weights.h5"  # what Keras' save_weights and --backbone_weights accept


class OutputError(errors.UserError, FileExistsError):
    """--output cannot be written: wrong suffix, a directory, or a file that must not be replaced."""


def report_path(weights_path: str) -> str:
    """The report beside a weights file: `x.weights.h5` -> `x.json`."""
    return weights_path[:-len(WEIGHTS_SUFFIX)] + ".json"


def _is_our_report(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and report.get("command") == COMMAND


def check_output(path: str, overwrite: bool) -> None:
    """Refuses an output path that is malformed or holds something we must not replace.

    Raises:
      OutputError: one line naming --output and the fix.
    """
    if not path.endswith(WEIGHTS_SUFFIX) or os.path.basename(path) == WEIGHTS_SUFFIX:
        raise OutputError(f"--output={path} must be a file name ending in {WEIGHTS_SUFFIX} (what "
                          f"s-cnn-rnn-train --backbone_weights loads)")
    report = report_path(path)
    for target in (path, report):
        if os.path.isdir(target):
            raise OutputError(f"--output={path}: {target} is a directory; name a file")
    existing = [target for target in (path, report) if os.path.lexists(target)]
    if not existing:
        return
    if not _is_our_report(report):
        raise OutputError(f"--output={path}: {existing[0]} exists and is not {COMMAND}'s output (no report "
                          f"{report} written by it); it is never replaced, even with --overwrite: choose "
                          f"another --output")
    if not overwrite:
        raise OutputError(f"--output={path} already exists ({COMMAND}'s output); pass --overwrite to "
                          f"replace it, or choose another --output")


def make_backbone_weights(path: str, options: PretrainOptions, overwrite: bool = False,
                          log: Optional[Callable[[str], None]] = None) -> dict:
    """Draws the single-object images, pretrains the backbone, writes its weights and the report.

    Both files are written atomically, the weights first. Deterministic for `options.seed`.

    Args:
      path: the `.weights.h5` file to write.
      options: sizes, seed and optimisation settings.
      overwrite: replace an earlier output of this command at `path`.
      log: called with one progress line at a time (None: silent).

    Returns:
      The report (also written to `report_path(path)`).

    Raises:
      OutputError: see `check_output` (checked before any work).
    """
    check_output(path, overwrite)
    # Imported here: TensorFlow starts only once the flags and the output are known to be good.
    from data_prep.synthetic import catalogue  # pylint: disable=import-outside-toplevel
    from data_prep.synthetic import single_object  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn import backbone_pretraining  # pylint: disable=import-outside-toplevel

    say = log or (lambda line: None)
    start = time.perf_counter()
    say(f"drawing {options.num_train_images} training and {options.num_heldout_images} held-out images of "
        f"{len(single_object.CLASSES)} classes at {options.render_size} px")
    train = single_object.draw_images(options.seed, "train", options.num_train_images, options.render_size)
    heldout = single_object.draw_images(options.seed, "heldout", options.num_heldout_images, options.render_size)
    draw_seconds = time.perf_counter() - start
    result = backbone_pretraining.pretrain(
        options, backbone_pretraining.LabelledImages(train.images, train.labels),
        backbone_pretraining.LabelledImages(heldout.images, heldout.labels), len(single_object.CLASSES),
        log=lambda step, loss: say(f"step {step}/{options.train_steps}: loss {loss:.4f}"))
    with tempfile.TemporaryDirectory() as scratch:  # Keras names the format by the file's suffix
        saved = os.path.join(scratch, "backbone" + WEIGHTS_SUFFIX)
        result.backbone.save_weights(saved)
        with open(saved, "rb") as handle:
            atomic_files.write_bytes(path, handle.read())
    report = {
        "command": COMMAND,
        "weights": os.path.basename(path),
        "heldout_top1": round(result.heldout_top1, 4),
        "chance_top1": round(result.chance_top1, 4),
        "num_classes": len(single_object.CLASSES),
        "classes": list(single_object.CLASSES),
        # The settings at the top level: `s-cnn-rnn-reproduce` checks backbone, image_size and small_cnn_width.
        **dataclasses.asdict(options),
        "final_train_loss": round(result.final_loss, 4),
        "draw_seconds": round(draw_seconds, 1),
        "train_seconds": round(result.seconds, 1),
        "train_cpu_seconds": round(result.cpu_seconds, 1),
        "seconds": round(time.perf_counter() - start, 1),
        "synthetic_generator_version": catalogue.GENERATOR_VERSION,
    }
    atomic_files.write_json(report_path(path), report)
    say(f"held-out top-1 {result.heldout_top1:.4f} (chance {result.chance_top1:.4f}); wrote {path} and "
        f"{report_path(path)}")
    return report
