"""Serving events to clients (spec: Client-Server API, "Room event format" and "Redactions").

``format_client_event`` turns a PDU into the ``ClientEvent`` format (or
``ClientEventWithoutRoomID`` for ``/sync``): the protocol keys (hashes, signatures, depth, DAG
edges, ...) are left out, ``unsigned`` is rebuilt by this server (``age`` from the clock it is
given, plus what the caller computed: ``transaction_id``, ``prev_content``, ``replaces_state``,
``membership``, bundled ``m.relations``...), and a redacted event is served with its content
stripped by its room version's redaction algorithm and the redaction under
``unsigned.redacted_because``.

``m.room.redaction`` events are served with ``redacts`` both at the top level and in ``content``
whatever the room version (spec: room version 11, "Moving the redacts property of
m.room.redaction events to a content property").

``format_federation_event`` is the ``federation`` event format: the PDU as received, with only
the ``unsigned`` keys other servers may see.
"""

import copy
from collections.abc import Mapping
from typing import Any

from myelin.core.events import EventView
from myelin.core.redaction import redact
from myelin.core.room_versions import RoomVersion

__all__ = [
    "FEDERATION_UNSIGNED_KEYS",
    "MEMBER_UNSIGNED_KEYS",
    "STRIPPED_STATE_TYPES",
    "age_ts_from_received",
    "client_event",
    "format_client_event",
    "format_federation_event",
    "membership_at_event",
    "strip_state_event",
    "stripped_state",
]

# The state types a server gives with an invite or knock (spec: "Stripped state", the
# recommended types), each under the empty state key.
STRIPPED_STATE_TYPES = (
    "m.room.create",
    "m.room.join_rules",
    "m.room.canonical_alias",
    "m.room.avatar",
    "m.room.name",
    "m.room.encryption",
    "m.room.topic",
)
# Keys of a received PDU's "unsigned" that are kept for m.room.member events: the stripped
# state of invites and knocks (spec: "Stripped state", v1.16: the create event is required in
# "invite_room_state" and "knock_room_state" under "unsigned").
MEMBER_UNSIGNED_KEYS = frozenset({"invite_room_state", "knock_room_state"})
# Keys of "unsigned" passed on to other servers: "age" (spec: PDU "UnsignedData") and, for
# m.room.member events, the stripped state. Everything else in "unsigned" is this server's own
# annotation (transaction IDs, prev_content, redacted_because, bundled relations, ...).
FEDERATION_UNSIGNED_KEYS = frozenset({"age"})

# Bundled aggregations not served with a redacted event (spec: "Event replacements": if the
# original event is redacted, an m.replace relationship is not bundled with it).
_NOT_BUNDLED_WHEN_REDACTED = frozenset({"m.replace"})


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def age_ts_from_received(pdu: Mapping[str, Any], received_ts: int) -> int:
    """The local time at which an event received at ``received_ts`` had age 0.

    A sending server may give the event's ``age`` in ``unsigned``; without it the event is taken
    to be as old as the time since its ``origin_server_ts``.
    """
    unsigned = pdu.get("unsigned")
    age = _int(unsigned.get("age")) if isinstance(unsigned, Mapping) else None
    if age is not None and age >= 0:
        return received_ts - age
    origin_server_ts = _int(pdu.get("origin_server_ts"))
    return received_ts if origin_server_ts is None else min(origin_server_ts, received_ts)


def strip_state_event(event: Any) -> dict[str, Any] | None:
    """A state event pruned to the stripped state schema, or None if it cannot be.

    Stripped state events have only ``sender``, ``type``, ``state_key`` and ``content``; servers
    prune what they received over federation before passing it to clients (spec: "Stripped
    state", v1.16).
    """
    if not isinstance(event, Mapping):
        return None
    sender, event_type = event.get("sender"), event.get("type")
    state_key, content = event.get("state_key"), event.get("content")
    if not (
        isinstance(sender, str)
        and isinstance(event_type, str)
        and isinstance(state_key, str)
        and isinstance(content, Mapping)
    ):
        return None
    return {
        "type": event_type,
        "state_key": state_key,
        "sender": sender,
        "content": copy.deepcopy(dict(content)),
    }


def stripped_state(events: Any) -> list[dict[str, Any]]:
    """A list of stripped state events; entries that are not state events are left out."""
    if not isinstance(events, list):
        return []
    return [stripped for event in events if (stripped := strip_state_event(event)) is not None]


def membership_at_event(pdu: Mapping[str, Any], user_id: str, membership_before: str | None) -> str:
    """The requesting user's membership "at the time of the event" for ``unsigned.membership``.

    It includes any change made by the event itself; a user with no ``m.room.member`` state
    has ``leave`` (spec: ``ClientEvent``, ``unsigned.membership``, v1.11).
    """
    if pdu.get("type") == "m.room.member" and pdu.get("state_key") == user_id:
        content = pdu.get("content")
        membership = content.get("membership") if isinstance(content, Mapping) else None
        if isinstance(membership, str):
            return membership
    return membership_before if membership_before is not None else "leave"


