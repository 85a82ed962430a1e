"""Trains and evaluates one table row per seed with the public commands, skipping finished work.

Each (row, seed) is a model dir OUTPUT_DIR/<row key>/seed<k> trained by

  python -m s_cnn_rnn.train --flagfile=flags/<row>.flags <extra flags> [<budget flags>] --data_dir=D
      --model_dir=OUTPUT_DIR/<row>/seed<k> --stage=all --seed=k --step_scale=F

(under a learning-rate grid: OUTPUT_DIR/<row>/lr<factor>/seed<k> and --learning_rate_scale=<factor>)

and evaluated by `python -m s_cnn_rnn.evaluate` into MODEL_DIR/eval_<split>/metrics.json (a partial
evaluation, --eval_max_images=N: under its max_images-N/), each in its
own process (TensorFlow state never leaks from one row into the next; only the command lines a user
has are used). The commands run in the folder that holds flags/, because the flagfiles include each
other by the relative path `flags/...`.

Resume. A (row, seed) is trained when MODEL_DIR/timing.json has its train seconds (written after the
training command succeeded) and finished when its metrics.json exists (the evaluation writes it
atomically, last). Anything else is rerun with the same commands: the trainer resumes an interrupted stage from its
checkpoint and skips finished stages. MODEL_DIR/run.json keeps the commands and the flagfiles' text
of the first run; a rerun with other settings is refused, so a table never mixes two settings.

One process per row. A row's training and evaluation run under MODEL_DIR/LOCK (`training.locks`, an
flock the OS drops when the holder dies), taken before any of the row's files is written: a second
reproduce on the same output is refused naming the holder. The logs are appended to, and every
command dies with the reproduce that started it (`reproduce/child.py`).
"""

import dataclasses
import json
import os
import subprocess
import sys
import time

from s_cnn_rnn import atomic_files
from s_cnn_rnn import command_line
from s_cnn_rnn import errors
from s_cnn_rnn.training import locks  # standard library only: no TensorFlow

