"""The ``m.room.member`` authorization rule (spec: "Room Versions", "Authorization rules").

Rule 5 in room versions 1 to 5 and 12, rule 4 in versions 6 to 11. Sub-rules by version:
v1-v6 have join, invite, leave, ban; v7 adds knock; v8 adds the
``join_authorised_via_users_server`` signature (sub-rule 2, checked with the state-independent
rules) and the ``restricted`` join rule; v10 adds ``knock_restricted``; v11 takes the creator from
the create event's ``sender``.
"""

from myelin.core.auth.common import (
    BAN,
    CREATE,
    INVITE,
    JOIN,
    JOIN_AUTHORISED_VIA,
    KNOCK,
    KNOCK_RESTRICTED,
    LEAVE,
    POWER_LEVELS,
    PUBLIC,
    RESTRICTED,
    AuthState,
    join_rule_number,
    join_rule_of,
    member_rule,
    membership_of,
    original_creator,
    reject,
    top_rule,
)
from myelin.core.auth.third_party_invite import check_third_party_invite
from myelin.core.events import EventView
from myelin.core.power_levels import power_level_value, user_power_level
from myelin.core.room_versions import RoomVersion


class _Levels:
    """Power levels of the state being checked against."""

    def __init__(self, room_version: RoomVersion, auth_state: AuthState) -> None:
        self._room_version = room_version
        self._create = auth_state.get((CREATE, ""))
        self._power_levels = auth_state.get((POWER_LEVELS, ""))

    def user(self, user_id: str) -> int | float:
        return user_power_level(self._room_version, user_id, self._create, self._power_levels)

    def level(self, key: str) -> int:
        return power_level_value(self._room_version, self._power_levels, key)


def check_member_event(room_version: RoomVersion, event: EventView, auth_state: AuthState) -> None:
    """The ``m.room.member`` rule; returns if allowed, raises ``AuthError`` if rejected."""
    top = top_rule(room_version, 4)

    def number(sub: int) -> str:
        return f"{top}.{member_rule(room_version, sub)}"

    target = event.state_key
    membership = event.content.get("membership")
    # .1: If there is no state_key property, or no membership property in content, reject.
    if target is None or "membership" not in event.content:
        raise reject(number(1), "no state_key or no membership")
    # .2 (v8+): join_authorised_via_users_server signature, see independent.py.
    levels = _Levels(room_version, auth_state)
    if membership == JOIN:
        # .3 (.2 before v8)
        _check_join(room_version, event, auth_state, levels, number(3))
    elif membership == INVITE:
        # .4 (.3 before v8)
        _check_invite(event, auth_state, levels, number(4))
    elif membership == LEAVE:
        # .5 (.4 before v8)
        _check_leave(room_version, event, auth_state, levels, number(5))
    elif membership == BAN:
        # .6 (.5 before v8)
        _check_ban(event, auth_state, levels, number(6))
    elif membership == KNOCK and room_version.knock:
        # .7 (v7+; .6 in v7)
        _check_knock(room_version, event, auth_state, number(7))
    else:
        # .8 (.7 in v7, .6 before v7): Otherwise, the membership is unknown. Reject.
        raise reject(number(8), f"unknown membership {membership!r}")


def _check_join(
    room_version: RoomVersion,
    event: EventView,
    auth_state: AuthState,
    levels: _Levels,
    rule: str,
) -> None:
    def number(sub: int) -> str:
        return f"{rule}.{join_rule_number(room_version, sub)}"

    sender = event.sender
    # .1: If the only previous event is an m.room.create and the state_key is the creator
    # (from v11: the sender of the m.room.create), allow.
    create = auth_state.get((CREATE, ""))
    prev_events = event.prev_event_ids
    if (
        create is not None
        and len(prev_events) == 1
        and prev_events[0] == create.event_id
        and event.state_key == original_creator(room_version, create)
    ):
        return
    # .2: If the sender does not match state_key, reject.
    if sender != event.state_key:
        raise reject(number(2), "the sender may only join as themselves")
    current = membership_of(auth_state, sender)
    # .3: If the sender is banned, reject.
    if current == BAN:
        raise reject(number(3), "the sender is banned")
    join_rule = join_rule_of(auth_state)
    # .4: If the join_rule is invite (or, from v7, knock) then allow if membership state is
    # invite or join.
    if join_rule == INVITE or (join_rule == KNOCK and room_version.knock):
        if current in (INVITE, JOIN):
            return
        raise reject(number(7), f"join rule {join_rule} and the sender is not invited")
    # .5 (v8+): If the join_rule is restricted (or, from v10, knock_restricted):
    if (join_rule == RESTRICTED and room_version.restricted_join_rule) or (
        join_rule == KNOCK_RESTRICTED and room_version.knock_restricted_join_rule
    ):
        # .5.1: If membership state is join or invite, allow.
        if current in (JOIN, INVITE):
            return
        # .5.2: If the join_authorised_via_users_server key in content is not a user with
        # sufficient permission to invite other users or is not a joined member of the room,
        # reject.
        authoriser = event.content.get(JOIN_AUTHORISED_VIA)
        if not isinstance(authoriser, str) or membership_of(auth_state, authoriser) != JOIN:
            raise reject(number(5) + ".2", "the authorising user is not a joined member")
        if levels.user(authoriser) < levels.level("invite"):
            raise reject(number(5) + ".2", "the authorising user may not invite")
        # .5.3: Otherwise, allow.
        return
    # .6 (.5 before v8): If the join_rule is public, allow.
    if join_rule == PUBLIC:
        return
    # .7 (.6 before v8): Otherwise, reject.
    raise reject(number(7), f"join rule {join_rule!r} does not allow the join")


