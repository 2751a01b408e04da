"""Client-Server API checks the issue audit (docs/issue-audit.md) found untested, over HTTP on both
engines: ``/members`` with ``at``, a local knock in ``/sync``, history visibility on
``/relations``, ``/members``, ``/state`` and ``/sync``, and ``createRoom`` with every parameter."""

import json
import logging
from typing import Any
from urllib.parse import quote

import pytest

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import error_schema, validate, validate_response
from tests.api.room_support import V1, User, new_user


def room(room_id: str) -> str:
    return f"{V3}/rooms/{quote(room_id)}"


async def sync(user: User, **params: Any) -> Any:
    if isinstance(params.get("filter"), dict):
        params["filter"] = json.dumps(params["filter"])
    body = await user.request("GET", f"{V3}/sync", params=params)
    validate_response(body, "client-server/sync.yaml", "/sync", "get", 200)
    return body


async def _users(serve: ServeFn, *names: str) -> list[User]:
    client = await serve_accounts(serve)
    return [await new_user(client, name) for name in names]


def _memberships(body: Any) -> dict[str, str]:
    return {e["state_key"]: e["content"]["membership"] for e in body["chunk"]}


async def test_members_at_a_point_in_time(serve: ServeFn) -> None:
    alice, bob = await _users(serve, "alice", "bob")
    room_id = await alice.create_room(preset="private_chat")
    await alice.invite(room_id, bob.user_id)
    synced = await sync(alice, filter={"room": {"timeline": {"limit": 1}}})
    assert synced["rooms"]["join"][room_id]["timeline"]["limited"] is True
    prev_batch = synced["rooms"]["join"][room_id]["timeline"]["prev_batch"]
    next_batch = synced["next_batch"]
    await bob.join(room_id)
    now = await alice.request("GET", f"{room(room_id)}/members")
    assert _memberships(now) == {alice.user_id: "join", bob.user_id: "join"}
    # At the sync's next_batch, Bob was invited; the membership filters apply to that state.
    then = await alice.request("GET", f"{room(room_id)}/members", params={"at": next_batch})
    validate_response(then, "client-server/rooms.yaml", "/rooms/{roomId}/members", "get", 200)
    assert _memberships(then) == {alice.user_id: "join", bob.user_id: "invite"}
    invited = await alice.request(
        "GET", f"{room(room_id)}/members", params={"at": next_batch, "membership": "invite"}
    )
    assert _memberships(invited) == {bob.user_id: "invite"}
    # A limited timeline's prev_batch (the spec's example of an ``at`` token) names the point
    # before its one event, the invite.
    before = await alice.request("GET", f"{room(room_id)}/members", params={"at": prev_batch})
    assert _memberships(before) == {alice.user_id: "join"}
    for bad in ("nonsense", "s", "-1x"):
        error = await alice.request(
            "GET", f"{room(room_id)}/members", params={"at": bad}, status=400
        )
        validate(error, error_schema())
        assert error["errcode"] == "M_INVALID_PARAM"


async def test_knock_is_in_the_knockers_sync_then_the_invite(serve: ServeFn) -> None:
    alice, bob = await _users(serve, "alice", "bob")
    room_id = await alice.create_room(
        name="Knock here",
        initial_state=[{"type": "m.room.join_rules", "content": {"join_rule": "knock"}}],
    )
    start = await sync(bob)
    assert room_id not in start["rooms"]["knock"]
    await bob.request("POST", f"{V3}/knock/{quote(room_id)}", json={"reason": "let me in"})
    knocked = await sync(bob, since=start["next_batch"])
    stripped = knocked["rooms"]["knock"][room_id]["knock_state"]["events"]
    by_type = {(e["type"], e["state_key"]): e for e in stripped}
    assert by_type[("m.room.member", bob.user_id)]["content"]["membership"] == "knock"
    assert by_type[("m.room.join_rules", "")]["content"] == {"join_rule": "knock"}
    assert by_type[("m.room.name", "")]["content"] == {"name": "Knock here"}
    assert all(set(e) <= {"type", "state_key", "content", "sender"} for e in stripped)
    assert room_id not in knocked["rooms"]["join"] and room_id not in knocked["rooms"]["invite"]
    # The room sees the knock; accepting it is an invite, which moves the room to ``invite``.
    seen = await sync(alice)
    members = [
        e
        for e in seen["rooms"]["join"][room_id]["timeline"]["events"]
        if e["type"] == "m.room.member" and e["state_key"] == bob.user_id
    ]
    assert members[-1]["content"] == {"membership": "knock", "reason": "let me in"}
    await alice.invite(room_id, bob.user_id)
    invited = await sync(bob, since=knocked["next_batch"])
    assert room_id in invited["rooms"]["invite"]
    assert room_id not in invited["rooms"]["knock"]
    await bob.join(room_id)


