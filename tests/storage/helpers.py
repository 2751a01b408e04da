"""Helpers for storage tests: events built as plain PDU dicts."""

from typing import Any

from myelin.core.events import EventView
from myelin.core.room_versions import get_room_version

ROOM = "!room:example.org"
V10 = get_room_version("10")


def make_event(
    event_id: str,
    event_type: str = "m.room.message",
    *,
    room_id: str = ROOM,
    state_key: str | None = None,
    prev: list[str] | None = None,
    auth: list[str] | None = None,
    depth: int = 1,
    sender: str = "@alice:example.org",
    content: dict[str, Any] | None = None,
) -> EventView:
    pdu: dict[str, Any] = {
        "type": event_type,
        "room_id": room_id,
        "sender": sender,
        "content": content if content is not None else {"body": event_id},
        "prev_events": prev or [],
        "auth_events": auth or [],
        "depth": depth,
        "origin_server_ts": 1_700_000_000_000 + depth,
        "hashes": {"sha256": "x"},
        "signatures": {},
    }
    if state_key is not None:
        pdu["state_key"] = state_key
    return EventView(pdu, event_id, V10)


def member(event_id: str, user_id: str, membership: str, **kwargs: Any) -> EventView:
    return make_event(
        event_id,
        "m.room.member",
        state_key=user_id,
        sender=user_id,
        content={"membership": membership},
        **kwargs,
    )
