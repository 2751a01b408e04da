"""POST /search over HTTP, on both engines: keys, order, pagination, filter, context,
groupings, state, history visibility and redactions."""

from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import error_schema, validate, validate_response
from tests.api.room_support import User, new_user

SEARCH = "client-server/search.yaml"


async def _search(
    user: User, criteria: dict[str, Any], status: int = 200, next_batch: str | None = None
) -> Any:
    params = {"next_batch": next_batch} if next_batch is not None else {}
    body = await user.request(
        "POST",
        f"{V3}/search",
        json={"search_categories": {"room_events": criteria}},
        params=params,
        status=status,
    )
    if status == 200:
        validate_response(body, SEARCH, "/search", "post", 200)
        return body["search_categories"]["room_events"]
    validate(body, error_schema())
    return body


def _ids(result: Any) -> list[str]:
    return [r["result"]["event_id"] for r in result["results"]]


async def test_search_room_events(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat", name="Martian base")
    await bob.join(room_id)
    first = await alice.send(room_id, "the martians are coming")
    second = await bob.send(room_id, "Martians and men, martians everywhere")
    await alice.send(room_id, "nothing to see")
    private = await alice.create_room()
    await alice.send(private, "martians in private")

    result = await _search(bob, {"search_term": "martians", "order_by": "recent"})
    assert _ids(result) == [second, first]
    assert result["count"] == 2 and "martians" in result["highlights"]
    assert result["results"][0]["result"]["content"]["body"].startswith("Martians and men")
    # By rank (the default) the message saying it twice comes first.
    ranked = await _search(bob, {"search_term": "MARTIANS"})
    assert _ids(ranked) == [second, first]
    # Every word must match; prefixes match.
    assert _ids(await _search(bob, {"search_term": "mart men"})) == [second]
    # The room name is found through content.name only.
    names = await _search(bob, {"search_term": "base", "keys": ["content.name"]})
    assert [r["result"]["type"] for r in names["results"]] == ["m.room.name"]
    assert (await _search(bob, {"search_term": "base", "keys": ["content.body"]}))["results"] == []
    # Alice sees her private room too.
    mine = await _search(alice, {"search_term": "martians", "order_by": "recent"})
    assert len(mine["results"]) == 3
    # The filter narrows rooms and senders.
    only = await _search(
        alice, {"search_term": "martians", "filter": {"rooms": [room_id], "senders": [bob.user_id]}}
    )
    assert _ids(only) == [second]


async def test_search_pagination_context_groups_state(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await alice.request(
        "PUT", f"{V3}/profile/{quote(alice.user_id)}/displayname", json={"displayname": "Alice"}
    )
    sent = [await alice.send(room_id, f"ping number {i}") for i in range(5)]
    for order in ("recent", "rank"):
        seen: list[str] = []
        token: str | None = None
        for _ in range(5):
            page = await _search(
                bob,
                {"search_term": "ping", "order_by": order, "filter": {"limit": 2}},
                next_batch=token,
            )
            seen += _ids(page)
            token = page.get("next_batch")
            if token is None:
                break
        assert sorted(seen) == sorted(sent), order
        assert len(seen) == 5
    assert (await _search(bob, {"search_term": "ping"}, status=400, next_batch="zz"))[
        "errcode"
    ] == "M_INVALID_PARAM"
    result = await _search(
        bob,
        {
            "search_term": "number 2",
            "event_context": {"before_limit": 1, "after_limit": 2, "include_profile": True},
            "groupings": {"group_by": [{"key": "room_id"}, {"key": "sender"}]},
            "include_state": True,
        },
    )
    (hit,) = result["results"]
    context = hit["context"]
    assert [e["event_id"] for e in context["events_before"]] == [sent[1]]
    assert [e["event_id"] for e in context["events_after"]] == [sent[3], sent[4]]
    assert context["profile_info"][alice.user_id]["displayname"] == "Alice"
    assert result["groups"]["room_id"][room_id] == {"results": [sent[2]], "order": 1}
    assert result["groups"]["sender"][alice.user_id]["results"] == [sent[2]]
    assert any(e["type"] == "m.room.create" for e in result["state"][room_id])


async def test_search_respects_visibility_and_redactions(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="private_chat")
    await alice.put_state(room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    before = await alice.send(room_id, "secret plans before bob")
    await alice.invite(room_id, bob.user_id)
    await bob.join(room_id)
    after = await alice.send(room_id, "secret plans after bob")
    redacted = await alice.send(room_id, "secret plans redacted")
    await alice.request("PUT", f"{V3}/rooms/{quote(room_id)}/redact/{quote(redacted)}/r1", json={})
    assert _ids(await _search(bob, {"search_term": "secret", "order_by": "recent"})) == [after]
    alice_sees = await _search(alice, {"search_term": "secret", "order_by": "recent"})
    assert _ids(alice_sees) == [after, before]


async def test_search_bad_requests(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    missing = await alice.request("POST", f"{V3}/search", json={}, status=400)
    assert missing["errcode"] == "M_MISSING_PARAM"
    assert (await _search(alice, {}, status=400))["errcode"] == "M_MISSING_PARAM"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"search_term": 5}, "M_BAD_JSON"),
        ({"search_term": "x", "keys": ["content.other"]}, "M_INVALID_PARAM"),
        ({"search_term": "x", "order_by": "best"}, "M_INVALID_PARAM"),
        ({"search_term": "x", "filter": {"limit": "ten"}}, "M_BAD_JSON"),
        ({"search_term": "x", "event_context": {"before_limit": -1}}, "M_BAD_JSON"),
        ({"search_term": "x", "groupings": {"group_by": [{"key": "type"}]}}, "M_INVALID_PARAM"),
        ({"search_term": "x", "include_state": "yes"}, "M_BAD_JSON"),
    ]
    for criteria, errcode in cases:
        assert (await _search(alice, criteria, status=400))["errcode"] == errcode, criteria
    empty = await alice.request("POST", f"{V3}/search", json={"search_categories": {}})
    assert empty == {"search_categories": {}}
    hostile = await _search(alice, {"search_term": '" OR * NEAR( AND'})
    assert hostile["results"] == []
