"""No input can produce a 500 (spec: Client-Server API, "API Standards" and "Standard error
response"): every endpoint the client and federation listener serves, swept with hostile bodies,
wrongly typed fields, invalid path parameters and query values.

Every answer must be below 500, and every 4xx a JSON object with ``errcode`` and ``error``, an
error code the spec defines and a status the spec documents for the operation (or a generic one).
Failures are collected over the whole sweep and reported together.
"""

import re
from collections.abc import Iterator

from myelin.api.auth import AuthKind
from myelin.api.http import Endpoint
from tests.robustness.conftest import Swept
from tests.robustness.payloads import (
    BAD_ENUM,
    BAD_QUERY_VALUES,
    BAD_SEGMENTS,
    RAW_BODIES,
    encode,
    mutated_bodies,
)
from tests.robustness.spec_index import Operation, find_operation
from tests.robustness.world import World, ensure_session, judge, sweep_order, valid_segment

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_BODY_METHODS = ("POST", "PUT", "DELETE")


def fill(endpoint: Endpoint, world: World, bad: tuple[str, str] | None = None) -> str:
    """The endpoint's path with valid parameters, one of them replaced by ``bad``."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if bad is not None and bad[0] == name:
            return bad[1]
        return valid_segment(name, world, endpoint.path)

    return _PARAM.sub(value, endpoint.path)


def path_params(endpoint: Endpoint) -> list[str]:
    return _PARAM.findall(endpoint.path)


def report(failures: list[str]) -> str:
    shown = "\n".join(failures[:400])
    return f"{len(failures)} failures:\n{shown}"


def example_body(operation: Operation | None) -> bytes:
    if operation is not None and operation.body_example is not None:
        return encode(operation.body_example)
    return b"{}"


async def sweep(swept: Swept, cases: "CaseFn", *, body_methods_only: bool = False) -> list[str]:
    failures: list[str] = []
    for endpoint in sweep_order(swept.endpoints):
        if body_methods_only and endpoint.method not in _BODY_METHODS:
            continue
        operation = find_operation(endpoint.method, endpoint.path)
        for path, body in cases(endpoint, operation, swept.world):
            outcome = await swept.world.send(endpoint, path, body)
            problem = judge(outcome, operation)
            if problem is not None:
                failures.append(f"[{endpoint.name}] {problem}")
        if endpoint.auth is AuthKind.ACCESS_TOKEN:
            await ensure_session(swept.world)
    return failures


Cases = Iterator[tuple[str, bytes | None]]


class CaseFn:
    """A callable giving the (path, body) cases of one endpoint (typed for mypy)."""

    def __call__(self, endpoint: Endpoint, operation: Operation | None, world: World) -> Cases:
        raise NotImplementedError


class RawBodies(CaseFn):
    def __call__(self, endpoint: Endpoint, operation: Operation | None, world: World) -> Cases:
        for _, raw in RAW_BODIES:
            yield fill(endpoint, world), raw


class WrongFields(CaseFn):
    def __call__(self, endpoint: Endpoint, operation: Operation | None, world: World) -> Cases:
        if operation is None or operation.body_schema is None:
            return
        for _, body in mutated_bodies(operation.body_schema, operation.body_example):
            yield fill(endpoint, world), encode(body)


class BadPathParams(CaseFn):
    def __call__(self, endpoint: Endpoint, operation: Operation | None, world: World) -> Cases:
        body = example_body(operation) if endpoint.method in _BODY_METHODS else None
        for name in path_params(endpoint):
            for segment in BAD_SEGMENTS:
                yield fill(endpoint, world, (name, segment)), body


# Query parameters tried on endpoints the spec does not define (admin APIs, legacy media,
# unstable endpoints), as integers: the names such endpoints parse.
GENERIC_QUERY = {
    name: {"type": "integer"}
    for name in ("limit", "from", "to", "dir", "since", "timeout", "before_ts", "size_gt")
} | {name: {"type": "string"} for name in ("filename", "order_by", "keep_profiles", "version")}


class BadQueryParams(CaseFn):
    def __call__(self, endpoint: Endpoint, operation: Operation | None, world: World) -> Cases:
        query = operation.query if operation is not None else GENERIC_QUERY
        if not query:
            return
        body = example_body(operation) if endpoint.method in _BODY_METHODS else None
        path = fill(endpoint, world)
        for name, schema in sorted(query.items()):
            kind = schema.get("type") if isinstance(schema, dict) else None
            values = list(BAD_QUERY_VALUES.get(kind if isinstance(kind, str) else "string", []))
            if isinstance(schema, dict) and "enum" in schema:
                values.append(BAD_ENUM)
            if kind != "string":
                values += BAD_QUERY_VALUES["string"][:3]
            for value in values:
                yield f"{path}?{name}={value}", body
            yield f"{path}?{name}=1&{name}=2", body


async def test_hostile_raw_bodies(swept: Swept) -> None:
    failures = await sweep(swept, RawBodies(), body_methods_only=True)
    assert not failures, report(failures)


async def test_fields_of_the_wrong_type(swept: Swept) -> None:
    failures = await sweep(swept, WrongFields(), body_methods_only=True)
    assert not failures, report(failures)


async def test_invalid_path_parameters(swept: Swept) -> None:
    failures = await sweep(swept, BadPathParams())
    assert not failures, report(failures)


async def test_invalid_query_parameters(swept: Swept) -> None:
    failures = await sweep(swept, BadQueryParams())
    assert not failures, report(failures)


async def test_missing_and_unknown_tokens(swept: Swept) -> None:
    """Without a token: 401 M_MISSING_TOKEN; with an unknown one: 401 M_UNKNOWN_TOKEN."""
    failures: list[str] = []
    world = swept.world
    for endpoint in sweep_order(swept.endpoints):
        if endpoint.auth is not AuthKind.ACCESS_TOKEN:
            continue
        path = fill(endpoint, world)
        for headers, errcode in (
            ({}, "M_MISSING_TOKEN"),
            ({"Authorization": "Bearer not-a-token"}, "M_UNKNOWN_TOKEN"),
            ({"Authorization": "Bearer \u00e9\u202e"}, "M_UNKNOWN_TOKEN"),
        ):
            outcome = await world.send(endpoint, path, b"{}", authenticated=False, headers=headers)
            answered = outcome.method == "HEAD" or errcode.encode() in outcome.body
            if outcome.status != 401 or not answered:
                failures.append(
                    f"[{endpoint.name}] {outcome.description} {headers}: "
                    f"{outcome.status} {outcome.body[:200]!r}, expected 401 {errcode}"
                )
    assert not failures, report(failures)