def format_client_event(
    pdu: Mapping[str, Any],
    event_id: str,
    *,
    room_version: RoomVersion,
    now_ms: int,
    age_ts: int | None = None,
    include_room_id: bool = True,
    unsigned_extra: Mapping[str, Any] | None = None,
    redacted_by: EventView | None = None,
    redacted_by_age_ts: int | None = None,
) -> dict[str, Any]:
    """The client format of the event ``pdu`` with ID ``event_id``.

    ``age_ts`` is the local time at which the event's age was 0 (``age_ts_from_received`` for
    received events; by default its ``origin_server_ts``); ``unsigned.age`` is ``now_ms`` minus
    it. ``unsigned_extra`` is merged into ``unsigned`` (the caller decides what the requesting
    client may see: ``transaction_id`` only for the client that sent the event,
    ``prev_content`` only if the previous event is visible, ...). ``redacted_by`` is the
    redaction event that redacted this one, if any. ``include_room_id`` is false for
    ``ClientEventWithoutRoomID`` (``/sync``).
    """
    source = redact(pdu, room_version) if redacted_by is not None else pdu
    view = EventView(source, event_id, room_version)
    content = copy.deepcopy(dict(view.content))
    event: dict[str, Any] = {
        "event_id": event_id,
        "type": view.type,
        "sender": view.sender,
        "origin_server_ts": view.origin_server_ts,
        "content": content,
    }
    if include_room_id:
        room_id = source.get("room_id")
        if isinstance(room_id, str) or (
            room_version.room_id_is_create_event_id and view.type == "m.room.create"
        ):
            # Room version 12: the create event has no room_id; it derives from the event ID.
            event["room_id"] = view.room_id
    if view.state_key is not None:
        event["state_key"] = view.state_key
    redacts = view.redacts
    if redacts is not None:
        # Both places, whatever the room version, for old and new clients alike. Before v11 a
        # content.redacts written by the sender means nothing: it is replaced by the real target.
        event["redacts"] = redacts
        content["redacts"] = redacts
    elif view.type == "m.room.redaction":
        # No target (before v11: no top-level redacts): serve no content.redacts either.
        content.pop("redacts", None)
    event["unsigned"] = _client_unsigned(
        pdu,
        view,
        now_ms=now_ms,
        age_ts=age_ts,
        include_room_id=include_room_id,
        unsigned_extra=unsigned_extra,
        redacted_by=redacted_by,
        redacted_by_age_ts=redacted_by_age_ts,
    )
    return event


def _client_unsigned(
    pdu: Mapping[str, Any],
    view: EventView,
    *,
    now_ms: int,
    age_ts: int | None,
    include_room_id: bool,
    unsigned_extra: Mapping[str, Any] | None,
    redacted_by: EventView | None,
    redacted_by_age_ts: int | None,
) -> dict[str, Any]:
    unsigned: dict[str, Any] = {}
    received = pdu.get("unsigned")
    if view.type == "m.room.member" and isinstance(received, Mapping):
        # Stripped state of an invite or knock stays with the member event, redacted or not:
        # it is not part of the event's content. It is pruned to the stripped state schema.
        for key in MEMBER_UNSIGNED_KEYS & received.keys():
            unsigned[key] = stripped_state(received[key])
    if unsigned_extra:
        for key, value in unsigned_extra.items():
            if key not in ("age", "redacted_because"):
                unsigned[key] = copy.deepcopy(value)
    base = age_ts if age_ts is not None else view.origin_server_ts
    unsigned["age"] = now_ms - base
    if redacted_by is not None:
        unsigned["redacted_because"] = format_client_event(
            redacted_by.json,
            redacted_by.event_id,
            room_version=redacted_by.room_version,
            now_ms=now_ms,
            age_ts=redacted_by_age_ts,
            include_room_id=include_room_id,
        )
        relations = unsigned.get("m.relations")
        if isinstance(relations, Mapping):
            kept = {k: v for k, v in relations.items() if k not in _NOT_BUNDLED_WHEN_REDACTED}
            if kept:
                unsigned["m.relations"] = kept
            else:
                del unsigned["m.relations"]
    return unsigned


def client_event(
    event: EventView,
    *,
    now_ms: int,
    age_ts: int | None = None,
    include_room_id: bool = True,
    unsigned_extra: Mapping[str, Any] | None = None,
    redacted_by: EventView | None = None,
    redacted_by_age_ts: int | None = None,
) -> dict[str, Any]:
    """``format_client_event`` for an ``EventView``."""
    return format_client_event(
        event.json,
        event.event_id,
        room_version=event.room_version,
        now_ms=now_ms,
        age_ts=age_ts,
        include_room_id=include_room_id,
        unsigned_extra=unsigned_extra,
        redacted_by=redacted_by,
        redacted_by_age_ts=redacted_by_age_ts,
    )


def format_federation_event(
    pdu: Mapping[str, Any],
    *,
    now_ms: int | None = None,
    age_ts: int | None = None,
    room_version: RoomVersion | None = None,
    redacted: bool = False,
) -> dict[str, Any]:
    """The ``federation`` format: the PDU as received, minus this server's ``unsigned`` keys.

    With ``now_ms``, ``unsigned.age`` is recomputed (from ``age_ts``, by default the event's
    ``origin_server_ts``); otherwise a received ``age`` is passed on as is. With ``redacted``
    (which needs ``room_version``) the PDU is served redacted, as every redacted event is.
    """
    if redacted:
        if room_version is None:
            raise ValueError("a redacted event needs its room version")
        served = redact(pdu, room_version)
    else:
        served = {key: copy.deepcopy(value) for key, value in pdu.items() if key != "unsigned"}
    received = pdu.get("unsigned")
    received = received if isinstance(received, Mapping) else {}
    allowed = FEDERATION_UNSIGNED_KEYS
    if pdu.get("type") == "m.room.member":
        allowed = allowed | MEMBER_UNSIGNED_KEYS
    unsigned = {key: copy.deepcopy(received[key]) for key in allowed & received.keys()}
    if now_ms is not None:
        base = age_ts if age_ts is not None else _int(pdu.get("origin_server_ts"))
        if base is not None:
            unsigned["age"] = now_ms - base
    elif "age" in unsigned and _int(unsigned["age"]) is None:
        del unsigned["age"]
    if unsigned:
        served["unsigned"] = unsigned
    return served
