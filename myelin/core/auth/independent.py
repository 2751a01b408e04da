"""State-independent authorization rules (spec: "Room Versions", "Authorization rules").

The rules that look only at the event and the events its own ``auth_events`` list:

- rule 1, ``m.room.create`` events;
- rule 2 of room version 12, the room ID names an ``m.room.create`` event;
- rule 2 (3 in v12), the ``auth_events`` entries themselves;
- member sub-rule 2 of room versions 8+ (``join_authorised_via_users_server`` signature).

Rule 2.3 (3.3 in v12), "entries which were themselves rejected", needs server facts the core
does not hold: the caller must not pass an event whose auth events include a rejected one (or
must reject it itself), and for v12 must only pass an accepted create event.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from myelin.core.auth.common import (
    CREATE,
    JOIN_AUTHORISED_VIA,
    MEMBER,
    domain_of,
    is_valid_user_id,
    member_rule,
    reject,
    top_rule,
)
from myelin.core.auth.selection import auth_types_for_event
from myelin.core.events import EventView
from myelin.core.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion

# Answers whether ``event`` carries a valid signature from ``server_name``.
ServerSignatureCheck = Callable[[EventView, str], bool]


def check_create_event(room_version: RoomVersion, event: EventView) -> None:
    """Rule 1: an ``m.room.create`` event. Returns if allowed (rule 1.4/1.5, "allow")."""
    # 1.1: If it has any prev_events, reject.
    if event.json.get("prev_events"):
        raise reject("1.1", "the create event has prev_events")
    if room_version.room_id_is_create_event_id:
        # 1.2 (v12): If the event has a room_id, reject.
        if "room_id" in event.json:
            raise reject("1.2", "the create event has a room_id")
    # 1.2: If the domain of the room_id does not match the domain of the sender, reject.
    elif domain_of(event.room_id) == "" or domain_of(event.room_id) != domain_of(event.sender):
        raise reject("1.2", "the room ID's domain is not the sender's")
    # 1.3: If content.room_version is present and is not a recognised version, reject.
    if "room_version" in event.content:
        version = event.content["room_version"]
        if not isinstance(version, str) or version not in KNOWN_ROOM_VERSIONS:
            raise reject("1.3", f"unknown room version {version!r}")
    # 1.4 (v1-v10): If content has no creator property, reject.
    if not room_version.creator_is_sender and "creator" not in event.content:
        raise reject("1.4", "the create event has no creator")
    if room_version.privileged_creators and "additional_creators" in event.content:
        # 1.4 (v12): If additional_creators is present in content and is not an array of
        # strings where each string passes the user ID validation applied to sender, reject.
        additional = event.content["additional_creators"]
        if not isinstance(additional, list) or not all(
            is_valid_user_id(user) for user in additional
        ):
            raise reject("1.4", "additional_creators is not a list of user IDs")
    # 1.5 (1.4 in v11): Otherwise, allow.


def check_room_id_names_create_event(
    room_version: RoomVersion, event: EventView, create_event: EventView | None
) -> None:
    """Rule 2 (v12): the event's room ID is the ID of an accepted create event, sigil ``!``."""
    if not room_version.room_id_is_create_event_id:
        return
    if create_event is None or create_event.type != CREATE:
        raise reject("2", "the room's create event is not known")
    if not create_event.event_id.startswith("$") or (
        event.room_id != "!" + create_event.event_id[1:]
    ):
        raise reject("2", f"room ID {event.room_id} does not name create event")


def check_auth_events_entries(
    room_version: RoomVersion, event: EventView, auth_events: Sequence[EventView]
) -> None:
    """Rule 2 (3 in v12): the entries of the event's ``auth_events``."""
    rule = str(top_rule(room_version, 2))
    allowed = auth_types_for_event(
        room_version, event.type, event.sender, event.state_key, event.content
    )
    seen: set[tuple[str, str]] = set()
    for auth_event in auth_events:
        pair = auth_event.state_pair
        # .1: If there are duplicate entries for a given type and state_key pair, reject.
        if pair is not None and pair in seen:
            raise reject(f"{rule}.1", f"duplicate auth event for {pair}")
        # .2: If there are entries whose type and state_key don't match those specified by the
        # auth events selection algorithm, reject. (In v12 m.room.create must not be selected.)
        if pair is None or pair not in allowed:
            raise reject(f"{rule}.2", f"auth event {auth_event.event_id} is not selectable")
        seen.add(pair)
    # .3: entries which were themselves rejected: the caller's business (module docstring).
    # .4 (v1-v11): If there is no m.room.create event among the entries, reject.
    if not room_version.room_id_is_create_event_id and (CREATE, "") not in seen:
        raise reject(f"{rule}.4", "no create event among the auth events")
    # .5: If any event in auth_events has a room_id which does not match that of the event
    # being authorised, reject.
    for auth_event in auth_events:
        if auth_event.room_id != event.room_id:
            raise reject(f"{rule}.5", f"auth event {auth_event.event_id} is in another room")


def check_join_authorised_signature(
    room_version: RoomVersion,
    event: EventView,
    server_signature_check: ServerSignatureCheck | None,
) -> None:
    """Member sub-rule 2 (v8+): a ``join_authorised_via_users_server`` must sign the event.

    "If the event is not validly signed by the homeserver of the user ID denoted by the key,
    reject." The cryptographic check needs the server's keys, which the core does not fetch:
    ``server_signature_check`` answers it when given. Without it, the event must at least carry
    a signature by that server; the caller then relies on the signature checks performed on
    receipt of a PDU, which verify every signature from known keys.
    """
    if not room_version.restricted_join_rule or event.type != MEMBER:
        return
    if JOIN_AUTHORISED_VIA not in event.content:
        return
    rule = f"{top_rule(room_version, 4)}.{member_rule(room_version, 2)}.1"
    authoriser = event.content[JOIN_AUTHORISED_VIA]
    if not is_valid_user_id(authoriser):
        raise reject(rule, f"{JOIN_AUTHORISED_VIA} is not a user ID")
    server = domain_of(authoriser)
    signatures: Mapping[str, Any] = event.signatures
    by_server = signatures.get(server)
    if not isinstance(by_server, Mapping) or not by_server:
        raise reject(rule, f"the event is not signed by {server}")
    if server_signature_check is not None and not server_signature_check(event, server):
        raise reject(rule, f"the event is not validly signed by {server}")


def check_state_independent_auth_rules(
    room_version: RoomVersion,
    event: EventView,
    auth_events: Sequence[EventView],
    *,
    create_event: EventView | None = None,
    server_signature_check: ServerSignatureCheck | None = None,
) -> None:
    """Check the rules that need only the event and its auth events; raise ``AuthError``.

    ``create_event`` is the room's create event, needed in room version 12 (where it is not
    among the auth events) for rule 2; earlier versions ignore it. Whether an auth event (or
    that create event) was itself rejected is the caller's business (rule 2.3 / 3.3).
    """
    # 1: If type is m.room.create: checks, then allow.
    if event.type == CREATE:
        check_create_event(room_version, event)
        return
    # 2 (v12): the room ID is the create event's ID.
    check_room_id_names_create_event(room_version, event, create_event)
    # 2 (3 in v12): the auth events themselves.
    check_auth_events_entries(room_version, event, auth_events)
    # Member sub-rule 2 (v8+), which depends on the event alone.
    check_join_authorised_signature(room_version, event, server_signature_check)
