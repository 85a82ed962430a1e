"""The one check every command runs before it may create or replace an output directory.

`--overwrite` replaces a directory as a whole, so a wrong path must never reach it: an output
that is, contains or lies inside one of the command's inputs (image folders, annotation and
split files, the model dir) is refused whatever the flags say, and an existing directory is
replaced only if it is recognisably this command's own output (a converted data dir with our
manifest.json and nothing else of note; an export with our saved_model.pb and
assets.extra/model_info.json). Anything else is described (a model dir, a data dir, a folder
of 4 entries such as "a.jpg") so that the user sees what would have been lost.

Pure Python: no TensorFlow.
"""

import dataclasses
import json
import os
from typing import Callable, Iterable, Sequence

from s_cnn_rnn import errors


class UnsafeOutputError(errors.UserError, FileExistsError):
    """The output path would replace an input or a directory that is not ours; one line, names both."""


@dataclasses.dataclass(frozen=True)
class OutputKind:
    """What a command writes, for recognising its earlier outputs.

    Attributes:
      description: e.g. "a converted data dir".
      command: e.g. "s-cnn-rnn-convert" (named in messages).
      flag: the output flag, e.g. "--output_dir".
      foreign_entry: `dir -> None` if `dir` is our output of this kind, else the first entry
        (or a short reason) that shows it is not.
    """

    description: str
    command: str
    flag: str
    foreign_entry: Callable[[str], str | None]


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _first_unexpected(directory: str, expected: Iterable[str]) -> str | None:
    expected = set(expected)
    for name in sorted(os.listdir(directory)):
        if name not in expected:
            return name
    return None


def data_dir_foreign_entry(directory: str) -> str | None:
    """None for a directory `s-cnn-rnn-convert` wrote: our manifest.json and only what it lists."""
    manifest = _read_json(os.path.join(directory, "manifest.json"))
    if not isinstance(manifest, dict) or not {"dataset", "splits", "vocabularies"} <= set(manifest):
        return "no manifest.json written by s-cnn-rnn-convert"
    written = {"manifest.json", "vocab", "raw"}  # raw/: the synthetic dataset's generated images
    for split in manifest["splits"].values():
        written.update(shard.split("/")[0] for shard in split.get("shards", []))
    unexpected = _first_unexpected(directory, written)
    return None if unexpected is None else repr(unexpected)


_EXPORT_ENTRIES = ("saved_model.pb", "variables", "assets", "assets.extra", "fingerprint.pb")


def export_dir_foreign_entry(directory: str) -> str | None:
    """None for a directory `s-cnn-rnn-export` wrote: saved_model.pb and our model_info.json."""
    if not os.path.isfile(os.path.join(directory, "saved_model.pb")) or not os.path.isfile(
        os.path.join(directory, "assets.extra", "model_info.json")
    ):
        return "no saved_model.pb with assets.extra/model_info.json written by s-cnn-rnn-export"
    unexpected = _first_unexpected(directory, _EXPORT_ENTRIES)
    return None if unexpected is None else repr(unexpected)


DATA_DIR = OutputKind("a converted data dir", "s-cnn-rnn-convert", "--output_dir", data_dir_foreign_entry)
EXPORT_DIR = OutputKind("a SavedModel export", "s-cnn-rnn-export", "--export_dir", export_dir_foreign_entry)


def describe(directory: str) -> str:
    """What an existing directory looks like, in a few words."""
    if os.path.isfile(os.path.join(directory, "model_config.json")):
        return "a model dir (it has model_config.json)"
    if os.path.isfile(os.path.join(directory, "manifest.json")):
        return "a data dir (it has manifest.json)"
    if os.path.isfile(os.path.join(directory, "saved_model.pb")):
        return "a SavedModel (it has saved_model.pb)"
    entries = sorted(os.listdir(directory))
    return f"a folder of {len(entries)} entries such as {entries[0]!r}"


def _relation(output: str, source: str) -> str | None:
    """How the real path `output` relates to the real path `source`: is / contains / lies inside."""
    if output == source:
        return "is"
    if os.path.commonpath([output, source]) == output:
        return "contains"
    if os.path.commonpath([output, source]) == source:
        return "lies inside"
    return None


def check_output_dir(output_dir: str, inputs: Sequence[tuple[str, str | None]], kind: OutputKind,
                     overwrite: bool) -> None:
    """Refuses an output directory that would destroy an input or a directory that is not ours.

    Args:
      output_dir: the directory the command will create or replace.
      inputs: (flag, path) of every input the command reads, e.g. ("--image_dir", "raw/images");
        None paths are skipped.
      kind: what the command writes (`DATA_DIR`, `EXPORT_DIR`).
      overwrite: the user asked to replace an existing output.

    Raises:
      UnsafeOutputError: the output is, contains or lies inside an input; it is a file; it is
        a non-empty directory that is not our output of this kind; or it is ours and not
        `overwrite`. The message names the path, what it is, and what to do.
    """
    shown = f"{kind.flag}={output_dir}"
    output = os.path.realpath(os.path.expanduser(output_dir))
    for flag, path in inputs:
        if not path:
            continue
        relation = _relation(output, os.path.realpath(os.path.expanduser(path)))
        if relation:
            raise UnsafeOutputError(
                f"{shown} {relation} the input {flag}={path}: writing there would replace or mix with "
                f"{kind.command}'s input; choose a separate {kind.flag}"
            )
    if os.path.isfile(output):
        raise UnsafeOutputError(f"{shown} is a file; name a directory")
    if not os.path.isdir(output) or not os.listdir(output):
        return
    foreign = kind.foreign_entry(output)
    if foreign is not None:
        raise UnsafeOutputError(
            f"{shown} is {describe(output)}, not {kind.description} ({foreign}); {kind.command} replaces "
            f"only its own output, even with --overwrite: choose another {kind.flag}"
        )
    if not overwrite:
        raise UnsafeOutputError(
            f"{shown} already exists ({kind.description}); pass --overwrite to replace it, or choose another "
            f"{kind.flag}"
        )
