"""What the interop scenario must observe, whichever client library drives it and whichever
homeserver serves it (test harness; Client-Server API, no single section).

The scenario (``scenario_nio.py`` and ``js/scenario.mjs``, written once per library) is: two users
register (user-interactive auth, ``m.login.dummy``) and log in with a password, set their display
names, A creates a private room named "interop" and invites B, B sees the invite (with the room's
name in its stripped state) in ``/sync`` and joins, they exchange four messages in turn (each seen
by the other through ``/sync``), B logs in on a second device whose initial ``/sync`` (timeline
limit 3) shows the last three messages, limited, and the room's name, A types and B sees it, A stops
and B sees that, B sends a read receipt and A sees it, B moves its fully-read marker and sees it in
its room account data, A paginates the room's history backwards three events at a time, A edits its
first message (``m.replace``) and B reacts to it (``m.annotation``), both seen through ``/sync``, A
fetches the original event (edit bundled under ``unsigned.m.relations``) and its relations, B reads
A's profile, and A renames itself and B sees the new name on A's membership.

Facts name users by localpart and events by body, so that they compare across servers (room, event
and user IDs differ); they are plain JSON, as the JavaScript driver prints them.
"""

from typing import Any

ALICE = "alice"
BOB = "bob"
ALICE_NAME = "Alice Liddell"
BOB_NAME = "Bob Builder"
ALICE_RENAMED = "Alice in Wonderland"
EXCHANGE = (
    (ALICE, "hello from alice"),
    (BOB, "hello from bob"),
    (ALICE, "second from alice"),
    (BOB, "second from bob"),
)
EDITED_BODY = "hello from alice (edited)"
REACTION_KEY = "👍"
PAGE_SIZE = 3

# What every (client, server) pair must see, verified against Synapse.
EXPECTED: dict[str, Any] = {
    "registered": [ALICE, BOB],
    "logged_in": [ALICE, BOB],
    "invite_seen_by_bob": True,
    "invite_room_name": "interop",
    "joined_members": sorted([ALICE, BOB]),
    "timeline_seen_by_alice": [list(m) for m in EXCHANGE],
    "timeline_seen_by_bob": [list(m) for m in EXCHANGE],
    # A second device of B: its initial /sync with a timeline limit of 3.
    "fresh_login": {
        "timeline": [list(m) for m in EXCHANGE[1:]],
        "limited": True,
        "room_name": "interop",
    },
    "typing_seen_by_bob": [ALICE],
    "typing_stopped_seen_by_bob": [],
    "receipt_seen_by_alice": {"user": BOB, "type": "m.read", "body": "second from alice"},
    "fully_read_seen_by_bob": "second from bob",
    # Backwards from the end: the four messages newest first, then the room's creation.
    "history_messages": [list(m) for m in reversed(EXCHANGE)],
    "history_reached_create": True,
    "edit_seen_by_bob": {"sender": ALICE, "target": "hello from alice", "body": EDITED_BODY},
    "reaction_seen_by_alice": {"sender": BOB, "target": "hello from alice", "key": REACTION_KEY},
    "bundled_edit": {"sender": ALICE, "body": EDITED_BODY},
    "relations": sorted([["m.annotation", BOB, REACTION_KEY], ["m.replace", ALICE, EDITED_BODY]]),
    "profile_seen_by_bob": ALICE_NAME,
    "member_name_seen_by_bob": ALICE_NAME,
    "renamed_member_seen_by_bob": ALICE_RENAMED,
}


def username(name: str, tag: str) -> str:
    """The localpart registered for ``name`` in the run ``tag`` (servers outlive one run)."""
    return f"{name}-{tag}"


def who(user_id: str, tag: str) -> str:
    """``alice`` of ``@alice-<tag>:server``; other user IDs unchanged."""
    local = user_id[1:].split(":", 1)[0]
    return local.removesuffix(f"-{tag}")
