"""The commented homeserver.yaml and docs/configuration.md, both rendered from the declarations.

``generate_config`` fills in the essentials (server name, data directory, port) so that its output
is a working configuration; ``configuration_markdown`` is the reference of every option.
"""

import dataclasses
import textwrap
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from myelin.config.homeserver import HomeserverConfig
from myelin.config.schema import declared_fields, option_info, type_name

_WIDTH = 96


def to_plain(value: Any) -> Any:
    """Dataclasses, tuples and mappings as plain YAML data (``None`` fields left out)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_plain(getattr(value, f.name))
            for f in declared_fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False, allow_unicode=True)


def _comment(text: str, indent: str, hanging: str = "") -> list[str]:
    return [
        f"{indent}# {line}"
        for line in textwrap.wrap(
            text, _WIDTH - len(indent) - 2, subsequent_indent=hanging, break_on_hyphens=False
        )
    ]


def _inline(value: Any) -> str:
    """A value as one line of flow-style YAML."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000).strip()
    return text.removesuffix("\n...").strip()


def _item_class(tp: Any) -> Any:
    """The dataclass inside ``tuple[X, ...]`` or ``Mapping[str, X]``, else None."""
    args = typing.get_args(tp)
    inner = args[-2] if typing.get_origin(tp) is tuple else (args[-1] if args else None)
    return inner if isinstance(inner, type) and dataclasses.is_dataclass(inner) else None


def _field_lines(cls: Any, values: Mapping[str, Any], indent: str) -> list[str]:
    """One commented block per option of ``cls``; nested sections rendered recursively."""
    lines: list[str] = []
    hints = typing.get_type_hints(cls)
    for field in declared_fields(cls):
        info = option_info(field)
        tp = hints[field.name]
        lines.append("")
        lines.extend(_comment(info.doc, indent))
        item_cls = _item_class(tp)
        if item_cls is not None:
            lines.append(f"{indent}# Each entry has:")
            for sub in declared_fields(item_cls):
                lines.extend(_comment(f"  {sub.name}: {option_info(sub).doc}", indent, "    "))
        value = values.get(field.name)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            lines.append(f"{indent}{field.name}:")
            merged = {**_default_values(tp), **(value or {})}
            lines.extend(_field_lines(tp, merged, indent + "  ")[1:])
            continue
        if value is None:
            if info.example is None:
                lines.append(f"{indent}#{field.name}:")
                continue
            for text in _dump({field.name: info.example}).splitlines():
                lines.append(f"{indent}#{text}")
            continue
        for text in _dump({field.name: value}).splitlines():
            lines.append(f"{indent}{text}")
    return lines


def _default_values(cls: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in declared_fields(cls):
        if field.default is not dataclasses.MISSING:
            values[field.name] = to_plain(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            values[field.name] = to_plain(field.default_factory())
    return values


def generate_config(server_name: str, data_dir: Path | None = None, port: int = 8008) -> str:
    """A commented homeserver.yaml documenting every option, with working essentials.

    With ``data_dir``, files (database, signing key, media) go there as absolute paths; without
    it they are relative to wherever the configuration file is saved.
    """

    def path(name: str) -> str:
        return str(data_dir.resolve() / name) if data_dir is not None else name

    is_local = server_name.split(":", maxsplit=1)[0] in ("localhost", "127.0.0.1", "[::1]")
    values = _default_values(HomeserverConfig)
    values.update(
        server_name=server_name,
        public_baseurl=f"http://localhost:{port}/" if is_local else f"https://{server_name}/",
        listeners=[
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "x_forwarded": not is_local,
                "resources": [{"names": ["client", "federation"]}],
            }
        ],
        database={"name": "sqlite3", "args": {"database": path("homeserver.db")}},
        signing_key_path=path(f"{server_name.replace(':', '_')}.signing.key"),
        media_store_path=path("media_store"),
    )
    header = [
        "# Myelin homeserver configuration.",
        "#",
        "# Generated by `myelin generate-config`; every option is listed with its documentation.",
        "# Check it with `myelin check-config FILE`. Relative paths are relative to this file.",
    ]
    return "\n".join([*header, *_field_lines(HomeserverConfig, values, "")]) + "\n"


def _markdown_rows(cls: Any, prefix: str) -> list[str]:
    lines: list[str] = []
    hints = typing.get_type_hints(cls)
    for field in declared_fields(cls):
        info = option_info(field)
        tp = hints[field.name]
        name = f"{prefix}{field.name}"
        nested = isinstance(tp, type) and dataclasses.is_dataclass(tp)
        lines += [f"### `{name}`", "", info.doc, ""]
        lines.append(f"- Type: {info.type_name or type_name(tp)}")
        if field.default is not dataclasses.MISSING:
            default = to_plain(field.default)
            shown = "unset" if default is None else f"`{_inline(default)}`"
            lines.append(f"- Default: {shown}")
        elif field.default_factory is not dataclasses.MISSING and not nested:
            lines.append(f"- Default: `{_inline(to_plain(field.default_factory()))}`")
        elif not nested:
            lines.append("- Required")
        if info.example is not None:
            lines.append(f"- Example: `{_inline(info.example)}`")
        lines.append("")
        item_cls = _item_class(tp)
        if nested:
            lines += _markdown_rows(tp, f"{name}.")
        elif item_cls is not None:
            suffix = "[]" if typing.get_origin(tp) is tuple else ".<key>"
            lines += _markdown_rows(item_cls, f"{name}{suffix}.")
    return lines


def configuration_markdown() -> str:
    """docs/configuration.md: the reference of every option, from the declarations."""
    intro = [
        "# Configuration",
        "",
        "<!-- Generated by `myelin generate-config --format markdown`; do not edit by hand."
        " A test fails when this file is stale. -->",
        "",
        "Myelin reads one YAML file (`myelin run --config homeserver.yaml`). Key names follow"
        " Synapse where Synapse has the option; unknown top-level keys are reported as warnings"
        " and ignored, so a Synapse configuration can be checked with `myelin check-config`."
        " Relative paths are relative to the configuration file's directory. Durations are"
        " milliseconds or a number with a unit: `30s`, `5m`, `12h`, `1d`, `1w`, `1y`.",
        "",
        "`myelin generate-config --server-name example.org --data-dir /var/lib/myelin` prints"
        " a complete, commented configuration.",
        "",
        "## Options",
        "",
    ]
    return "\n".join([*intro, *_markdown_rows(HomeserverConfig, "")]).rstrip() + "\n"
