"""Runs a command (`python -m MODULE ARGS`) inside the test process: the same code path, no new TensorFlow.

A command started as a subprocess pays Python's and TensorFlow's start-up again (~6 CPU s each);
`run("s_cnn_rnn.evaluate", "--model_dir=...")` executes the module as `__main__` exactly as
`python -m` does (runpy), so its flags, `main`, `command_line.run` and exit status are the real
ones, and returns what a subprocess would: the exit status and everything written to stdout and
stderr, file descriptors included (TensorFlow's C++ lines too).

Each run starts from clean absl state, as a new process would: the commands' flags live in a
fresh copy of `flags.FLAGS` (holding only absl's own flags) for the run and are gone after it, and
modules that define flags when imported are imported anew for the run. So runs of different
commands (all define --model_dir, --output_dir...) and flag values never leak into each other or
into the test process.

What stays a subprocess test: start-up itself (TensorFlow's notices hidden, the first line of a
command), signals (Ctrl-C, kill), several processes at once (multi-worker training) and
anything where a command must not share the test's Python (`-I` serving).
"""

import contextlib
import copy
import dataclasses
import io
import logging
import os
import runpy
import sys
import tempfile
import traceback

from absl import app
from absl import flags
from absl import logging as absl_logging


@dataclasses.dataclass
class Completed:
    """What a finished command left: as `subprocess.CompletedProcess` (same attribute names)."""

    args: list
    returncode: int
    stdout: str
    stderr: str


def _is_absl_own(module: str) -> bool:
    """Whether a module's flags are absl's own (the --help flags are defined from here)."""
    return module.startswith("absl.") or module == __name__


def _fresh_flag_values() -> dict:
    """The state of a FlagValues holding only absl's own flags (logging, --help...), each a copy at its
    default: what a process has before a command defines any."""
    app.define_help_flags()  # app.run defines them once per process; every run here needs them
    fresh, copies = flags.FlagValues(), {}
    for module, module_flags in flags.FLAGS.flags_by_module_dict().items():
        if not _is_absl_own(module):
            continue
        for flag in module_flags:
            if id(flag) not in copies:
                copies[id(flag)] = copy.deepcopy(flag)
                copies[id(flag)].unparse()
            fresh.register_flag_by_module(module, copies[id(flag)])
    for name, flag in flags.FLAGS._flags().items():  # pylint: disable=protected-access
        if id(flag) in copies and name == flag.name:  # its short name (-v) comes with it
            fresh[name] = copies[id(flag)]
    return dict(fresh.__dict__)


def _flag_defining_modules() -> list[str]:
    """The imported modules that defined flags of the current FlagValues (the main program excluded)."""
    return [name for name in flags.FLAGS.flags_by_module_dict()
            if name in sys.modules and name != "__main__" and not _is_absl_own(name)]


def _unimport(names) -> dict:
    """Removes modules from sys.modules and from their packages; returns what to put back."""
    removed = {}
    for name in names:
        module = sys.modules.pop(name, None)
        if module is None:
            continue
        parent, _, child = name.rpartition(".")
        removed[name] = module
        if parent in sys.modules and getattr(sys.modules[parent], child, None) is module:
            delattr(sys.modules[parent], child)
    return removed


def _reimport(removed: dict) -> None:
    for name, module in removed.items():
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:
            setattr(sys.modules[parent], child, module)


