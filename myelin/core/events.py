"""A typed, read-only view of a PDU (spec: "Room Versions", event format of each version).

The PDU's JSON as received is the truth: it is kept unchanged in ``EventView.json`` (hashes and
signatures depend on unknown fields and exact integers). The view only reads it. Server facts
(outlier, rejected, soft-failed, stream position) are not part of the event and live elsewhere.
"""

from collections.abc import Mapping
from typing import Any

from myelin.core.room_versions import EventIdFormat, RoomVersion

JsonDict = dict[str, Any]


class EventView:
    """Read-only accessors over one PDU's JSON, in the format of its room version.

    ``event_id`` is given by the caller: for room versions 1 and 2 it is the ``event_id`` field,
    for later versions it is computed from the reference hash (``myelin.core.hashes``).
    """

    __slots__ = ("event_id", "json", "room_version")

    def __init__(self, json: Mapping[str, Any], event_id: str, room_version: RoomVersion) -> None:
        self.json = json
        self.event_id = event_id
        self.room_version = room_version

    def __repr__(self) -> str:
        return f"<EventView {self.event_id} {self.type} {self.state_key!r} from {self.sender}>"

    @property
    def room_id(self) -> str:
        """The room ID; in room version 12 the create event's room ID derives from its ID."""
        room_id = self.json.get("room_id")
        if (
            room_id is None
            and self.room_version.room_id_is_create_event_id
            and self.type == "m.room.create"
        ):
            return "!" + self.event_id[1:]
        return str(room_id)

    @property
    def type(self) -> str:
        return str(self.json.get("type"))

    @property
    def sender(self) -> str:
        return str(self.json.get("sender"))

    @property
    def state_key(self) -> str | None:
        key = self.json.get("state_key")
        return key if isinstance(key, str) else None

    @property
    def is_state(self) -> bool:
        return isinstance(self.json.get("state_key"), str)

    @property
    def content(self) -> Mapping[str, Any]:
        content = self.json.get("content")
        return content if isinstance(content, Mapping) else {}

    @property
    def depth(self) -> int:
        depth = self.json.get("depth")
        return depth if isinstance(depth, int) and not isinstance(depth, bool) else 0

    @property
    def origin_server_ts(self) -> int:
        ts = self.json.get("origin_server_ts")
        return ts if isinstance(ts, int) and not isinstance(ts, bool) else 0

    @property
    def prev_event_ids(self) -> list[str]:
        return _event_id_list(self.json.get("prev_events"), self.room_version)

    @property
    def auth_event_ids(self) -> list[str]:
        return _event_id_list(self.json.get("auth_events"), self.room_version)

    @property
    def membership(self) -> str | None:
        """``content.membership`` of an ``m.room.member`` event, else None."""
        if self.type != "m.room.member":
            return None
        membership = self.content.get("membership")
        return membership if isinstance(membership, str) else None

    @property
    def redacts(self) -> str | None:
        """The event this redaction redacts (``content.redacts`` from room version 11)."""
        if self.type != "m.room.redaction":
            return None
        if self.room_version.redacts_in_content:
            value = self.content.get("redacts")
        else:
            value = self.json.get("redacts")
        return value if isinstance(value, str) else None

    @property
    def hashes(self) -> Mapping[str, Any]:
        hashes = self.json.get("hashes")
        return hashes if isinstance(hashes, Mapping) else {}

    @property
    def signatures(self) -> Mapping[str, Any]:
        signatures = self.json.get("signatures")
        return signatures if isinstance(signatures, Mapping) else {}

    @property
    def unsigned(self) -> Mapping[str, Any]:
        unsigned = self.json.get("unsigned")
        return unsigned if isinstance(unsigned, Mapping) else {}

    @property
    def state_pair(self) -> tuple[str, str] | None:
        """``(type, state_key)`` of a state event, else None."""
        key = self.state_key
        return None if key is None else (self.type, key)


def _event_id_list(value: Any, room_version: RoomVersion) -> list[str]:
    """Event IDs from ``prev_events``/``auth_events``: ``[[id, hashes], ...]`` in v1/v2."""
    if not isinstance(value, list):
        return []
    if room_version.event_id_format is EventIdFormat.V1:
        return [
            item[0]
            for item in value
            if isinstance(item, list) and item and isinstance(item[0], str)
        ]
    return [item for item in value if isinstance(item, str)]