RUN_FILE = "run.json"
TIMING_FILE = "timing.json"
TRAIN_LOG = "train.log"
# timing.json: wall seconds of training attempts that failed or were interrupted (counted in train_seconds
# once the training finishes; train_cpu_seconds is the finishing attempt's alone).
EARLIER_TRAIN_SECONDS = "earlier_attempts_train_seconds"
# How long a job may take to save its step after Ctrl-C before it is killed: a paper-size step or
# validation on a CPU can take a minute.
SAVE_ON_INTERRUPT_SECONDS = 300
METRICS_FILE = "metrics.json"  # s_cnn_rnn.evaluation.runner.METRICS_FILE (that module imports TensorFlow)
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Flags the runner sets itself for every row, and those that make a row what it is (its flagfile's);
# given as extra flags they would contradict the runner or turn every row into one model.
RESERVED_FLAGS = ("data_dir", "model_dir", "seed", "stage", "step_scale", "train_steps", "retrain", "task",
                  "variant", "use_tags", "freeze_cnn", "learning_rate_scale")


class RunError(RuntimeError):
    """A row could not be trained or evaluated (the message names the log to read)."""


@dataclasses.dataclass(frozen=True)
class RowRun:
    """The commands and files of one (row, seed).

    Attributes:
      row_key: the row's key (its flagfile stem).
      seed: the training seed.
      model_dir: OUTPUT_DIR/<row key>/seed<seed>.
      metrics_paths: where the evaluation's metrics.json may be, preferred first (see `plan_run`).
      train_command, evaluate_command: argv without the interpreter (`-m s_cnn_rnn.train ...`).
      flagfiles: {flagfile path relative to the project folder: its text}, nested ones included.
    """

    row_key: str
    seed: int
    model_dir: str
    metrics_paths: tuple
    train_command: tuple
    evaluate_command: tuple
    flagfiles: dict

    @property
    def metrics_path(self) -> str:
        """The metrics.json that exists, else the one the evaluation will write."""
        return next((path for path in self.metrics_paths if os.path.isfile(path)), self.metrics_paths[0])

    def settings(self) -> dict:
        """What run.json records: a rerun must match it."""
        return {"train": list(self.train_command), "evaluate": list(self.evaluate_command),
                "flagfiles": self.flagfiles}


def find_flags_dir(explicit: str | None) -> str:
    """The flagfiles: --flags_dir, a source checkout's flags/, or the copy `pip install` put under
    sys.prefix/share/s-cnn-rnn/flags.

    Raises:
      FileNotFoundError: none of them holds the experiment flagfiles.
    """
    candidates = [explicit, os.path.join(PACKAGE_PARENT, "flags"), os.path.join(sys.prefix, "share", "s-cnn-rnn", "flags")]
    for candidate in candidates:
        if candidate and os.path.isfile(os.path.join(candidate, "coco_caption_ours.flags")):
            return os.path.abspath(candidate)
    raise FileNotFoundError(f"the experiment flagfiles were not found in {[c for c in candidates if c]}: reinstall "
                            "the package (pip install .) or pass --flags_dir=PATH/TO/flags")


def check_extra_flags(extra_flags: list) -> None:
    """Extra flags must be `--name[=value]` flags that the runner does not set itself.

    Raises:
      ValueError: a positional argument or a reserved flag, naming it and the fix.
    """
    for flag in extra_flags:
        if not flag.startswith("-"):
            raise ValueError(f"unexpected argument {flag!r}: extra training flags look like --name=value")
        name = flag.lstrip("-").split("=", 1)[0]
        if name in RESERVED_FLAGS or (name.startswith("no") and name[2:] in RESERVED_FLAGS):
            raise ValueError(f"{flag}: s-cnn-rnn-reproduce sets --{name.removeprefix('no')} for every row itself "
                             "(from the row's flagfile, or its own --data_dir, --output_dir, --seeds, --scale); "
                             "pick rows with --rows instead")


def read_flagfiles(flags_dir: str, flagfile: str) -> dict:
    """{path relative to the project folder: text} of `flagfile` and every flagfile it includes.

    Raises:
      FileNotFoundError: the flagfile (or one it includes) is missing, naming it.
    """
    project = os.path.dirname(flags_dir)
    found, pending = {}, [os.path.join(os.path.basename(flags_dir), flagfile)]
    while pending:
        relative = pending.pop()
        path = os.path.join(project, relative)
        if relative in found:
            continue
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: the table's flagfile is missing from {flags_dir}")
        with open(path, encoding="utf-8") as handle:
            found[relative] = handle.read()
        for line in found[relative].splitlines():
            if line.strip().startswith("--flagfile="):
                # As the commands read them, absl's old rule taken relative to the project folder.
                included = command_line.include_path(os.path.dirname(path), line.strip().split("=", 1)[1], project)
                pending.append(os.path.relpath(included, project))
    return found


def flag_value(flags_dir: str, arguments: list, name: str) -> str | None:
    """The value command-line `arguments` give `--name`, their flagfiles read as absl reads them (inline,
    includes beside their includer else in the project folder, later wins); None when none sets it.

    Args:
      flags_dir: the flags/ folder; its parent is the project folder flagfile paths are relative to.
      arguments: e.g. a run's training command, or ["--flagfile=flags/coco_caption_ours.flags"].
      name: the flag's name without dashes.

    Raises:
      FileNotFoundError: a flagfile is missing, naming it.
    """
    project = os.path.dirname(flags_dir)

    def last(lines, here: str):
        value = None
        for line in lines:
            line = line.strip()
            if line.startswith("--flagfile="):
                path = command_line.include_path(here, line.split("=", 1)[1], project)
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"{path} not found: a flagfile the table's rows include")
                with open(path, encoding="utf-8") as handle:
                    value = last(handle.read().splitlines(), os.path.dirname(path)) or value
            elif line.startswith(f"--{name}="):
                value = line.split("=", 1)[1]
        return value

    return last(arguments, project)


