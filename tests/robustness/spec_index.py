"""The spec's OpenAPI operations, indexed by method and path (spec: Client-Server API, "API
Standards": standard error responses; the definitions in data/api/client-server/).

Each operation gives what the robustness sweep needs: its parameters, its request body schema and
example, and the HTTP statuses it documents. ``spec_errcodes`` is every ``M_*`` error code the
spec text and definitions name.
"""

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tests.api.openapi import API_DIR, SPEC_DIR, _inline, _load

_TEMPLATE_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_ERRCODE = re.compile(r"\bM_[A-Z][A-Z_]*[A-Z]\b")


@dataclass(frozen=True)
class Operation:
    """One OpenAPI operation, its ``$ref``s inlined."""

    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    path_params: dict[str, Any] = field(default_factory=dict)
    body_schema: Any = None
    body_example: Any = None
    statuses: frozenset[int] = frozenset()


def route_key(method: str, path: str) -> tuple[str, str]:
    """``(METHOD, path)`` with every ``{param}`` (and aiohttp's ``{param:regex}``) as ``{}``."""
    return method.upper(), _TEMPLATE_PARAM.sub("{}", path.rstrip("/") or "/")


def _base_path(document: Any) -> str:
    for server in document.get("servers", []):
        base = server.get("variables", {}).get("basePath", {}).get("default")
        if isinstance(base, str):
            return base
    return ""


def _example_of(content: Any) -> Any:
    if not isinstance(content, dict):
        return None
    if "example" in content:
        return content["example"]
    examples = content.get("examples")
    if isinstance(examples, dict):
        for example in examples.values():
            if isinstance(example, dict) and "value" in example:
                return example["value"]
    schema = content.get("schema")
    if isinstance(schema, dict) and "example" in schema:
        return schema["example"]
    return None


def _operation(method: str, path: str, raw: Any, file: Any) -> Operation:
    operation = _inline(raw, file)
    query: dict[str, Any] = {}
    path_params: dict[str, Any] = {}
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") == "query":
            query[parameter["name"]] = schema
        elif parameter.get("in") == "path":
            path_params[parameter["name"]] = schema
    body_schema = None
    body_example = None
    content = operation.get("requestBody", {}).get("content", {})
    json_content = content.get("application/json")
    if json_content is not None:
        body_schema = json_content.get("schema")
        body_example = _example_of(json_content)
    statuses = frozenset(int(code) for code in operation.get("responses", {}) if code.isdigit())
    return Operation(method, path, query, path_params, body_schema, body_example, statuses)


@cache
def spec_operations() -> dict[tuple[str, str], Operation]:
    """Every Client-Server and Server-Server operation by ``route_key``."""
    operations: dict[tuple[str, str], Operation] = {}
    files = [
        *(API_DIR / "client-server").glob("*.yaml"),
        *(API_DIR / "server-server").glob("*.yaml"),
    ]
    for file in sorted(files):
        document = _load(file)
        base = _base_path(document)
        for path, methods in (document.get("paths") or {}).items():
            for method, raw in methods.items():
                if method.lower() not in ("get", "put", "post", "delete"):
                    continue
                full = base + path
                operations[route_key(method, full)] = _operation(method.upper(), full, raw, file)
    return operations


def find_operation(method: str, path: str) -> Operation | None:
    """The spec's operation for an endpoint; a state path without ``{stateKey}`` is the one
    with an empty state key; HEAD is GET's."""
    operations = spec_operations()
    if method.upper() == "HEAD":
        method = "GET"  # HTTP: a GET without the body
    found = operations.get(route_key(method, path))
    if found is None and path.endswith("/state/{eventType}"):
        found = operations.get(route_key(method, path + "/{stateKey}"))
    return found


@cache
def spec_errcodes() -> frozenset[str]:
    """Every error code the spec names (prose and API definitions)."""
    codes: set[str] = set()
    for folder, pattern in ((SPEC_DIR / "content", "*.md"), (API_DIR, "*.yaml")):
        for file in folder.rglob(pattern):
            codes.update(_ERRCODE.findall(file.read_text(encoding="utf-8")))
    return frozenset(codes)
