"""Federation transport between real Myelin servers over TLS on loopback: signed requests,
key fetching directly and through a notary, forged and misdirected requests, operator
allow/deny lists both ways, federation switched off, destination backoff."""

import pytest

from myelin.core.signing import SigningKey
from myelin.federation.client import (
    FederationDeniedError,
    HttpResponseError,
    NotRetryingDestinationError,
    RequestFailedError,
)
from myelin.federation.request_signing import sign_request
from myelin.services.key_ring import KeyLookupError
from myelin.storage.server_keys import DestinationStore, ServerKeyStore
from tests.federation.conftest import Federation, RunningServer

PUBLIC_ROOMS = "/_matrix/federation/v1/publicRooms"
DIRECTORY = "/_matrix/federation/v1/query/directory"


async def _pair(net: Federation, **a_overrides: object) -> tuple[RunningServer, RunningServer]:
    a = await net.start("a.test", "127.0.0.11", **a_overrides)
    b = await net.start("b.test", "127.0.0.12")
    return a, b


async def test_signed_requests_between_servers(federation: Federation) -> None:
    a, b = await _pair(federation)
    assert a.hs.federation is not None
    rooms = await a.hs.federation.get_json("b.test", PUBLIC_ROOMS)
    assert rooms["chunk"] == [] and rooms["total_room_count_estimate"] == 0
    # A query that needs the query string signed exactly as sent.
    with pytest.raises(HttpResponseError) as e:
        await a.hs.federation.get_json("b.test", DIRECTORY, {"room_alias": "#nope:b.test"})
    assert (e.value.status, e.value.errcode) == (404, "M_NOT_FOUND")
    posted = await a.hs.federation.post_json("b.test", PUBLIC_ROOMS, {"limit": 5})
    assert posted["chunk"] == []
    # B fetched A's key to check the signatures, and cached it.
    keys = await ServerKeyStore(b.hs.database).get_server_keys("a.test")
    assert keys[a.key_id].verify_key == a.hs.server_keys.signing_key.verify_key.encode()


async def test_keys_fetched_directly_and_cached(federation: Federation) -> None:
    a, b = await _pair(federation)
    assert a.hs.key_ring is not None
    key = await a.hs.key_ring.get_verify_key("b.test", b.key_id, a.hs.clock.now_ms())
    assert key.encode() == b.hs.server_keys.signing_key.verify_key.encode()
    # Cached: found again with B unreachable.
    a.dns.unreachable.add("b.test")
    again = await a.hs.key_ring.get_verify_key("b.test", b.key_id, a.hs.clock.now_ms())
    assert again.encode() == key.encode()
    stored = await ServerKeyStore(a.hs.database).get_key_response("b.test")
    assert stored is not None and stored.valid_until_ts > a.hs.clock.now_ms()
    # A key needed beyond the cached valid_until_ts is not taken from the cache: B is asked
    # again (unreachable here, so the lookup fails).
    with pytest.raises(KeyLookupError):
        await a.hs.key_ring.get_verify_key("b.test", b.key_id, stored.valid_until_ts + 1)


