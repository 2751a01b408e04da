"""POST/GET /user/{userId}/filter over HTTP, checked against the spec's schemas."""

from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import validate_response
from tests.api.room_support import new_user

FILTER = {
    "room": {"timeline": {"limit": 10, "types": ["m.room.message"]}, "include_leave": True},
    "presence": {"not_types": ["*"]},
    "event_fields": ["type", "content"],
}


async def test_create_and_get(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    bob = await new_user(client, "bob")
    base = f"{V3}/user/{quote(alice.user_id)}/filter"
    created = await alice.request("POST", base, json=FILTER)
    validate_response(created, "client-server/filter.yaml", "/user/{userId}/filter", "post", 200)
    got = await alice.request("GET", f"{base}/{created['filter_id']}")
    validate_response(
        got, "client-server/filter.yaml", "/user/{userId}/filter/{filterId}", "get", 200
    )
    assert got == FILTER
    second = await alice.request("POST", base, json={"room": {"rooms": []}})
    assert second["filter_id"] != created["filter_id"]
    # Another user may neither create nor read Alice's filters.
    assert (await bob.request("POST", base, json={}, status=403))["errcode"] == "M_FORBIDDEN"
    forbidden = await bob.request("GET", f"{base}/{created['filter_id']}", status=403)
    assert forbidden["errcode"] == "M_FORBIDDEN"
    # Bob's filter IDs are his own.
    bob_base = f"{V3}/user/{quote(bob.user_id)}/filter"
    await bob.request("GET", f"{bob_base}/{second['filter_id']}", status=404)


async def test_errors(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    base = f"{V3}/user/{quote(alice.user_id)}/filter"
    for filter_id in ("999", "abc", "01", "-1", "1" * 40):
        body = await alice.request("GET", f"{base}/{filter_id}", status=404)
        assert body["errcode"] == "M_NOT_FOUND"
    for bad in (
        {"room": {"timeline": {"limit": 0}}},
        {"room": {"rooms": ["not-a-room"]}},
        {"event_format": "xml"},
        {"presence": {"senders": [1]}},
        {"room": "x"},
    ):
        body = await alice.request("POST", base, json=bad, status=400)
        assert body["errcode"] == "M_BAD_JSON", bad
    response = await client.post(base, data=b"[1]", headers=alice.headers)
    assert response.status == 400 and (await response.json())["errcode"] == "M_BAD_JSON"
    response = await client.post(base, data=b"{", headers=alice.headers)
    assert response.status == 400 and (await response.json())["errcode"] == "M_NOT_JSON"
    response = await client.post(base, json={})
    assert response.status == 401
