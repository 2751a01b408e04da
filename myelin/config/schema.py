"""Configuration declarations and their validation (Myelin's homeserver.yaml; no spec section).

Every option is declared once, as a field of a frozen dataclass made with ``option(...)``: its
Python type, default and documentation live together. ``parse_section`` validates a YAML mapping
against such a dataclass, collecting every problem with the path of the bad key and how to fix it;
``myelin.config.render`` writes the commented YAML and the Markdown reference from the same fields.
"""

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")

# A check gets the parsed value and returns a problem ("expected ...") or None.
Check = Callable[[Any], str | None]
# A converter turns the raw YAML value into the field's type or raises ValueError("expected ...").
Converter = Callable[[Any], Any]

REQUIRED: Any = dataclasses.MISSING


@dataclass(frozen=True)
class OptionInfo:
    """The documentation and extra rules of one option, kept in the dataclass field's metadata."""

    doc: str
    fix: str
    example: Any = None
    check: Check | None = None
    convert: Converter | None = None
    type_name: str | None = None


def option(
    default: Any = REQUIRED,
    *,
    doc: str,
    fix: str = "",
    example: Any = None,
    check: Check | None = None,
    convert: Converter | None = None,
    type_name: str | None = None,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """Declare an option: a dataclass field carrying its documentation.

    ``fix`` says what to write instead when the value is wrong; ``example`` is shown in the
    generated configuration for options that are unset by default; ``check`` adds a rule beyond
    the type; ``convert`` parses values that YAML cannot type (durations); ``type_name`` names
    the type in the documentation when the Python type does not say it well.
    """
    info = OptionInfo(doc, fix, example, check, convert, type_name)
    metadata = {"myelin": info}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def declared_fields(cls: Any) -> list[dataclasses.Field[Any]]:
    """The options of a section (fields marked ``internal`` are not options)."""
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def option_info(field: dataclasses.Field[Any]) -> OptionInfo:
    info = field.metadata.get("myelin")
    if not isinstance(info, OptionInfo):
        raise TypeError(f"field {field.name} was not declared with option()")
    return info


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a configuration: where, what, and how to fix it."""

    path: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every error found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Report:
    """Collects problems (errors) and warnings while a configuration is parsed."""

    problems: list[Problem] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def error(self, path: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(path, message, fix))


# ---- types -------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    """A value as it would appear in YAML, for 'got ...' in error messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def type_name(tp: Any) -> str:
    """A human name for a declared type ('integer', 'list of string', ...)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is str:
        return "string"
    if tp is bool:
        return "boolean"
    if tp is int:
        return "integer"
    if tp is Any:
        return "any value"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    if origin is Literal:
        return " | ".join(str(a) for a in args)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " | ".join(type_name(a) for a in inner) + " (optional)"
    if origin is tuple:
        return f"list of {type_name(args[0])}"
    if origin in (dict, Mapping):
        return f"mapping of string to {type_name(args[1])}"
    return getattr(tp, "__name__", str(tp))


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _convert(value: Any, tp: Any, path: str, report: Report) -> Any:
    """Check ``value`` against ``tp``; return the typed value or ``dataclasses.MISSING``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    bad = dataclasses.MISSING
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        report.error(path, f"expected true or false, got {_describe(value)}")
        return bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        report.error(path, f"expected an integer, got {_describe(value)}")
        return bad
    if tp is str:
        if isinstance(value, str):
            return value
        report.error(path, f"expected a string, got {_describe(value)}")
        return bad
    if origin is Literal:
        if value in args and not isinstance(value, bool):
            return value
        choices = ", ".join(str(a) for a in args)
        report.error(path, f"expected one of {choices}, got {_describe(value)}")
        return bad
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if value is None:
            return None
        return _convert(value, inner[0], path, report)
    if origin is tuple:
        if not isinstance(value, list):
            report.error(path, f"expected a list, got {_describe(value)}")
            return bad
        items = [_convert(item, args[0], _join(path, i), report) for i, item in enumerate(value)]
        return bad if bad in items else tuple(items)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            report.error(path, f"expected a mapping, got {_describe(value)}")
            return bad
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                report.error(path, f"keys must be strings, got {_describe(key)}")
                return bad
            result[key] = _convert(item, args[1], _join(path, key), report)
        return bad if bad in result.values() else result
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            report.error(path, f"expected a mapping, got {_describe(value)}")
            return bad
        return parse_section(tp, value, path, report)
    raise TypeError(f"unsupported option type {tp!r} at {path}")


def parse_section(
    cls: type[T], raw: Mapping[str, Any], path: str, report: Report, *, warn_unknown: bool = False
) -> Any:
    """Validate ``raw`` against the dataclass ``cls``; return an instance or ``MISSING``.

    Unknown keys are errors (with a suggestion) unless ``warn_unknown`` or the class sets
    ``WARN_UNKNOWN_KEYS = True`` (sections where Synapse configs carry options Myelin does not
    have), where they are warnings.
    """
    warn_unknown = warn_unknown or bool(getattr(cls, "WARN_UNKNOWN_KEYS", False))
    fields = {f.name: f for f in declared_fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown_keys = [k for k in raw if k not in fields]
    for key in unknown_keys:
        where = _join(path, str(key))
        import difflib  # only for a key that needs a suggestion

        close = difflib.get_close_matches(str(key), list(fields), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "remove it"
        if warn_unknown:
            report.warnings.append(f"{where}: unknown option, ignored ({hint})")
        else:
            report.error(where, "unknown option", hint)
    values: dict[str, Any] = {}
    failed = False
    for name, field in fields.items():
        info = option_info(field)
        where = _join(path, name)
        if name not in raw:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                report.error(where, "this option is required", info.fix)
                failed = True
            continue
        value = raw[name]
        before = len(report.problems)
        if info.convert is not None:
            try:
                value = info.convert(value)
            except ValueError as e:
                report.error(where, f"{e}, got {_describe(value)}", info.fix)
                failed = True
                continue
        else:
            value = _convert(value, hints[name], where, report)
        if value is dataclasses.MISSING:
            # Add the fix to the first problem this option caused.
            if info.fix and len(report.problems) > before and not report.problems[before].fix:
                first = report.problems[before]
                report.problems[before] = Problem(first.path, first.message, info.fix)
            failed = True
            continue
        if info.check is not None and value is not None:
            problem = info.check(value)
            if problem is not None:
                report.error(where, f"{problem}, got {_describe(raw[name])}", info.fix)
                failed = True
                continue
        values[name] = value
    if failed:
        return dataclasses.MISSING
    return cls(**values)


# ---- reusable checks and converters ------------------------------------------------------------

_DURATION_UNITS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 31_536_000_000,
}


def parse_duration(value: Any) -> int:
    """A duration in milliseconds: an integer (ms) or a string like ``"30s"`` or ``"1d"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("expected a positive duration")
        return value
    if isinstance(value, str):
        text = value.strip()
        for suffix in ("ms", "s", "m", "h", "d", "w", "y"):
            number = text.removesuffix(suffix)
            if number != text and number.isdigit():
                return int(number) * _DURATION_UNITS[suffix]
        if text.isdigit():
            return int(text)
    raise ValueError("expected a duration: milliseconds, or a number with s, m, h, d, w or y")


def port_check(value: int) -> str | None:
    if not 1 <= value <= 65535:
        return "expected an integer between 1 and 65535"
    return None


def positive_check(value: int) -> str | None:
    return None if value > 0 else "expected a positive integer"
