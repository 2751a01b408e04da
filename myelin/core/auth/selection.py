"""Auth events selection (spec: Server-Server API, "Auth events selection").

Which ``(type, state_key)`` pairs of the room state an event's ``auth_events`` may come from.
The same selection decides, on receipt, which entries an event's ``auth_events`` may contain
(auth rule 2.2, 3.2 in room version 12).
"""

from collections.abc import Mapping
from typing import Any

from myelin.core.auth.common import (
    CREATE,
    INVITE,
    JOIN,
    JOIN_AUTHORISED_VIA,
    JOIN_RULES,
    KNOCK,
    MEMBER,
    POWER_LEVELS,
    THIRD_PARTY_INVITE,
)
from myelin.core.room_versions import RoomVersion


def auth_types_for_event(
    room_version: RoomVersion,
    event_type: str,
    sender: str,
    state_key: str | None,
    content: Mapping[str, Any],
) -> set[tuple[str, str]]:
    """The state keys an event of this shape selects for its ``auth_events``.

    The ``m.room.create`` event selects nothing. Every other event selects the create event
    (not from room version 12, whose room ID names it), the power levels, and the sender's
    membership; membership events also select the target's membership, the join rules (for
    ``join``, ``invite`` and ``knock``), the third-party invite named by the invite's token, and
    for restricted joins the authorising user's membership.
    """
    if event_type == CREATE:
        return set()
    selected: set[tuple[str, str]] = {(POWER_LEVELS, ""), (MEMBER, sender)}
    # "Depending on the room version, the m.room.create event."
    if not room_version.room_id_is_create_event_id:
        selected.add((CREATE, ""))
    if event_type != MEMBER:
        return selected
    # "The target's current m.room.member event, if any."
    if state_key is not None:
        selected.add((MEMBER, state_key))
    membership = content.get("membership")
    # "If membership is join, invite or knock, the current m.room.join_rules event, if any."
    if membership in (JOIN, INVITE, KNOCK):
        selected.add((JOIN_RULES, ""))
    # "If membership is invite and content contains a third_party_invite property, the current
    # m.room.third_party_invite event with state_key matching
    # content.third_party_invite.signed.token, if any."
    if membership == INVITE:
        third_party_invite = content.get("third_party_invite")
        if isinstance(third_party_invite, Mapping):
            signed = third_party_invite.get("signed")
            if isinstance(signed, Mapping):
                token = signed.get("token")
                if isinstance(token, str):
                    selected.add((THIRD_PARTY_INVITE, token))
    # "If membership is join, content.join_authorised_via_users_server is present, and the room
    # version supports restricted rooms, then the m.room.member event with state_key matching
    # content.join_authorised_via_users_server."
    if membership == JOIN and room_version.restricted_join_rule:
        authoriser = content.get(JOIN_AUTHORISED_VIA)
        if isinstance(authoriser, str):
            selected.add((MEMBER, authoriser))
    return selected
