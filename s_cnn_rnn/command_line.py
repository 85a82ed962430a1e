"""What every console script shares: a quiet start-up, flagfiles, path flags, one-line errors.

Each command module starts with

    from s_cnn_rnn import command_line
    command_line.quiet_startup(__name__)  # before anything imports TensorFlow

and ends with `command_line.run(main, "s-cnn-rnn-<name>")`. Then:

* TensorFlow's C++ start-up notices (oneDNN, CPU features, the CUDA probe: about ten lines on a
  machine without a GPU) are hidden, unless the user set TF_CPP_MIN_LOG_LEVEL. They are written
  before TensorFlow reads that variable ("All log messages before absl::InitializeLog() is
  called are written to STDERR"), so no variable hides them: stderr (fd 2) goes through a pipe
  that drops exactly those lines. Every other line, TF's real warnings and errors included,
  passes unchanged, and so do partial lines (progress bars).
* `--flagfile=` is expanded before absl sees it; a flagfile included by another one is found
  relative to the including file (then, as absl does, to the working directory), so an installed
  `share/s-cnn-rnn/flags/...` works from anywhere.
* A `errors.UserError` (and the OS errors a user fixes: a missing input, a full disk, an
  unwritable output) is printed as ONE line `<command>: error: <message>` with exit status 2;
  a bad flag likewise; Ctrl-C prints one line and exits with 130. Any other exception is a bug
  and keeps its traceback.

This module imports no TensorFlow.
"""

import atexit
import errno
import os
import re
import sys
import threading
from typing import Callable

from absl import app
from absl import flags

from s_cnn_rnn import errors

# Path flags defined through `define_path` belong to the module that calls it (its --help section).
flags.disclaim_key_flags()

# The start-up notices of TensorFlow 2.21 on a machine without a GPU (measured with
# `python -c "import tensorflow as tf; tf.constant(1) + 1"`), and the GPU-library registration
# notices TF prints when CUDA libraries are present but unused.
_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    rb"|[IWE]\d{4} [\d:. ]+\d+ (port\.cc:\d+\] oneDNN custom operations are on"
    rb"|cudart_stub\.cc:\d+\] Could not find cuda drivers"
    rb"|cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized"
    rb"|cuda_platform\.cc:\d+\] failed call to cuInit"
    rb"|cuda_(dnn|fft|blas)\.cc:\d+\] Unable to register"
    rb"|computation_placer\.cc:\d+\] computation placer already registered))"
)
# A partial line (no newline yet) that may still become a noise line is held back; anything else
# (a progress bar redrawn with "\r") is passed on at once.
_NOISE_STARTS = (b"W", b"I", b"E", b"T")
# The OS errors a user fixes by changing a path or the machine (not a bug of ours).
_USER_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EACCES, errno.EPERM,
                errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.ENAMETOOLONG}
_DEFAULT_TF_LOG_LEVEL = "1"  # hides TF's INFO lines; its warnings and errors still show


def is_startup_noise(line: bytes) -> bool:
    """Whether a line of stderr is one of TensorFlow's start-up notices that we hide."""
    return _NOISE.match(line) is not None