def plan_run(row, seed: int, *, flags_dir: str, data_dir: str, output_dir: str, split: str, scale: float,
             extra_flags: list, eval_max_images: int | None, protocol_flags: tuple = (),
             lr_factor: float | None = None) -> RowRun:
    """The commands of one (row, seed).

    The extra flags follow the flagfile, so they win over it; the protocol's flags (a fair budget's
    step counts) follow those. With `lr_factor` (one point of a learning-rate grid) the model dir is
    OUTPUT_DIR/<row>/lr<factor>/seed<k> and the training gets --learning_rate_scale=<factor>.
    """
    row_dir = os.path.join(output_dir, row.run_key) if lr_factor is None else os.path.join(
        output_dir, row.run_key, f"lr{lr_factor:g}")
    model_dir = os.path.join(row_dir, f"seed{seed}")
    eval_dir = os.path.join(model_dir, f"eval_{split}")
    flagfile = os.path.join(os.path.basename(flags_dir), row.flagfile)
    train = ("-m", "s_cnn_rnn.train", f"--flagfile={flagfile}", *extra_flags, *protocol_flags,
             f"--data_dir={data_dir}", f"--model_dir={model_dir}", "--stage=all", f"--seed={seed}",
             f"--step_scale={scale:g}", *((f"--learning_rate_scale={lr_factor:g}",) if lr_factor is not None else ()))
    evaluate = ("-m", "s_cnn_rnn.evaluate", f"--model_dir={model_dir}", f"--data_dir={data_dir}", f"--split={split}",
                f"--output_dir={eval_dir}", "--noprogress",
                *((f"--max_images={eval_max_images}",) if eval_max_images else ()))
    # s-cnn-rnn-evaluate puts a partial evaluation (--max_images=N) into OUTPUT_DIR/max_images-N, so it
    # never replaces a whole split's files; before that change it wrote into OUTPUT_DIR itself.
    metrics_paths = ((os.path.join(eval_dir, f"max_images-{eval_max_images}", METRICS_FILE),) if eval_max_images
                     else ()) + (os.path.join(eval_dir, METRICS_FILE),)
    flagfiles = read_flagfiles(flags_dir, row.flagfile)
    for flag in extra_flags:  # a flagfile among the extra flags (e.g. flags/miniature_caption.flags) is pinned too
        if flag.startswith("--flagfile=") and os.path.isfile(flag.split("=", 1)[1]):
            with open(flag.split("=", 1)[1], encoding="utf-8") as handle:
                flagfiles[flag.split("=", 1)[1]] = handle.read()
    return RowRun(row.run_key, seed, model_dir, metrics_paths, train, evaluate, flagfiles)


def is_finished(run: RowRun) -> bool:
    return any(os.path.isfile(path) for path in run.metrics_paths)


def check_settings(run: RowRun) -> None:
    """Refuses a model dir trained with other commands or flagfiles (its run.json).

    Raises:
      RunError: naming the model dir, what differs and the fix.
    """
    path = os.path.join(run.model_dir, RUN_FILE)
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as handle:
        recorded = json.load(handle)
    wanted = run.settings()
    different = [key for key in wanted if recorded.get(key) != wanted[key]]
    if different:
        raise RunError(f"{run.model_dir} was trained with other {' and '.join(different)} ({path}); rerun with "
                       "the same flags, or use another --output_dir (or delete that folder) for new settings")


def run_logged(command: tuple, log_path: str, cwd: str, threads: int | None) -> tuple:
    """Runs `python <command>` in `cwd` with its output appended to `log_path`; it dies with this process.

    Args:
      threads: TensorFlow's intra- and inter-op threads for it (runs side by side share the cores);
        None: TensorFlow's default, or what the environment sets.

    Returns:
      (wall seconds, CPU seconds of the process and its children): on a shared machine the CPU
      seconds say what the run cost, the wall seconds what it took.

    Raises:
      RunError: a non-zero exit, with the end of the log.
    """
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    if threads is not None:
        for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
            environment.setdefault(name, str(threads))
    # The same package as this process, whichever folder the commands run in.
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_PARENT, os.environ.get("PYTHONPATH")]))
    started = time.monotonic()
    # Appended, never truncated: the log of an earlier (interrupted) run stays above this one's.
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')}: " + " ".join([sys.executable, *command]) + "\n")
        log.flush()
        # Through reproduce.child: the command dies with this process (no orphan after kill -9).
        process = subprocess.Popen([sys.executable, "-m", "s_cnn_rnn.reproduce.child", str(os.getpid()), *command],
                                   cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=environment)
        try:
            # wait4: this child's own resource usage (other jobs' children run beside it).
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # Ctrl-C reaches the child too: let it save its step (trainer), then stop it
            try:
                # The trainer stops after the step (or validation) in progress; a second Ctrl-C stops both now.
                process.wait(timeout=SAVE_ON_INTERRUPT_SECONDS)
            except BaseException:
                process.kill()
                process.wait()
            raise
        process.returncode = code = os.waitstatus_to_exitcode(status)
    if code != 0:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            tail = "".join(log.readlines()[-15:])
        raise RunError(f"`{command[1]}` failed (exit {code}); its log {log_path} ends:\n{tail}")
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime


