"""Federation endpoints refuse bad ``Authorization`` headers with 401 (spec: Server-Server API,
"Request Authentication"): missing, of another scheme, malformed, with missing parameters,
unknown keys, bad signatures or unreachable origins; never a 500.
"""

from typing import Any

import orjson

from myelin.api.auth import AuthKind
from myelin.core.canonical_json import encode_canonical_json
from myelin.core.errors import CanonicalJsonError
from myelin.federation.request_signing import sign_request
from tests.api.conftest import SERVER_NAME
from tests.robustness.conftest import Swept
from tests.robustness.spec_index import find_operation
from tests.robustness.test_client_sweep import (
    BadPathParams,
    BadQueryParams,
    RawBodies,
    WrongFields,
    fill,
    report,
)
from tests.robustness.world import judge, sweep_order

_SIG = "a" * 86


def _headers(key_id: str) -> list[dict[str, str]]:
    own = f'origin={SERVER_NAME},destination={SERVER_NAME},key="{key_id}"'
    elsewhere = f'origin={SERVER_NAME},destination=other.example,key="{key_id}"'
    unicode = "\u00fcn\u00efcode.example\u202e"
    return [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer some-token"},
        {"Authorization": "X-Matrix"},
        {"Authorization": "X-Matrix "},
        {"Authorization": "X-Matrix ,,,,"},
        {"Authorization": f"X-Matrix origin={SERVER_NAME}"},
        {"Authorization": 'X-Matrix origin="",key="",sig=""'},
        {"Authorization": 'X-Matrix origin="unterminated,key="ed25519:a",sig="b"'},
        {"Authorization": f'X-Matrix origin={SERVER_NAME},key="ed25519",sig="{_SIG}"'},
        {"Authorization": f'X-Matrix origin={SERVER_NAME},key="ed25519:nope",sig="{_SIG}"'},
        {"Authorization": f'X-Matrix {own},sig="{_SIG}"'},
        {"Authorization": f'X-Matrix {own},sig="***not base64***"'},
        {"Authorization": f'X-Matrix {own},sig=""'},
        {"Authorization": f'X-Matrix {elsewhere},sig="{_SIG}"'},
        {"Authorization": f'X-Matrix origin=127.0.0.1:1,key="ed25519:a",sig="{_SIG}"'},
        {"Authorization": f'X-Matrix origin=[::1]:1,key="ed25519:a",sig="{_SIG}"'},
        {"Authorization": f'X-Matrix origin={"a" * 300},key="ed25519:a",sig="{_SIG}"'},
        {"Authorization": f'X-Matrix origin="bad origin!",key="ed25519:a",sig="{_SIG}"'},
        {"Authorization": f'X-Matrix origin="{unicode}",key="ed25519:a",sig="{_SIG}"'},
        {"Authorization": f'X-Matrix origin=127.0.0.1:99999,key="ed25519:a",sig="{_SIG}"'},
        {"Authorization": f'X-Matrix origin=[::1,key="ed25519:a",sig="{_SIG}"'},
    ]


async def test_bad_x_matrix_headers_answer_401(swept: Swept) -> None:
    failures: list[str] = []
    world = swept.world
    key_id = swept.hs.server_keys.signing_key.key_id
    federation = [e for e in swept.endpoints if e.auth is AuthKind.X_MATRIX]
    assert federation, "the listener serves no X-Matrix endpoint"
    for endpoint in federation:
        operation = find_operation(endpoint.method, endpoint.path)
        path = fill(endpoint, world)
        body = b"{}" if endpoint.method in ("POST", "PUT") else None
        for headers in _headers(key_id):
            outcome = await world.send(endpoint, path, body, authenticated=False, headers=headers)
            problem = judge(outcome, operation)
            if problem is None and outcome.status != 401:
                problem = f"expected 401, got {outcome.status} {outcome.body[:200]!r}"
            if problem is not None:
                failures.append(f"[{endpoint.name}] {headers}: {problem}")
    assert not failures, report(failures)


def _signed(swept: Swept, method: str, raw_path: str, body: bytes | None) -> dict[str, str]:
    """An X-Matrix header from this server to itself (its own key is known without fetching)."""
    content: Any = None
    if body:
        try:
            content = orjson.loads(body)
            encode_canonical_json(content)
        except (orjson.JSONDecodeError, CanonicalJsonError):
            return {}
    key = swept.hs.server_keys.signing_key
    if content is None and not body:
        header = sign_request(SERVER_NAME, SERVER_NAME, key, method=method, uri=raw_path)
    else:
        header = sign_request(
            SERVER_NAME, SERVER_NAME, key, method=method, uri=raw_path, content=content
        )
    return {"Authorization": header}


async def test_signed_federation_requests_with_hostile_input(swept: Swept) -> None:
    """Authenticated federation requests with hostile bodies, path and query parameters."""
    world = swept.world
    failures: list[str] = []
    authenticated = 0
    federation = [e for e in sweep_order(swept.endpoints) if e.auth is AuthKind.X_MATRIX]
    for endpoint in federation:
        operation = find_operation(endpoint.method, endpoint.path)
        cases = [
            *RawBodies()(endpoint, operation, world),
            *WrongFields()(endpoint, operation, world),
            *BadPathParams()(endpoint, operation, world),
            *BadQueryParams()(endpoint, operation, world),
        ]
        if endpoint.method not in ("POST", "PUT"):
            cases = [(path, None) for path, _ in cases]
        for path, body in cases:
            headers = _signed(swept, endpoint.method, path, body)
            outcome = await world.send(endpoint, path, body, headers=headers)
            if headers and outcome.status != 401:
                authenticated += 1
            problem = judge(outcome, operation)
            if problem is not None:
                failures.append(f"[{endpoint.name}] {problem}")
    assert authenticated > len(federation), "signed requests did not authenticate"
    assert not failures, report(failures)
