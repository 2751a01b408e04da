"""Helpers for storage tests: events built as plain PDU dicts, pushers."""

from typing import Any

from myelin.core.events import EventView
from myelin.core.room_versions import get_room_version
from myelin.storage.push_rules import PusherRecord

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


def make_pusher(user_id: str, pushkey: str, **changes: Any) -> PusherRecord:
    """An http pusher of app ``org.example.app`` with ``changes`` applied."""
    fields: dict[str, Any] = {
        "user_id": user_id,
        "app_id": "org.example.app",
        "pushkey": pushkey,
        "kind": "http",
        "app_display_name": "App",
        "device_display_name": "Phone",
        "profile_tag": None,
        "lang": "en",
        "data": {"url": "https://push.example.org/_matrix/push/v1/notify"},
        "device_id": "DEV",
        "created_ts": 1,
    }
    fields.update(changes)
    return PusherRecord(**fields)