def read_timing(run: RowRun) -> dict:
    """MODEL_DIR/timing.json ({"train_seconds"[, "evaluate_seconds"]}), {} before the training finished."""
    path = os.path.join(run.model_dir, TIMING_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def diverged(run: RowRun) -> bool:
    """The training command stopped because a loss became non-finite (the end of its train.log says so)."""
    path = os.path.join(run.model_dir, TRAIN_LOG)
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8", errors="replace") as log:
        return any(errors.NON_FINITE_LOSS in line for line in log.readlines()[-5:])


def is_trained(run: RowRun) -> bool:
    """The training command finished (it wrote timing.json's train_seconds) with these settings."""
    return "train_seconds" in read_timing(run)


def train(run: RowRun, flags_dir: str, threads: int | None = None) -> float:
    """Trains (resuming) one (row, seed) unless finished; returns this call's wall seconds (0 if skipped).

    Raises:
      RunError: other settings in run.json, or a failed command.
    """
    check_settings(run)
    if is_trained(run):
        return 0.0
    os.makedirs(run.model_dir, exist_ok=True)
    with locks.StageLock(run.model_dir):  # before any file of the row is written
        check_settings(run)
        if is_trained(run):  # by the holder we waited behind: nothing left to do
            return 0.0
        atomic_files.write_json(os.path.join(run.model_dir, RUN_FILE), run.settings())
        # A resumed training's time is its earlier attempts' plus this one's: a failed or interrupted
        # attempt leaves its wall seconds in timing.json (one killed with SIGKILL cannot).
        earlier = read_timing(run).get(EARLIER_TRAIN_SECONDS, 0.0)
        started = time.monotonic()
        try:
            seconds, cpu_seconds = run_logged(run.train_command, os.path.join(run.model_dir, TRAIN_LOG),
                                               os.path.dirname(flags_dir), threads)
        except BaseException:
            atomic_files.write_json(os.path.join(run.model_dir, TIMING_FILE),
                                    {EARLIER_TRAIN_SECONDS: round(earlier + time.monotonic() - started, 1)})
            raise
        atomic_files.write_json(os.path.join(run.model_dir, TIMING_FILE),
                                {"train_seconds": round(earlier + seconds, 1),
                                 "train_cpu_seconds": round(cpu_seconds, 1),
                                 **({EARLIER_TRAIN_SECONDS: earlier} if earlier else {})})
    return seconds


def execute(run: RowRun, flags_dir: str, threads: int | None = None) -> dict:
    """Trains (resuming, unless finished) and evaluates one (row, seed) whose metrics.json does not exist yet.

    Returns:
      {"train_seconds", "train_cpu_seconds", "evaluate_seconds", "evaluate_cpu_seconds"} (also in
      MODEL_DIR/timing.json; the train entries of an earlier call when it was trained then).

    Raises:
      RunError: other settings in run.json, or a failed command.
    """
    train(run, flags_dir, threads)
    with locks.StageLock(run.model_dir):
        timing = read_timing(run)
        seconds, cpu_seconds = run_logged(run.evaluate_command, os.path.join(run.model_dir, "evaluate.log"),
                                           os.path.dirname(flags_dir), threads)
        timing.update(evaluate_seconds=round(seconds, 1), evaluate_cpu_seconds=round(cpu_seconds, 1))
        atomic_files.write_json(os.path.join(run.model_dir, TIMING_FILE), timing)
    return timing


def read_result(run: RowRun) -> dict:
    """{"metrics": metrics.json's payload, "timing": timing.json or {}} of a finished run."""
    with open(run.metrics_path, encoding="utf-8") as handle:
        metrics = json.load(handle)
    return {"metrics": metrics, "timing": read_timing(run)}
