"""absl flags derived from an options dataclass, so that every option is written once.

A field of an options dataclass (`ModelConfig`, `StageSettings`, `TrainOptions`,
`ConvertOptions`, `DecodeOptions`) is the one place an option lives: its name is the flag's name
(with an optional prefix, e.g. `cnn_` for a stage), its type and default the flag's, the
comment above it the flag's help. `define(...)` defines the flags; the returned `DataclassFlags`
reads them back into the dataclass, whose own validation then runs (for library users too) and
reaches the user as one line naming the flag (see `errors.OptionError`).

Field metadata (`dataclasses.field(metadata=...)`) refines a field: `"flag"` another flag name,
`"choices"` the accepted values, `"path"` a path (`~` expanded, quotes refused), `"help"` the help
when there is no comment, `"flag": None` no flag at all. This module imports no TensorFlow.
"""

import dataclasses
import inspect
import re
import types
import typing

from absl import flags

from s_cnn_rnn import command_line
from s_cnn_rnn import errors

# Flags defined here belong to the module that calls `define` (their --help section).
flags.disclaim_key_flags()

_FIELD_LINE = re.compile(r"^\s+(\w+)\s*:")


def field_comments(cls) -> dict[str, str]:
    """{field name: the comment lines right above it in the class body, joined}."""
    try:
        lines, _ = inspect.getsourcelines(cls)
    except (OSError, TypeError):  # no source (a frozen install): help falls back to metadata
        return {}
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("class ")) + 1  # after decorators
    body = [line for line in lines[start:] if line.strip()]
    indent = len(body[0]) - len(body[0].lstrip()) if body else 0  # fields sit at the class body's indent
    comments, pending = {}, []
    for line in body:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = _FIELD_LINE.match(line)
        if match and pending and len(line) - len(line.lstrip()) == indent:
            comments[match.group(1)] = " ".join(pending)
        pending = []
    return comments


def _unwrap_optional(annotation):
    """`Optional[X]` / `X | None` -> X."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


@dataclasses.dataclass
class DataclassFlags:
    """The flags defined from a dataclass, and the way back.

    Attributes:
      cls: the dataclass.
      flag_names: {field name: flag name}.
      flag_values: the FlagValues they live in.
    """

    cls: type
    flag_names: dict
    flag_values: flags.FlagValues

    def values(self) -> dict:
        """{field name: the flag's parsed value}."""
        return {field: self.flag_values[name].value for field, name in self.flag_names.items()}

    def merged(self, other: "DataclassFlags") -> "DataclassFlags":
        """Both flag sets as one (the same dataclass, defined in two calls)."""
        return DataclassFlags(self.cls, dict(self.flag_names, **other.flag_names), self.flag_values)

    def build(self, **fixed):
        """The dataclass from the flags (plus `fixed` fields); its `OptionError` names the flag.

        Raises:
          errors.OptionError: a field's validation failed; the message names `--<flag>=<value>`.
        """
        values = dict(self.values(), **fixed)  # a fixed value wins over its flag
        try:
            return self.cls(**values)
        except errors.OptionError as error:
            field = getattr(error, "field", None)
            if field not in self.flag_names:
                raise
            value = values[field]
            flag = f"--{self.flag_names[field]}" + ("" if value is None else f"={value!r}")
            raise errors.OptionError(f"{flag}: {error.reason}", field=field, reason=error.reason) from error


def define(cls, *, fields: typing.Iterable[str] | None = None, exclude: typing.Iterable[str] = (),
           prefix: str = "", help_prefix: str = "", choices: dict | None = None, defaults: dict | None = None,
           paths: typing.Iterable[str] = (), flag_values: flags.FlagValues = flags.FLAGS) -> DataclassFlags:
    """Defines one absl flag per field of `cls`.

    Args:
      cls: an options dataclass.
      fields: the fields to define, in order (default: all but `exclude` and metadata `"flag": None`).
      exclude: fields that get no flag.
      prefix: put before every flag name (`cnn_` -> `--cnn_train_steps`).
      help_prefix: put before every help text.
      choices: {field: accepted values} (overrides metadata `"choices"`): an enum flag.
      defaults: {field: flag default} where the flag's default differs from the field's.
      paths: fields that are paths (besides metadata `"path"`).
      flag_values: where to define them.

    Returns:
      The `DataclassFlags` to read them back with.
    """
    choices, defaults, paths = dict(choices or {}), dict(defaults or {}), set(paths)
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    by_name = {field.name: field for field in dataclasses.fields(cls)}
    if fields is None:
        fields = [name for name, field in by_name.items()
                  if name not in exclude and field.metadata.get("flag", name) is not None]
    flag_names = {}
    for name in fields:
        field = by_name[name]
        flag_name = prefix + field.metadata.get("flag", name)
        help_text = help_prefix + (field.metadata.get("help") or comments.get(name) or name.replace("_", " "))
        default = defaults.get(name, _default(field))
        kind = _unwrap_optional(hints[name])
        allowed = choices.get(name, field.metadata.get("choices"))
        is_path = name in paths or field.metadata.get("path", False)
        common = {"flag_values": flag_values}
        if allowed is not None:
            flags.DEFINE_enum(flag_name, default, list(allowed), help_text, **common)
        elif kind is bool:
            flags.DEFINE_bool(flag_name, default, help_text, **common)
        elif kind is int:
            flags.DEFINE_integer(flag_name, default, help_text, **common)
        elif kind is float:
            flags.DEFINE_float(flag_name, default, help_text, **common)
        elif kind is str:
            (command_line.define_path if is_path else flags.DEFINE_string)(flag_name, default, help_text, **common)
        elif typing.get_origin(kind) is list:
            (command_line.define_path_list if is_path else flags.DEFINE_list)(flag_name, default, help_text,
                                                                               **common)
        else:
            raise TypeError(f"{cls.__name__}.{name}: no flag type for {hints[name]!r}")
        flag_names[name] = flag_name
    return DataclassFlags(cls, flag_names, flag_values)