class _StderrFilter:
    """Points fd 2 at a pipe; a thread copies it to the real stderr without the `_NOISE` lines."""

    def __init__(self):
        sys.stderr.flush()
        self._target = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._read_fd = read_fd
        self._thread = threading.Thread(target=self._pump, name="stderr-filter", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def _write(self, data: bytes) -> None:
        while data:
            data = data[os.write(self._target, data):]

    def _pump(self) -> None:
        pending = b""
        while True:
            chunk = os.read(self._read_fd, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            out = b"".join(line + b"\n" for line in lines if not is_startup_noise(line))
            if pending and not pending.startswith(_NOISE_STARTS):
                out, pending = out + pending, b""
            if out:
                self._write(out)
        if pending:
            self._write(pending)
        os.close(self._read_fd)

    def stop(self) -> None:
        """Restores fd 2 (closing the pipe's last write end of this process) and drains the pipe."""
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._target, 2)
        # A child process that still holds the pipe keeps it open: do not wait for it forever.
        self._thread.join(timeout=2.0)


_filter = None


def quiet_startup(module_name: str, tf_log_level: str = _DEFAULT_TF_LOG_LEVEL) -> bool:
    """Hides TensorFlow's start-up noise when this process is one of our commands.

    Call it before TensorFlow is imported. It acts only when the module runs as the program
    (`python -m MODULE`, `module_name == "__main__"`) or as an installed console script (the program
    is named `s-cnn-rnn-*`), never when a library user or a test imports the module, and not at all
    when the user has set TF_CPP_MIN_LOG_LEVEL.

    Args:
      module_name: the calling module's `__name__`.
      tf_log_level: TF_CPP_MIN_LOG_LEVEL to set ("1": TF's warnings and errors still show).

    Returns:
      Whether the filter is active.
    """
    global _filter  # pylint: disable=global-statement
    is_program = module_name == "__main__" or os.path.basename(sys.argv[0]).startswith("s-cnn-rnn-")
    if _filter is not None or not is_program or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return _filter is not None
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = tf_log_level
    try:
        _filter = _StderrFilter()
    except OSError:  # no fd 2 (a detached daemon): nothing to filter
        return False
    return True


# ----------------------------------------------------------------------------- flagfiles


class FlagfileError(errors.UserError):
    """A flagfile cannot be read, or includes itself."""


def _flagfile_value(arg: str) -> str | None:
    """The file of a `--flagfile=FILE` (or `-flagfile=FILE`) argument, else None."""
    for prefix in ("--flagfile=", "-flagfile="):
        if arg.startswith(prefix):
            return arg[len(prefix):].strip()
    return None


def include_path(includer_dir: str, included: str, fallback_dir: str = "") -> str:
    """Where a `--flagfile=INCLUDED` line of a flagfile in `includer_dir` points.

    Relative to the including file; a flagfile written for absl's rule (relative to the working
    directory, or to `fallback_dir` when given) still works when only that path exists. The one rule
    every reader of flagfiles here follows (the commands, s-cnn-rnn-reproduce).
    """
    included = os.path.expanduser(included)
    if os.path.isabs(included):
        return included
    beside = os.path.join(includer_dir, included)
    fallback = os.path.join(fallback_dir, included)
    return beside if os.path.exists(beside) or not os.path.exists(fallback) else fallback


def _flagfile_lines(path: str, including: list[str]) -> list[str]:
    """The flag lines of a flagfile, nested flagfiles expanded in place (as absl does)."""
    path = os.path.expanduser(path)
    where = f" (included from {including[-1]})" if including else ""
    if os.path.abspath(path) in map(os.path.abspath, including):
        raise FlagfileError(f"flagfile {path}{where} includes itself")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.readlines()
    except OSError as error:
        raise FlagfileError(f"cannot read flagfile {path}{where}: {error.strerror or error}") from error
    flag_lines = []
    for line in lines:
        if line.isspace() or line.startswith(("#", "//")):
            continue
        nested = _flagfile_value(line.strip())
        if nested is None:
            flag_lines.append(line.strip())
            continue
        flag_lines.extend(_flagfile_lines(include_path(os.path.dirname(path), nested), including + [path]))
    return flag_lines


def expand_flagfiles(argv: list[str]) -> list[str]:
    """`argv` with every `--flagfile=FILE` (and `--flagfile FILE`) replaced by the file's flags.

    Nested `--flagfile=` lines are resolved relative to the file that contains them. Arguments
    after `--` are left alone. Raises `FlagfileError` for an unreadable or circular flagfile.
    """
    expanded, index = list(argv[:1]), 1
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            expanded += argv[index:]
            break
        path = _flagfile_value(arg)
        if path is None and arg in ("--flagfile", "-flagfile") and index + 1 < len(argv):
            index += 1
            path = argv[index]
        expanded += _flagfile_lines(path, []) if path is not None else [arg]
        index += 1
    return expanded


# ----------------------------------------------------------------------------- path flags


def parse_path(value: str) -> str:
    """A path flag's value: `~` expanded; quotes left over from a shell or flagfile refused.

    Raises:
      ValueError: the value starts or ends with a quote (absl reports it naming the flag).
    """
    if value[:1] in ("'", '"') or value[-1:] in ("'", '"'):
        raise ValueError(
            f"the path {value} still carries quotes (flagfiles take no quoting: write "
            f"--flag=PATH with nothing around PATH)")
    return os.path.expanduser(value)


class PathParser(flags.ArgumentParser):
    """absl parser of one path (see `parse_path`)."""

    def parse(self, argument):
        return parse_path(argument) if isinstance(argument, str) else argument

    def flag_type(self) -> str:
        return "path"


class PathListParser(flags.ListParser):
    """absl parser of a comma-separated list of paths (see `parse_path`)."""

    def parse(self, argument):
        return [parse_path(value) for value in super().parse(argument)]

    def flag_type(self) -> str:
        return "comma separated list of paths"


def define_path(name: str, default: str | None, help_text: str, **kwargs):
    """Defines a path flag (`~` expanded, quotes refused); returns its FlagHolder."""
    return flags.DEFINE(PathParser(), name, default, help_text, **kwargs)


def define_path_list(name: str, default: list[str] | None, help_text: str, **kwargs):
    """Defines a comma-separated list-of-paths flag; returns its FlagHolder."""
    return flags.DEFINE(PathListParser(), name, default, help_text, serializer=flags.CsvListSerializer(","),
                        **kwargs)


# ----------------------------------------------------------------------------- errors and run()


def is_user_error(error: BaseException) -> bool:
    """Whether `error` is one the user can fix (printed as one line), not a bug (traceback)."""
    if isinstance(error, errors.UserError):
        return True
    # Raised with a message only (no errno) by our readers for a missing input.
    if isinstance(error, (FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError,
                          PermissionError)):
        return True
    if isinstance(error, OSError) and error.errno in _USER_ERRNOS:
        return True
    tf = sys.modules.get("tensorflow")  # only if the command imported it
    if tf is None or not hasattr(tf, "errors"):
        return False
    if isinstance(error, tf.errors.ResourceExhaustedError):  # also out of memory: a bug's report then
        return _is_disk_full(error)
    return isinstance(error, (tf.errors.NotFoundError, tf.errors.PermissionDeniedError))


def _is_disk_full(error: BaseException) -> bool:
    """TensorFlow's file writers (SaveV2, the SavedModel writer) report a full disk in their message."""
    return any(words in str(error) for words in ("No space left on device", "Disk quota exceeded"))


def user_message(error: BaseException) -> str:
    """What the one error line says: the message, and the fix when the message alone does not give it."""
    message = str(error)
    if (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)) or _is_disk_full(error):
        # TF's op messages end in graph decorations ("[Op:SaveV2]", "{{function_node ...}}") a user cannot use.
        message = re.sub(r"\s*(\[\[[^\]]*\]\]|\[Op:[^\]]*\]( name: \S*)?|\{\{function_node [^}]*\}\})", "", message)
        message += ": the disk is full; free space there (or write elsewhere) and rerun the same command"
    return message