async def test_keys_through_a_notary(federation: Federation) -> None:
    notary = await federation.start("notary.test", "127.0.0.13")
    notary_key = notary.hs.server_keys.signing_key.verify_key
    a = await federation.start(
        "a.test",
        "127.0.0.11",
        trusted_key_servers=[
            {"server_name": "notary.test", "verify_keys": {notary_key.key_id: notary_key.encode()}}
        ],
    )
    b = await federation.start("b.test", "127.0.0.12")
    # A cannot reach B; the notary can.
    a.dns.unreachable.add("b.test")
    assert a.hs.key_ring is not None
    key = await a.hs.key_ring.get_verify_key("b.test", b.key_id, a.hs.clock.now_ms())
    assert key.encode() == b.hs.server_keys.signing_key.verify_key.encode()
    # B's requests to A are now accepted although A never reached B.
    assert b.hs.federation is not None
    assert (await b.hs.federation.get_json("a.test", PUBLIC_ROOMS))["chunk"] == []
    # The notary answers signed by B and by itself, over GET and POST.
    async with federation.https() as http:
        url = federation.url(notary, "/_matrix/key/v2/query/b.test")
        async with http.get(url, server_hostname="notary.test") as response:
            assert response.status == 200
            body = await response.json()
        (entry,) = body["server_keys"]
        assert set(entry["signatures"]) == {"b.test", "notary.test"}
        assert b.key_id in entry["verify_keys"]
        url = federation.url(notary, "/_matrix/key/v2/query")
        query: dict[str, object] = {
            "server_keys": {"b.test": {}, "notary.test": {}, "unknown.test": {}}
        }
        async with http.post(url, json=query, server_hostname="notary.test") as response:
            assert response.status == 200
            names = sorted(k["server_name"] for k in (await response.json())["server_keys"])
        assert names == ["b.test", "notary.test"]
        async with http.post(
            url, json={"server_keys": []}, server_hostname="notary.test"
        ) as response:
            assert response.status == 400
            assert (await response.json())["errcode"] == "M_BAD_JSON"
        async with http.get(
            federation.url(notary, "/_matrix/key/v2/query/b.test?minimum_valid_until_ts=x"),
            server_hostname="notary.test",
        ) as response:
            assert response.status == 400


async def test_notary_with_a_wrong_key_is_not_believed(federation: Federation) -> None:
    await federation.start("notary.test", "127.0.0.13")
    wrong = SigningKey.generate("x").verify_key
    a = await federation.start(
        "a.test",
        "127.0.0.11",
        trusted_key_servers=[
            {"server_name": "notary.test", "verify_keys": {wrong.key_id: wrong.encode()}}
        ],
    )
    b = await federation.start("b.test", "127.0.0.12")
    a.dns.unreachable.add("b.test")
    assert a.hs.key_ring is not None
    from myelin.services.key_ring import KeyLookupError

    with pytest.raises(KeyLookupError):
        await a.hs.key_ring.get_verify_key("b.test", b.key_id, a.hs.clock.now_ms())


async def _raw(
    federation: Federation,
    target: RunningServer,
    uri: str,
    authorization: str | None,
    method: str = "GET",
) -> tuple[int, dict[str, object]]:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with (
        federation.https() as http,
        http.request(
            method,
            federation.url(target, uri),
            headers=headers,
            server_hostname=target.name,
        ) as response,
    ):
        return response.status, await response.json()


async def test_forged_and_misdirected_requests_are_refused(federation: Federation) -> None:
    a, b = await _pair(federation)
    key = a.hs.server_keys.signing_key

    def header(destination: str, uri: str = PUBLIC_ROOMS, signer: SigningKey = key) -> str:
        return sign_request("a.test", destination, signer, method="GET", uri=uri)

    status, _ = await _raw(federation, b, PUBLIC_ROOMS, header("b.test"))
    assert status == 200
    # No Authorization header at all.
    status, body = await _raw(federation, b, PUBLIC_ROOMS, None)
    assert (status, body["errcode"]) == (401, "M_UNAUTHORIZED")
    # Signed for another destination: 401 whatever the signature.
    status, body = await _raw(federation, b, PUBLIC_ROOMS, header("c.test"))
    assert (status, body["errcode"]) == (401, "M_UNAUTHORIZED")
    # A forged signature: another key under A's key ID.
    forged = SigningKey.from_seed(key.version, b"\x01" * 32)
    status, body = await _raw(federation, b, PUBLIC_ROOMS, header("b.test", signer=forged))
    assert (status, body["errcode"]) == (401, "M_UNAUTHORIZED")
    # A signature over another URI.
    status, _ = await _raw(federation, b, PUBLIC_ROOMS + "?limit=1", header("b.test"))
    assert status == 401
    # An origin whose keys cannot be found.
    stranger = sign_request(
        "nobody.test", "b.test", SigningKey.generate("k"), method="GET", uri=PUBLIC_ROOMS
    )
    status, _ = await _raw(federation, b, PUBLIC_ROOMS, stranger)
    assert status == 401
    # A legacy header without destination is accepted when it signed us as destination.
    legacy = header("b.test").replace(',destination="b.test"', "")
    status, _ = await _raw(federation, b, PUBLIC_ROOMS, legacy)
    assert status == 200


