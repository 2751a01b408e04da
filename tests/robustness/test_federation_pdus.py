"""Hostile PDUs and EDUs in federation transactions (spec: Server-Server API, "Transactions",
"Checks performed on receipt of a PDU"): transactions of the wrong shape, PDUs with fields of the
wrong type, garbage identifiers, hashes and signatures, EDUs with garbage content; every answer
is below 500 and the room still reads. The transactions are signed by this server itself, whose
own PDUs the receiver drops: PDU checks past that point need a remote origin with known keys.
"""

from typing import Any
from urllib.parse import quote

from myelin.api.auth import AuthKind
from tests.api.account_support import V3, auth_header
from tests.api.conftest import SERVER_NAME
from tests.robustness.conftest import Swept
from tests.robustness.payloads import encode
from tests.robustness.test_client_sweep import report
from tests.robustness.test_federation_auth import _signed
from tests.robustness.world import judge

_GARBAGE: list[Any] = [None, 1, "x", [], {}, [1, None], {"a": []}, "", "\u202e", 2**53]


def _pdus(room_id: str, event_id: str) -> list[Any]:
    base = {
        "room_id": room_id,
        "sender": f"@remote:{SERVER_NAME}",
        "origin_server_ts": 1,
        "type": "m.room.message",
        "content": {"body": "x"},
        "depth": 5,
        "prev_events": [event_id],
        "auth_events": [event_id],
        "hashes": {"sha256": "AAAA"},
        "signatures": {SERVER_NAME: {"ed25519:x": "AAAA"}},
    }
    pdus: list[Any] = [*_GARBAGE, base, {**base, "room_id": "!unknown:test.example"}]
    for field in sorted(base):
        pdus.extend({**base, field: value} for value in _GARBAGE)
    pdus.append({**base, "state_key": "", "type": "m.room.power_levels", "content": {"x": []}})
    pdus.append({**base, "redacts": 5, "type": "m.room.redaction"})
    return pdus


async def test_hostile_pdus_and_edus(swept: Swept) -> None:
    world = swept.world
    endpoint = next(
        (e for e in swept.endpoints if e.auth is AuthKind.X_MATRIX and "/send/" in e.path),
        None,
    )
    assert endpoint is not None, "no federation /send endpoint is served"
    failures: list[str] = []
    transactions: list[Any] = [
        {"origin": SERVER_NAME, "origin_server_ts": 1, "pdus": [pdu]}
        for pdu in _pdus(world.room_id, world.event_id)
    ]
    transactions += [
        {"origin": SERVER_NAME, "origin_server_ts": 1, "pdus": [], "edus": [edu]}
        for edu in [
            *_GARBAGE,
            *({"edu_type": kind, "content": value} for kind in _EDU_TYPES for value in _GARBAGE),
        ]
    ]
    transactions += [{"origin": SERVER_NAME, "pdus": "x"}, {"origin": 5}, {"pdus": [None] * 60}]
    for number, transaction in enumerate(transactions):
        path = endpoint.path.replace("{txnId}", f"robust{number}")
        body = encode(transaction)
        outcome = await world.send(endpoint, path, body, headers=_signed(swept, "PUT", path, body))
        problem = judge(outcome, None)
        if problem is not None:
            failures.append(problem)
    room = quote(world.room_id)
    for read in (f"{V3}/sync", f"{V3}/rooms/{room}/messages?dir=b", f"{V3}/rooms/{room}/state"):
        response = await world.client.get(read, headers=auth_header(world.token))
        if response.status >= 500:
            failures.append(f"GET {read} -> {response.status}")
    assert not failures, report(failures)


_EDU_TYPES = ["m.typing", "m.receipt", "m.presence", "m.device_list_update", "m.direct_to_device"]
