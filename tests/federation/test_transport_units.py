"""Pure parts of the transport: request signing, backoff growth, operator policy, key
responses and key validity."""

import logging
import ssl
from typing import Any

import orjson
import pytest

from myelin.api.auth import parse_x_matrix
from myelin.core.errors import ProtocolError, SignatureError
from myelin.core.server_acl import AccessControl
from myelin.core.signing import SigningKey, sign_json
from myelin.federation.backoff import BackoffPolicy, BackoffState, DestinationBackoff
from myelin.federation.policy import FederationPolicy
from myelin.federation.request_signing import sign_request, verify_request_signature
from myelin.federation.tls import client_ssl_context
from myelin.services.key_ring import MAX_KEY_VALIDITY_MS, _usable_until, check_key_response
from myelin.storage.server_keys import StoredServerKey
from tests.api.conftest import FakeClock

KEY = SigningKey.from_seed("k1", b"\x07" * 32)


def test_request_signature_round_trip() -> None:
    content = {"a": [1, 2], "b": "ü"}
    header = sign_request("o.test", "d.test", KEY, method="PUT", uri="/x?y=%20", content=content)
    creds = parse_x_matrix(header)
    assert (creds.origin, creds.destination, creds.key) == ("o.test", "d.test", "ed25519:k1")
    common: dict[str, Any] = {
        "origin": "o.test",
        "signature": creds.sig,
        "verify_key": KEY.verify_key,
    }
    verify_request_signature(
        method="PUT", uri="/x?y=%20", destination="d.test", content=content, **common
    )
    changes: list[dict[str, Any]] = [
        {"method": "POST", "uri": "/x?y=%20", "destination": "d.test", "content": content},
        {"method": "PUT", "uri": "/x?y=+", "destination": "d.test", "content": content},
        {"method": "PUT", "uri": "/x?y=%20", "destination": "e.test", "content": content},
        {"method": "PUT", "uri": "/x?y=%20", "destination": "d.test", "content": {}},
        {"method": "PUT", "uri": "/x?y=%20", "destination": "d.test"},
    ]
    for changed in changes:
        with pytest.raises(SignatureError):
            verify_request_signature(**changed, **common)


def test_backoff_policy_grows_to_a_cap() -> None:
    policy = BackoffPolicy(min_interval_ms=1000, multiplier=3, max_interval_ms=5000)
    assert policy.next_interval(None) == 1000
    assert policy.next_interval(BackoffState(0, 0, 1000)) == 3000
    assert policy.next_interval(BackoffState(0, 0, 3000)) == 5000
    assert policy.next_interval(BackoffState(0, 0, 5000)) == 5000


class MemoryStore:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, int, int]] = {}

    async def get_backoff(self, destination: str) -> tuple[int, int, int] | None:
        return self.rows.get(destination)

    async def set_backoff(self, destination: str, f: int, r: int, i: int) -> None:
        self.rows[destination] = (f, r, i)

    async def clear_backoff(self, destination: str) -> None:
        self.rows.pop(destination, None)


async def test_destination_backoff() -> None:
    clock, store = FakeClock(), MemoryStore()
    backoff = DestinationBackoff(store, clock, BackoffPolicy(1000, 2, 10_000))
    assert await backoff.retry_after("d.test") is None
    first = await backoff.record_failure("d.test")
    assert first.retry_interval_ms == 1000 and await backoff.is_backing_off("d.test")
    # A failure while still waiting does not grow the interval.
    assert (await backoff.record_failure("d.test")).retry_interval_ms == 1000
    clock.now += 1000
    assert not await backoff.is_backing_off("d.test")
    assert (await backoff.record_failure("d.test")).retry_interval_ms == 2000
    # A fresh instance (a restart) reads the persisted state.
    restarted = DestinationBackoff(store, clock, BackoffPolicy(1000, 2, 10_000))
    assert await restarted.retry_after("d.test") == clock.now + 2000
    await restarted.record_success("d.test")
    assert store.rows == {} and not await restarted.is_backing_off("d.test")


def test_policy() -> None:
    assert FederationPolicy().permits("any.test")
    assert not FederationPolicy(enabled=False).permits("any.test")
    listed = FederationPolicy(domain_whitelist=frozenset({"a.test"}))
    assert listed.permits("a.test") and not listed.permits("a.test:8448")
    assert not FederationPolicy(domain_whitelist=frozenset()).permits("a.test")
    globs = FederationPolicy(access=AccessControl.from_lists(["*.eu"], ["bad.eu"]))
    assert globs.permits("x.eu:8448") and not globs.permits("bad.eu") and not globs.permits("x.org")


def _key_response(server: str = "b.test") -> dict[str, object]:
    response = {
        "server_name": server,
        "valid_until_ts": 5000,
        "verify_keys": {KEY.key_id: {"key": KEY.verify_key.encode()}},
        "old_verify_keys": {"ed25519:old": {"key": KEY.verify_key.encode(), "expired_ts": 10}},
    }
    return sign_json(response, server, KEY)


def test_check_key_response() -> None:
    verified = check_key_response(_key_response(), "b.test")
    assert [(k.key_id, k.expired_ts) for k in verified.keys] == [
        ("ed25519:k1", None),
        ("ed25519:old", 10),
    ]
    with pytest.raises(ProtocolError):
        check_key_response(_key_response("c.test"), "b.test")
    unsigned = _key_response()
    unsigned.pop("signatures")
    with pytest.raises(SignatureError):
        check_key_response(unsigned, "b.test")
    tampered = orjson.loads(orjson.dumps(_key_response()))
    tampered["valid_until_ts"] = 10**12
    with pytest.raises(SignatureError):
        check_key_response(tampered, "b.test")
    other = SigningKey.generate("other")
    foreign = sign_json(
        {k: v for k, v in _key_response().items() if k != "signatures"}, "b.test", other
    )
    with pytest.raises(SignatureError):
        check_key_response(foreign, "b.test")


def test_key_validity_is_capped_at_seven_days() -> None:
    far = StoredServerKey("b.test", "ed25519:a", "x", 10**15, None, 1000)
    assert _usable_until(far) == 1000 + MAX_KEY_VALIDITY_MS
    near = StoredServerKey("b.test", "ed25519:a", "x", 2000, None, 1000)
    assert _usable_until(near) == 2000
    old = StoredServerKey("b.test", "ed25519:a", "x", 10**15, 1500, 1000)
    assert _usable_until(old) == 1500


def test_no_verify_switch_is_loud_and_really_off(caplog: pytest.LogCaptureFixture) -> None:
    # federation_verify_certificates: false (labs only) turns the checks off and says so.
    with caplog.at_level(logging.WARNING, logger="myelin.federation"):
        checked = client_ssl_context()
    assert checked.verify_mode == ssl.CERT_REQUIRED and checked.check_hostname
    assert "NOT" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="myelin.federation"):
        unchecked = client_ssl_context(verify=False)
    assert unchecked.verify_mode == ssl.CERT_NONE and not unchecked.check_hostname
    (record,) = [r for r in caplog.records if r.name == "myelin.federation"]
    assert record.levelno == logging.WARNING
    assert "federation_verify_certificates is false" in record.getMessage()
    assert "NOT checked" in record.getMessage()