async def test_deny_list_refuses_both_ways(federation: Federation) -> None:
    a, b = await _pair(federation, federation={"deny": ["B.TEST"]})
    assert a.hs.federation is not None and b.hs.federation is not None
    with pytest.raises(FederationDeniedError):
        await a.hs.federation.get_json("b.test", PUBLIC_ROOMS)
    with pytest.raises(HttpResponseError) as e:
        await b.hs.federation.get_json("a.test", PUBLIC_ROOMS)
    assert (e.value.status, e.value.errcode) == (403, "M_FORBIDDEN")


async def test_allow_list_refuses_servers_not_listed(federation: Federation) -> None:
    a, b = await _pair(federation, federation={"allow": ["c.*", "*.europa.eu"]})
    c = await federation.start("c.test", "127.0.0.14")
    assert a.hs.federation is not None and b.hs.federation is not None
    assert c.hs.federation is not None
    with pytest.raises(FederationDeniedError):
        await a.hs.federation.get_json("b.test", PUBLIC_ROOMS)
    with pytest.raises(HttpResponseError) as e:
        await b.hs.federation.get_json("a.test", PUBLIC_ROOMS)
    assert e.value.status == 403
    assert (await c.hs.federation.get_json("a.test", PUBLIC_ROOMS))["chunk"] == []
    assert (await a.hs.federation.get_json("c.test", PUBLIC_ROOMS))["chunk"] == []


async def test_domain_whitelist_has_synapse_meaning(federation: Federation) -> None:
    a, b = await _pair(federation, federation_domain_whitelist=["c.test"])
    assert a.hs.federation is not None and b.hs.federation is not None
    with pytest.raises(FederationDeniedError):
        await a.hs.federation.get_json("b.test", PUBLIC_ROOMS)
    with pytest.raises(HttpResponseError) as e:
        await b.hs.federation.get_json("a.test", PUBLIC_ROOMS)
    assert e.value.status == 403


async def test_federation_off(federation: Federation) -> None:
    a, b = await _pair(federation, federation={"enabled": False})
    assert a.hs.federation is not None and b.hs.federation is not None
    with pytest.raises(FederationDeniedError):
        await a.hs.federation.get_json("b.test", PUBLIC_ROOMS)
    with pytest.raises(HttpResponseError) as e:
        await b.hs.federation.get_json("a.test", PUBLIC_ROOMS)
    assert (e.value.status, e.value.errcode) == (404, "M_UNRECOGNIZED")
    for path in ("/_matrix/federation/v1/version", "/_matrix/key/v2/server"):
        status, body = await _raw(federation, a, path, None)
        assert (status, body["errcode"]) == (404, "M_UNRECOGNIZED")
    # The client API is still served.
    status, _ = await _raw(federation, a, "/_matrix/client/versions", None)
    assert status == 200


async def test_backoff_after_failure_is_persisted(federation: Federation) -> None:
    a = await federation.start(
        "a.test", "127.0.0.11", federation={"destination_min_retry_interval": "1h"}
    )
    assert a.hs.federation is not None
    with pytest.raises(RequestFailedError):
        await a.hs.federation.get_json("gone.test", PUBLIC_ROOMS)
    with pytest.raises(NotRetryingDestinationError):
        await a.hs.federation.get_json("gone.test", PUBLIC_ROOMS)
    row = await DestinationStore(a.hs.database).get_backoff("gone.test")
    assert row is not None and row[2] == 3_600_000
    # A destination that comes back clears its backoff.
    b = await federation.start("b.test", "127.0.0.12")
    a.dns.unreachable.add("b.test")
    with pytest.raises(RequestFailedError):
        await a.hs.federation.get_json("b.test", PUBLIC_ROOMS)
    a.dns.unreachable.discard("b.test")
    assert (await a.hs.federation.get_json("b.test", PUBLIC_ROOMS, ignore_backoff=True))[
        "chunk"
    ] == []
    assert await DestinationStore(a.hs.database).get_backoff("b.test") is None
    assert b.name == "b.test"
