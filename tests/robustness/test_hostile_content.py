"""Hostile event content does not crash the server or poison what it stores (spec: Client-Server
API, "Room Events", "Relationships between events", "Push Notifications"; Appendices, "Canonical
JSON").

Events whose content has the wrong shape for what the server derives from it (relations,
threads, mentions and push rules, room names and topics, power levels, join rules, aliases,
ACLs, memberships) are sent; each answer must be below 500. Afterwards every reading endpoint
(sync, messages, context, relations, threads, state, members, notifications, directories) must
still answer below 500 for both the sender and another member, whose push rules run on each.
"""

from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, auth_header, shared_secret_register
from tests.api.conftest import SERVER_NAME
from tests.robustness.conftest import Swept

V1 = "/_matrix/client/v1"

_GARBAGE: list[Any] = [None, 1, "x", [], {}, [1, "a"], {"a": {"b": []}}, True, "\u202e", ""]

_RELATION_TYPES: list[Any] = ["m.thread", "m.annotation", "m.replace", "m.reference", 5, None]
_RELATED_IDS: list[Any] = ["$nope:test.example", None, 1, [], "", "not-an-id"]

# Message event contents that stress what the server derives from an event.
MESSAGE_CONTENTS: list[dict[str, Any]] = [
    *({"msgtype": "m.text", "body": value} for value in _GARBAGE),
    *({"msgtype": value, "body": "x"} for value in _GARBAGE),
    *({"body": "x", "m.relates_to": value} for value in _GARBAGE),
    *(
        {"body": "x", "m.relates_to": {"rel_type": rel, "event_id": value}}
        for rel in _RELATION_TYPES
        for value in _RELATED_IDS
    ),
    {"body": "x", "m.relates_to": {"rel_type": "m.annotation", "event_id": "$e", "key": []}},
    {"body": "x", "m.relates_to": {"m.in_reply_to": "x"}},
    {"body": "x", "m.relates_to": {"m.in_reply_to": {"event_id": 5}}},
    {"body": "x", "m.new_content": "x", "m.relates_to": {"rel_type": "m.replace"}},
    *({"body": "x", "m.mentions": value} for value in _GARBAGE),
    {"body": "x", "m.mentions": {"user_ids": "x", "room": "yes"}},
    {"body": "x", "m.mentions": {"user_ids": [1, None, {}], "room": 1}},
    {"body": "@room " * 1000},
    {"body": "*" * 10000, "formatted_body": "<" * 10000, "format": 5},
]

# State events whose content the server reads (directories, auth rules, aliases, ACLs).
STATE_EVENTS: list[tuple[str, str, dict[str, Any]]] = [
    *(("m.room.name", "", {"name": value}) for value in _GARBAGE),
    *(("m.room.topic", "", {"topic": value}) for value in _GARBAGE),
    *(("m.room.avatar", "", {"url": value}) for value in _GARBAGE),
    *(("m.room.canonical_alias", "", {"alias": value}) for value in _GARBAGE),
    ("m.room.canonical_alias", "", {"alias": "#robust:test.example", "alt_aliases": "x"}),
    ("m.room.canonical_alias", "", {"alt_aliases": [1, None, "#nope:test.example"]}),
    *(("m.room.join_rules", "", {"join_rule": value}) for value in _GARBAGE),
    ("m.room.join_rules", "", {"join_rule": "restricted", "allow": "x"}),
    ("m.room.join_rules", "", {"join_rule": "restricted", "allow": [1, {"type": 2}]}),
    *(("m.room.history_visibility", "", {"history_visibility": value}) for value in _GARBAGE),
    *(("m.room.guest_access", "", {"guest_access": value}) for value in _GARBAGE),
    *(("m.room.server_acl", "", {"allow": value, "deny": value}) for value in _GARBAGE),
    ("m.room.server_acl", "", {"allow": ["*"], "deny": [1, None], "allow_ip_literals": "no"}),
    *(("m.room.encryption", "", {"algorithm": value}) for value in _GARBAGE),
    *(("m.room.pinned_events", "", {"pinned": value}) for value in _GARBAGE),
    ("m.room.power_levels", "", {"users": "x"}),
    ("m.room.power_levels", "", {"events": [], "users_default": "100"}),
    ("m.room.power_levels", "", {"users": {"@robust:test.example": 100}, "notifications": 1}),
    ("m.room.power_levels", "", {"users": {"@robust:test.example": 100}, "ban": "50"}),
    ("m.room.member", "@robust:test.example", {"membership": "join", "displayname": 5}),
    ("m.room.member", "@robust:test.example", {"membership": "join", "avatar_url": []}),
    ("m.room.member", "@robust:test.example", {"membership": 1}),
    ("m.room.member", "@nobody:test.example", {"membership": "join"}),
    ("m.room.member", "not a user", {"membership": "leave"}),
    ("m.room.create", "", {"room_version": 5}),
    ("m.room.tombstone", "", {"replacement_room": 5, "body": []}),
    ("m.space.child", "!x:test.example", {"via": "x", "order": 5}),
    ("m.space.parent", "!x:test.example", {"via": [1], "canonical": "yes"}),
]