async def test_joined_visibility_on_relations_members_state_and_sync(serve: ServeFn) -> None:
    alice, bob, carol = await _users(serve, "alice", "bob", "carol")
    room_id = await alice.create_room(preset="public_chat")
    await alice.put_state(room_id, "m.room.history_visibility", {"history_visibility": "joined"})
    root = await alice.send(room_id, "before bob")
    reaction = {"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": "x"}}
    await alice.send(room_id, event_type="m.reaction", content=reaction)
    await bob.join(room_id)
    after = await alice.send(room_id, "after bob")
    reply = {
        "msgtype": "m.text",
        "body": "late",
        "m.relates_to": {"rel_type": "m.reference", "event_id": after},
    }
    late = await alice.send(room_id, content=reply)
    # /relations: the parent from before Bob joined is not found; the later one is.
    relations = f"{V1}/rooms/{quote(room_id)}/relations"
    hidden = await bob.request("GET", f"{relations}/{quote(root)}", status=404)
    validate(hidden, error_schema())
    visible = await bob.request("GET", f"{relations}/{quote(after)}")
    assert [e["event_id"] for e in visible["chunk"]] == [late]
    assert len((await alice.request("GET", f"{relations}/{quote(root)}"))["chunk"]) == 1
    # /sync: Bob's initial sync starts at his join, whatever the timeline limit.
    ids = [
        e["event_id"]
        for e in (await sync(bob, filter={"room": {"timeline": {"limit": 50}}}))["rooms"]["join"][
            room_id
        ]["timeline"]["events"]
    ]
    assert after in ids and late in ids and root not in ids
    # Bob leaves; what happens afterwards is not his to see through /state or /members.
    await bob.leave(room_id)
    await alice.put_state(room_id, "m.room.topic", {"topic": "after bob left"})
    await alice.invite(room_id, carol.user_id)
    await bob.request("GET", f"{room(room_id)}/state/m.room.topic/", status=404)
    state_types = {e["type"] for e in await bob.request("GET", f"{room(room_id)}/state")}
    assert "m.room.topic" not in state_types and "m.room.create" in state_types
    members = _memberships(await bob.request("GET", f"{room(room_id)}/members"))
    assert members == {alice.user_id: "join", bob.user_id: "leave"}
    assert carol.user_id in _memberships(await alice.request("GET", f"{room(room_id)}/members"))
    # Carol, never joined, sees none of it; invited, she may not read a "joined" room's history.
    for path in (f"{room(room_id)}/members", f"{room(room_id)}/state"):
        refused = await carol.request("GET", path, status=403)
        validate(refused, error_schema())
    seen = {e["event_id"] for e in (await carol.messages(room_id, limit=50))["chunk"]}
    assert not seen & {root, after, late}


