"""Federation endpoints refuse bad ``Authorization`` headers with 401 (spec: Server-Server API,
"Request Authentication"): missing, of another scheme, malformed, with missing parameters,
unknown keys, bad signatures or unreachable origins; never a 500.
"""

from myelin.api.auth import AuthKind
from tests.api.conftest import SERVER_NAME
from tests.robustness.conftest import Swept
from tests.robustness.spec_index import find_operation
from tests.robustness.test_client_sweep import fill, report
from tests.robustness.world import judge

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
