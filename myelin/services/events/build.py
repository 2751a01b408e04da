"""Building this server's own events (spec: Server-Server API, "Auth events selection" and
"Signing Events"; PDU formats ``pdu_v1`` to ``pdu_v12``; Room Version 12 "Room IDs").

Pure functions: the caller gathers the room's forward extremities and the state before the new
event from storage, and passes them in with the time, the server's name and signing key.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from myelin.core.auth_rules import auth_types_for_event
from myelin.core.canonical_json import MAX_INT
from myelin.core.event_signing import load_event, sign_event
from myelin.core.events import EventView
from myelin.core.hashes import SHA256, compute_reference_hash
from myelin.core.room_versions import EventIdFormat, RedactionRules, RoomVersion
from myelin.core.signing import SigningKey
from myelin.core.unpadded_base64 import encode_base64

# How many forward extremities a new local event points to at most: the most recent by depth.
# (The PDU formats allow 20; Synapse uses 10 so that forks merge without huge events.)
MAX_PREV_EVENTS = 10
# "Must be less than the maximum value for an integer": 2^63 - 1 before room version 6, the
# canonical JSON limit 2^53 - 1 after. "If the room's depth is already at the limit, the
# depth must be set to the limit."
MAX_DEPTH_LENIENT = 2**63 - 1
MAX_DEPTH_STRICT = MAX_INT


@dataclass(frozen=True)
class EventTemplate:
    """What a sender asks for: the parts of an event a client or a service chooses."""

    type: str
    sender: str
    content: Mapping[str, Any] = field(default_factory=dict)
    state_key: str | None = None
    # m.room.redaction: the redacted event (top-level before room version 11, in content after).
    redacts: str | None = None


@dataclass(frozen=True)
class Extremity:
    """A forward extremity as the prev event chooser sees it."""

    event_id: str
    depth: int
    stream_ordering: int


def choose_prev_events(extremities: Iterable[Extremity]) -> list[str]:
    """The forward extremities a new event points to: at most ``MAX_PREV_EVENTS``, deepest (then
    most recently persisted) first."""
    ordered = sorted(extremities, key=lambda e: (e.depth, e.stream_ordering), reverse=True)
    return [e.event_id for e in ordered[:MAX_PREV_EVENTS]]


def max_depth(room_version: RoomVersion) -> int:
    return MAX_DEPTH_STRICT if room_version.strict_canonicaljson else MAX_DEPTH_LENIENT


def next_depth(room_version: RoomVersion, prev_events: Sequence[EventView]) -> int:
    """The maximum depth of the prev events plus one, capped at the limit (1 for no prevs)."""
    deepest = max((e.depth for e in prev_events), default=0)
    return min(deepest + 1, max_depth(room_version))


def select_auth_events(
    room_version: RoomVersion,
    template: EventTemplate,
    state_before: Mapping[tuple[str, str], EventView],
) -> list[EventView]:
    """The ``auth_events`` of a new event: the entries of ``state_before`` that "Auth events
    selection" picks for an event of this shape (sorted by type and state key)."""
    wanted = auth_types_for_event(
        room_version, template.type, template.sender, template.state_key, template.content
    )
    return [state_before[key] for key in sorted(wanted) if key in state_before]


def _references(room_version: RoomVersion, events: Sequence[EventView]) -> list[Any]:
    if room_version.event_id_format is EventIdFormat.V1:
        # pdu_v1: [event_id, {"sha256": reference hash}] pairs.
        return [
            [e.event_id, {SHA256: encode_base64(compute_reference_hash(e.json, room_version))}]
            for e in events
        ]
    return [e.event_id for e in events]


def build_event(
    room_version: RoomVersion,
    room_id: str | None,
    template: EventTemplate,
    *,
    prev_events: Sequence[EventView],
    auth_events: Sequence[EventView],
    origin_server_ts: int,
    server_name: str,
    signing_key: SigningKey,
    event_id: str | None = None,
) -> EventView:
    """A new event of ``room_version``, hashed, signed by ``server_name`` and checked against the
    event format (``load_event``; raises ``InvalidEventError``).

    ``room_id`` is None only for a room version 12 ``m.room.create`` event, whose room ID is
    derived from its event ID. ``event_id`` is needed for room versions 1 and 2 (the origin
    server chooses it) and must be None after.
    """
    is_create = template.type == "m.room.create" and template.state_key == ""
    if room_version.event_id_format is EventIdFormat.V1:
        if event_id is None:
            raise ValueError(f"room version {room_version} needs an event ID from the server")
    elif event_id is not None:
        raise ValueError(f"room version {room_version} derives event IDs from hashes")
    content: dict[str, Any] = dict(template.content)
    pdu: dict[str, Any] = {
        "type": template.type,
        "sender": template.sender,
        "content": content,
        "prev_events": _references(room_version, prev_events),
        "auth_events": _references(room_version, auth_events),
        "depth": next_depth(room_version, prev_events),
        "origin_server_ts": origin_server_ts,
    }
    if room_version.room_id_is_create_event_id and is_create:
        # Room version 12: the create event has no room_id; the room ID is "!" + its event ID.
        if room_id is not None:
            raise ValueError("a room version 12 create event has no room_id")
    elif room_id is None:
        raise ValueError("the event needs a room_id")
    else:
        pdu["room_id"] = room_id
    if template.state_key is not None:
        pdu["state_key"] = template.state_key
    if template.redacts is not None:
        if room_version.redacts_in_content:
            content["redacts"] = template.redacts
        else:
            pdu["redacts"] = template.redacts
    if room_version.redaction is not RedactionRules.V11:
        # The top-level "origin" is part of the event format whose redaction algorithm keeps it
        # (room versions 1 to 10); from room version 11 it is no longer protected nor needed.
        pdu["origin"] = server_name
    if event_id is not None:
        pdu["event_id"] = event_id
    signed = sign_event(pdu, server_name, signing_key, room_version)
    return load_event(signed, room_version)