async def test_create_room_with_every_parameter(serve: ServeFn) -> None:
    alice, bob, carol = await _users(serve, "alice", "bob", "carol")
    room_id = await alice.create_room(
        visibility="public",
        room_alias_name="everything",
        name="Everything",
        topic="All of createRoom",
        invite=[bob.user_id],
        is_direct=True,
        preset="private_chat",
        room_version="9",
        creation_content={"m.federate": False, "type": "org.example.kind"},
        initial_state=[
            {"type": "m.room.guest_access", "content": {"guest_access": "can_join"}},
            {"type": "org.example.config", "state_key": "k", "content": {"v": 1}},
        ],
        power_level_content_override={"events_default": 10, "users": {alice.user_id: 100}},
    )
    state = {
        (e["type"], e["state_key"]): e for e in await alice.request("GET", f"{room(room_id)}/state")
    }
    create = state[("m.room.create", "")]["content"]
    assert create["room_version"] == "9" and create["m.federate"] is False
    assert create["type"] == "org.example.kind"
    assert state[("m.room.name", "")]["content"] == {"name": "Everything"}
    assert state[("m.room.topic", "")]["content"]["topic"] == "All of createRoom"
    alias = f"#everything:{alice.user_id.split(':', 1)[1]}"
    assert state[("m.room.canonical_alias", "")]["content"] == {"alias": alias}
    resolved = await carol.request("GET", f"{V3}/directory/room/{quote(alias)}")
    assert resolved["room_id"] == room_id
    # private_chat: invite-only and shared history, guest access from initial_state.
    assert state[("m.room.join_rules", "")]["content"] == {"join_rule": "invite"}
    assert state[("m.room.history_visibility", "")]["content"] == {"history_visibility": "shared"}
    assert state[("m.room.guest_access", "")]["content"] == {"guest_access": "can_join"}
    assert state[("org.example.config", "k")]["content"] == {"v": 1}
    levels = state[("m.room.power_levels", "")]["content"]
    assert levels["events_default"] == 10 and levels["users"] == {alice.user_id: 100}
    invite = state[("m.room.member", bob.user_id)]["content"]
    assert invite == {"membership": "invite", "is_direct": True}
    # visibility=public lists the room in the directory.
    listed = await carol.request("GET", f"{V3}/directory/list/room/{quote(room_id)}")
    assert listed == {"visibility": "public"}
    public = await carol.request("GET", f"{V3}/publicRooms")
    assert room_id in [chunk["room_id"] for chunk in public["chunk"]]
    # Bob sees the direct invite in his /sync with the stripped state.
    invited = (await sync(bob))["rooms"]["invite"][room_id]["invite_state"]["events"]
    mine = [e for e in invited if e["type"] == "m.room.member" and e["state_key"] == bob.user_id]
    assert mine[0]["content"]["is_direct"] is True


