"""Random JSON bodies for every body-taking endpoint (spec: Client-Server API, "API Standards":
requests are JSON objects the server validates; Server-Server API, "Request Authentication":
federation requests are signed, here by this server itself). Hypothesis draws, per endpoint,
either any JSON value or the spec's example body with random values in its fields and nested
objects; no answer may be a 5xx or a malformed error. Derandomized and bounded: reproducible.
"""

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myelin.api.auth import AuthKind
from myelin.api.http import Endpoint
from tests.robustness.conftest import Swept
from tests.robustness.payloads import UNICODE_EDGES, encode, properties
from tests.robustness.spec_index import find_operation
from tests.robustness.test_client_sweep import fill, report
from tests.robustness.test_federation_auth import _signed
from tests.robustness.world import DESTRUCTIVE, ensure_session, judge

EXAMPLES_PER_ENDPOINT = 25

_text = st.one_of(st.text(max_size=30), st.sampled_from(UNICODE_EDGES))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_text, children, max_size=4)
    ),
    max_leaves=12,
)


def _targets(swept: Swept) -> list[Endpoint]:
    return sorted(
        (
            e
            for e in swept.endpoints
            if e.method in ("POST", "PUT")
            and not any(word in e.name for word in DESTRUCTIVE)
            and "upload" not in e.name
        ),
        key=lambda e: (e.path, e.method),
    )


@st.composite
def bodies(draw: st.DrawFn, endpoint: Endpoint) -> Any:
    operation = find_operation(endpoint.method, endpoint.path)
    if operation is None or draw(st.integers(0, 3)) == 0:
        return draw(json_values)
    example = operation.body_example if isinstance(operation.body_example, dict) else {}
    body = dict(example)
    fields = sorted(properties(operation.body_schema))
    for name in draw(st.lists(st.sampled_from(fields), max_size=3)) if fields else []:
        value = draw(json_values)
        nested = body.get(name)
        if isinstance(nested, dict) and nested and draw(st.booleans()):
            inner = draw(st.sampled_from(sorted(nested)))
            value = {**nested, inner: value}
        body[name] = value
    return body


async def test_random_json_bodies(swept: Swept) -> None:
    loop = asyncio.get_running_loop()
    world = swept.world
    failures: list[str] = []

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)

    def fuzz(endpoint: Endpoint) -> None:
        operation = find_operation(endpoint.method, endpoint.path)

        @settings(
            max_examples=EXAMPLES_PER_ENDPOINT,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(body=bodies(endpoint))
        def check(body: Any) -> None:
            path, raw = fill(endpoint, world), encode(body)
            headers = {}
            if endpoint.auth is AuthKind.X_MATRIX:
                headers = _signed(swept, endpoint.method, path, raw)
            outcome = run(world.send(endpoint, path, raw, headers=headers))
            problem = judge(outcome, operation)
            if problem is not None:
                failures.append(f"[{endpoint.name}] {problem}")

        check()
        run(ensure_session(world))

    for endpoint in _targets(swept):
        await asyncio.to_thread(fuzz, endpoint)
    assert not failures, report(failures)