@contextlib.contextmanager
def _fresh_absl():
    """Fresh flags, flag-defining modules imported anew, app.run's once-per-process setup redone."""
    outer_state = dict(flags.FLAGS.__dict__)
    outer_modules = _unimport(_flag_defining_modules())
    root_handlers = list(logging.getLogger().handlers)
    levels = logging.getLogger().level, logging.getLogger("absl").level
    run_init_done = getattr(app._run_init, "done", False)  # pylint: disable=protected-access
    flags.FLAGS.__dict__.update(_fresh_flag_values())
    # absl defines --help/--helpshort once per process; a test that restored flags saved before that
    # leaves them out: let app.run define them again into these flags.
    help_defined = app._define_help_flags_called  # pylint: disable=protected-access
    if "helpshort" not in flags.FLAGS:
        app._define_help_flags_called = False  # pylint: disable=protected-access
    app._run_init.done = False  # pylint: disable=protected-access
    app._register_and_parse_flags_with_usage.done = False  # pylint: disable=protected-access
    try:
        yield
    finally:
        _unimport(_flag_defining_modules())  # they registered their flags in the run's FlagValues
        flags.FLAGS.__dict__.update(outer_state)
        _reimport(outer_modules)
        app._run_init.done = run_init_done  # pylint: disable=protected-access
        app._define_help_flags_called = help_defined  # pylint: disable=protected-access
        app._register_and_parse_flags_with_usage.done = run_init_done  # pylint: disable=protected-access
        logging.getLogger().handlers[:] = root_handlers
        logging.getLogger().setLevel(levels[0])
        logging.getLogger("absl").setLevel(levels[1])


@contextlib.contextmanager
def _captured_output():
    """Points fds 1 and 2 (and sys.stdout, sys.stderr, absl's log stream) at temp files; yields a
    function returning their text."""
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved_fds = os.dup(1), os.dup(2)
        saved_streams = sys.stdout, sys.stderr
        handler = absl_logging.get_absl_handler().python_handler
        saved_log_stream = handler.stream
        os.dup2(out_file.fileno(), 1)
        os.dup2(err_file.fileno(), 2)
        # write_through: Python's writes and the C++ ones reach the file in the order they were made.
        sys.stdout, sys.stderr = (io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8",
                                                   errors="backslashreplace", write_through=True) for fd in (1, 2))
        handler.stream = sys.stderr

        def text() -> tuple[str, str]:
            return tuple(_read(handle) for handle in (out_file, err_file))

        try:
            yield text
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            handler.stream = saved_log_stream
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)


def _read(handle) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", errors="replace")


@contextlib.contextmanager
def _process_settings(argv: list[str], env: dict | None, cwd):
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    saved_env = dict(os.environ)
    sys.argv = argv
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    # The stderr filter of a command's start-up is a subprocess matter (it would stay installed here).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv


def _initialize_devices_uncaptured() -> None:
    """Lets TensorFlow, if this process imported it, find its devices before the capture starts.

    Its first look logs "failed call to cuInit" on a machine without a GPU, and TensorFlow has absl's
    first `app.run` in a process take that look (`call_after_init`), so the notice would otherwise land
    in the stderr of whichever command ran first here, even one that never imports TensorFlow in a
    process of its own (s-cnn-rnn-reproduce).
    """
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].config.list_physical_devices()


def _exit_status(code) -> int:
    """The status a process exits with for `sys.exit(code)` (a message is printed and gives 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run(module: str, *args: str, env: dict | None = None, cwd=None) -> Completed:
    """`python -m MODULE ARGS` (or `python SCRIPT.py ARGS`) in this process.

    Args:
      module: the command's module, e.g. "s_cnn_rnn.evaluate" or "s_cnn_rnn.reproduce", or the path of
        a script (ending in .py).
      *args: its command-line arguments.
      env: the whole environment of the run (default: this process's); restored afterwards.
      cwd: the working directory of the run (default: the current one).

    Returns:
      `Completed` with the exit status and the text written to stdout and stderr. An exception that
      escapes the command is a traceback on stderr and status 1, as in a process of its own.
    """
    argv = [module, *args]
    _initialize_devices_uncaptured()
    with _fresh_absl(), _captured_output() as text, _process_settings(argv, env, cwd):
        try:
            if module.endswith(".py"):
                runpy.run_path(module, run_name="__main__")
            else:
                runpy.run_module(module, run_name="__main__", alter_sys=True)
            returncode = 0
        except SystemExit as exit_:
            returncode = _exit_status(exit_.code)
        except Exception:  # pylint: disable=broad-except  (a process prints it and exits 1)
            traceback.print_exc()
            returncode = 1
        stdout, stderr = text()
    return Completed(args=argv, returncode=returncode, stdout=stdout, stderr=stderr)