async def test_access_log_leaves_out_every_credential_in_the_query(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    client = await serve()
    paths = (
        "/_matrix/client/versions?access_token=SECRET1&x=1",
        "/_matrix/client/v1/register/m.login.registration_token/validity?token=SECRET2",
        "/_matrix/client/v3/account/3pid/email/requestToken?client_secret=SECRET3&sid=1",
    )
    with caplog.at_level(logging.INFO, logger="myelin.access"):
        for path in paths:
            await client.get(path)
    lines = [r for r in caplog.records if r.name == "myelin.access"]
    assert len(lines) == len(paths)
    for record in lines:
        assert "SECRET" not in record.getMessage()
        assert "SECRET" not in json.dumps(record.fields)  # type: ignore[attr-defined]
    assert "GET /_matrix/client/versions?x=1 200" in lines[0].getMessage()
    assert lines[2].fields["path"].endswith("requestToken?sid=1")  # type: ignore[attr-defined]


async def test_sync_event_format_federation(serve: ServeFn) -> None:
    alice, bob = await _users(serve, "alice", "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    kept = await alice.send(room_id, "kept", txn="fed1")
    gone = await bob.send(room_id, "gone")
    redaction = await bob.request(
        "PUT", f"{room(room_id)}/redact/{quote(gone)}/r1", json={"reason": "oops"}
    )
    timeline_filter = {"room": {"timeline": {"limit": 20}}}
    client = await sync(alice, filter=timeline_filter)
    client_events = {
        e["event_id"]: e for e in client["rooms"]["join"][room_id]["timeline"]["events"]
    }
    assert "auth_events" not in client_events[kept] and "room_id" not in client_events[kept]
    body = await sync(alice, filter={**timeline_filter, "event_format": "federation"})
    room_body = body["rooms"]["join"][room_id]
    events = {e["event_id"]: e for e in room_body["timeline"]["events"]}
    assert list(events) == list(client_events)
    pdu = events[kept]
    for key in ("auth_events", "prev_events", "hashes", "signatures", "depth", "room_id"):
        assert key in pdu, key
    assert pdu["content"] == {"msgtype": "m.text", "body": "kept"}
    assert pdu["unsigned"]["transaction_id"] == "fed1"
    assert isinstance(pdu["unsigned"]["age"], int)
    # The redacted event is the redacted PDU, naming its redaction.
    assert events[gone]["content"] == {} and "hashes" in events[gone]
    because = events[gone]["unsigned"]["redacted_because"]
    assert because["event_id"] == redaction["event_id"] and "auth_events" in because
    assert all("auth_events" in e for e in room_body["state"]["events"])
    # event_fields still projects the federation format (the schema's required keys may go).
    projection = {
        **timeline_filter,
        "event_format": "federation",
        "event_fields": ["type", "depth"],
    }
    projected = await alice.request("GET", f"{V3}/sync", params={"filter": json.dumps(projection)})
    for event in projected["rooms"]["join"][room_id]["timeline"]["events"]:
        assert set(event) == {"type", "depth"}


async def test_context_filter_and_world_readable_reads(serve: ServeFn) -> None:
    alice, bob = await _users(serve, "alice", "bob")
    room_id = await alice.create_room(preset="public_chat")
    await alice.put_state(
        room_id, "m.room.history_visibility", {"history_visibility": "world_readable"}
    )
    first = await alice.send(room_id, "one")
    await alice.send(room_id, event_type="org.example.other", content={"x": 1})
    middle = await alice.send(room_id, "two")
    await alice.send(room_id, event_type="org.example.other", content={"x": 2})
    last = await alice.send(room_id, "three")
    only_messages = json.dumps({"types": ["m.room.message"], "lazy_load_members": True})
    body = await alice.request(
        "GET",
        f"{room(room_id)}/context/{quote(middle)}",
        params={"limit": "4", "filter": only_messages},
    )
    validate_response(
        body, "client-server/event_context.yaml", "/rooms/{roomId}/context/{eventId}", "get", 200
    )
    assert [e["event_id"] for e in body["events_before"]] == [first]
    assert [e["event_id"] for e in body["events_after"]] == [last]
    members = [e["state_key"] for e in body["state"] if e["type"] == "m.room.member"]
    assert members == [alice.user_id]
    bad = await alice.request(
        "GET", f"{room(room_id)}/context/{quote(middle)}", params={"filter": "{"}, status=400
    )
    validate(bad, error_schema())
    # A world-readable room's history and state are readable without joining (Bob never did).
    ids = [e["event_id"] for e in (await bob.messages(room_id, limit=50))["chunk"]]
    assert {first, middle, last} <= set(ids)
    assert (await bob.request("GET", f"{room(room_id)}/event/{quote(first)}"))["event_id"] == first
    state = await bob.request("GET", f"{room(room_id)}/state")
    assert any(e["type"] == "m.room.history_visibility" for e in state)
    members_body = await bob.request("GET", f"{room(room_id)}/members")
    assert _memberships(members_body) == {alice.user_id: "join"}


async def test_canonical_alias_must_point_to_the_room(serve: ServeFn) -> None:
    (alice,) = await _users(serve, "alice")
    server = alice.user_id.split(":", 1)[1]
    await alice.create_room(room_alias_name="other")
    room_id = await alice.create_room(room_alias_name="mine")
    await alice.request(
        "PUT", f"{V3}/directory/room/{quote(f'#second:{server}')}", json={"room_id": room_id}
    )
    path = f"{room(room_id)}/state/m.room.canonical_alias/"
    cases = [
        ({"alias": f"#other:{server}"}, "M_BAD_ALIAS"),
        ({"alias": f"#nowhere:{server}"}, "M_BAD_ALIAS"),
        ({"alias": f"#mine:{server}", "alt_aliases": [f"#other:{server}"]}, "M_BAD_ALIAS"),
        ({"alias": "not an alias"}, "M_INVALID_PARAM"),
        ({"alias": 5}, "M_INVALID_PARAM"),
        ({"alt_aliases": f"#mine:{server}"}, "M_INVALID_PARAM"),
        ({"alt_aliases": ["nope"]}, "M_INVALID_PARAM"),
    ]
    for content, errcode in cases:
        error = await alice.request("PUT", path, json=content, status=400)
        validate(error, error_schema())
        assert error["errcode"] == errcode, (content, error)
    good = {"alias": f"#mine:{server}", "alt_aliases": [f"#second:{server}"]}
    await alice.request("PUT", path, json=good)
    assert await alice.request("GET", path) == good
    # Removing the canonical alias, or keeping one already there, needs no check.
    await alice.request("PUT", path, json={})