async def _status(swept: Swept, token: str, method: str, path: str, body: Any = None) -> int:
    response = await swept.world.client.request(method, path, json=body, headers=auth_header(token))
    await response.read()
    return response.status


async def test_hostile_content_is_answered_and_does_not_poison_reads(swept: Swept) -> None:
    world = swept.world
    room = quote(world.room_id)
    bob = await shared_secret_register(world.client, "robust_bob")
    await world.call("POST", f"{V3}/rooms/{room}/invite", {"user_id": bob["user_id"]})
    assert await _status(swept, bob["access_token"], "POST", f"{V3}/join/{room}", {}) == 200
    # Bob's initial sync token: incremental syncs later run over every hostile event.
    response = await world.client.get(f"{V3}/sync", headers=auth_header(bob["access_token"]))
    since = (await response.json())["next_batch"]
    failures: list[str] = []
    for content in MESSAGE_CONTENTS:
        path = f"{V3}/rooms/{room}/send/m.room.message/{world.txn()}"
        status = await _status(swept, world.token, "PUT", path, content)
        if status >= 500:
            failures.append(f"send {content!r:.200} -> {status}")
    for event_type, state_key, content in STATE_EVENTS:
        path = f"{V3}/rooms/{room}/state/{quote(event_type)}/{quote(state_key, safe='')}"
        status = await _status(swept, world.token, "PUT", path, content)
        if status >= 500:
            failures.append(f"state {event_type} {state_key!r} {content!r:.200} -> {status}")
    event = quote(world.event_id)
    reads = [
        f"{V3}/sync",
        f"{V3}/sync?since={since}",
        f"{V3}/sync?full_state=true",
        f"{V3}/rooms/{room}/messages?dir=b&limit=100",
        f"{V3}/rooms/{room}/messages?dir=f&limit=100",
        f"{V3}/rooms/{room}/context/{event}?limit=50",
        f"{V1}/rooms/{room}/relations/{event}",
        f"{V1}/rooms/{room}/threads",
        f"{V3}/rooms/{room}/state",
        f"{V3}/rooms/{room}/members",
        f"{V3}/rooms/{room}/joined_members",
        f"{V3}/rooms/{room}/aliases",
        f"{V3}/notifications",
        f"{V3}/publicRooms",
        f"{V3}/joined_rooms",
        f"{V3}/directory/room/{quote('#robust:' + SERVER_NAME)}",
    ]
    for token in (world.token, bob["access_token"]):
        for path in reads:
            status = await _status(swept, token, "GET", path)
            if status >= 500:
                failures.append(f"GET {path} -> {status}")
        for method, path, body in (
            ("POST", f"{V3}/publicRooms", {"filter": {"generic_search_term": "x"}}),
            ("POST", f"{V3}/user_directory/search", {"search_term": "robust"}),
        ):
            status = await _status(swept, token, method, path, body)
            if status >= 500:
                failures.append(f"{method} {path} -> {status}")
    assert not failures, "\n".join(failures)
