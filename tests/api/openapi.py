"""Validate responses against the spec's OpenAPI definitions (data/api/ of the Matrix spec).

The spec is looked for next to the repository, as ../shared/matrix-spec; tests that need it
are skipped (with that reason) when it is absent.
"""

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "matrix-spec"
API_DIR = SPEC_DIR / "data" / "api"


def require_spec() -> None:
    if not API_DIR.is_dir():
        pytest.skip("the Matrix spec is not available at ../shared/matrix-spec")


@cache
def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _pointer(document: Any, fragment: str) -> Any:
    for part in fragment.strip("/").split("/") if fragment.strip("/") else []:
        document = document[part.replace("~1", "/").replace("~0", "~")]
    return document


def _inline(node: Any, base: Path, depth: int = 0) -> Any:
    """``node`` with every ``$ref`` (relative file and/or JSON pointer) replaced by its target.

    Examples are left alone: they are not part of the schema.
    """
    if depth > 50:
        raise RecursionError("$ref chain too deep")
    if isinstance(node, dict):
        if "$ref" in node:
            target, _, fragment = str(node["$ref"]).partition("#")
            path = (base.parent / target).resolve() if target else base
            resolved = _pointer(_load(path), fragment)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            merged = {**resolved, **siblings} if isinstance(resolved, dict) else resolved
            return _inline(merged, path, depth + 1)
        return {
            key: value if key in ("example", "examples") else _inline(value, base, depth + 1)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_inline(item, base, depth + 1) for item in node]
    return node


def response_schema(api_file: str, path: str, method: str, status: int) -> Any:
    """The JSON schema of a response, e.g. ("client-server/versions.yaml", "/versions", ...)."""
    require_spec()
    file = API_DIR / api_file
    operation = _load(file)["paths"][path][method.lower()]
    response = operation["responses"][str(status)]
    response = _inline(response, file)
    return response["content"]["application/json"]["schema"]


def request_schema(api_file: str, path: str, method: str) -> Any:
    """The JSON schema of a request body, e.g. ("push-gateway/push_notifier.yaml", "/notify",
    "post"): what a server sends to an API it calls."""
    require_spec()
    file = API_DIR / api_file
    operation = _load(file)["paths"][path][method.lower()]
    body = _inline(operation["requestBody"], file)
    return body["content"]["application/json"]["schema"]


def error_schema() -> Any:
    require_spec()
    file = API_DIR / "client-server" / "definitions" / "errors" / "error.yaml"
    return _inline(_load(file), file)


def validate(instance: Any, schema: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``instance`` matches ``schema``."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(instance)


def validate_response(instance: Any, api_file: str, path: str, method: str, status: int) -> None:
    validate(instance, response_schema(api_file, path, method, status))