def error_line(command: str, error: BaseException | str) -> str:
    """`<command>: error: <message>` on one line (a message's own newlines become spaces)."""
    message = " ".join(str(error).split()) or type(error).__name__
    return f"{command}: error: {message}"


def print_error(command: str, error: BaseException | str) -> None:
    """Writes `error_line` to stderr."""
    print(error_line(command, error), file=sys.stderr, flush=True)


def parse_flags(argv: list[str], command: str, flag_values: flags.FlagValues = flags.FLAGS) -> list[str]:
    """Expands flagfiles and parses argv; a bad flag or flagfile is one line and exit status 2."""
    try:
        return flag_values(expand_flagfiles(argv))
    except (flags.Error, FlagfileError) as error:
        print_error(command, f"{error} (--helpfull lists the flags)" if isinstance(error, flags.Error) else error)
        sys.exit(2)


def show_flags_in_help(module_name: str, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Makes `--help` list the flags of the command module `module_name` however it was started.

    absl's --help lists the key flags of the module named `sys.argv[0]`; for a console script that is
    pip's launcher, which defines none, so `s-cnn-rnn-train --help` would list no flag.
    """
    for flag in flag_values.get_key_flags_for_module(module_name):
        flag_values.register_key_flag_for_module(sys.argv[0], flag)


def run(main: Callable[[list[str]], int | None], command: str, argv: list[str] | None = None) -> None:
    """Runs an absl `main` as the console script `command` (see the module docstring).

    Args:
      main: `main(argv) -> exit status`, argv being the program name and the positional arguments.
      command: the name the error lines start with (`s-cnn-rnn-train`).
      argv: the command line (default `sys.argv`).
    """
    show_flags_in_help(main.__module__)
    app.run(guard(main, command), argv=argv, flags_parser=lambda args: parse_flags(args, command))


def guard(main: Callable[[list[str]], int | None], command: str) -> Callable[[list[str]], int | None]:
    """`main` with the commands' error handling: a user error is one line and exit status 2, Ctrl-C
    one line and 130, a bug keeps its traceback (for a command that parses its flags itself)."""

    def guarded_main(argv):
        try:
            return main(argv)
        except KeyboardInterrupt as interrupt:
            # A KeyboardInterrupt subclass may say what was kept (training: the step it saved).
            detail = f": {interrupt}" if str(interrupt) else ""
            print(f"\n{command}: interrupted{detail}", file=sys.stderr, flush=True)
            return 130
        except app.UsageError as error:
            print_error(command, error)
            return error.exitcode if error.exitcode is not None else 2
        except Exception as error:  # pylint: disable=broad-except
            if not is_user_error(error):
                raise
            print_error(command, user_message(error))
            return 2

    return guarded_main