def _check_invite(event: EventView, auth_state: AuthState, levels: _Levels, rule: str) -> None:
    # .1: If content has a third_party_invite property: sub-steps 1 to 8.
    if "third_party_invite" in event.content:
        check_third_party_invite(f"{rule}.1", event, auth_state)
        return
    target = event.state_key or ""
    # .2: If the sender's current membership state is not join, reject.
    if membership_of(auth_state, event.sender) != JOIN:
        raise reject(f"{rule}.2", "the sender is not in the room")
    # .3: If target user's current membership state is join or ban, reject.
    if membership_of(auth_state, target) in (JOIN, BAN):
        raise reject(f"{rule}.3", "the target is joined or banned")
    # .4: If the sender's power level is greater than or equal to the invite level, allow.
    if levels.user(event.sender) >= levels.level("invite"):
        return
    # .5: Otherwise, reject.
    raise reject(f"{rule}.5", "the sender may not invite")


def _check_leave(
    room_version: RoomVersion,
    event: EventView,
    auth_state: AuthState,
    levels: _Levels,
    rule: str,
) -> None:
    sender = event.sender
    target = event.state_key or ""
    # .1: If the sender matches state_key, allow if and only if that user's current
    # membership state is invite or join (from v7: invite, join, or knock).
    if sender == target:
        allowed = (INVITE, JOIN, KNOCK) if room_version.knock else (INVITE, JOIN)
        if membership_of(auth_state, sender) in allowed:
            return
        raise reject(f"{rule}.1", "the sender is not in the room, invited or knocking")
    # .2: If the sender's current membership state is not join, reject.
    if membership_of(auth_state, sender) != JOIN:
        raise reject(f"{rule}.2", "the sender is not in the room")
    sender_level = levels.user(sender)
    # .3: If the target user's current membership state is ban, and the sender's power level
    # is less than the ban level, reject.
    if membership_of(auth_state, target) == BAN and sender_level < levels.level("ban"):
        raise reject(f"{rule}.3", "the sender may not unban")
    # .4: If the sender's power level is greater than or equal to the kick level, and the
    # target user's power level is less than the sender's power level, allow.
    if sender_level >= levels.level("kick") and levels.user(target) < sender_level:
        return
    # .5: Otherwise, reject.
    raise reject(f"{rule}.5", "the sender may not kick the target")


def _check_ban(event: EventView, auth_state: AuthState, levels: _Levels, rule: str) -> None:
    sender = event.sender
    # .1: If the sender's current membership state is not join, reject.
    if membership_of(auth_state, sender) != JOIN:
        raise reject(f"{rule}.1", "the sender is not in the room")
    sender_level = levels.user(sender)
    # .2: If the sender's power level is greater than or equal to the ban level, and the
    # target user's power level is less than the sender's power level, allow.
    if sender_level >= levels.level("ban") and levels.user(event.state_key or "") < sender_level:
        return
    # .3: Otherwise, reject.
    raise reject(f"{rule}.3", "the sender may not ban the target")


def _check_knock(
    room_version: RoomVersion, event: EventView, auth_state: AuthState, rule: str
) -> None:
    join_rule = join_rule_of(auth_state)
    # .1: If the join_rule is anything other than knock (or, from v10, knock_restricted),
    # reject.
    if not (
        join_rule == KNOCK
        or (join_rule == KNOCK_RESTRICTED and room_version.knock_restricted_join_rule)
    ):
        raise reject(f"{rule}.1", f"join rule {join_rule!r} does not allow knocking")
    # .2: If sender does not match state_key, reject.
    if event.sender != event.state_key:
        raise reject(f"{rule}.2", "the sender may only knock as themselves")
    # .3: If the sender's current membership is not ban, invite, or join, allow.
    if membership_of(auth_state, event.sender) not in (BAN, INVITE, JOIN):
        return
    # .4: Otherwise, reject.
    raise reject(f"{rule}.4", "the sender is banned, invited or joined")
