"""Authorization rules of room versions 1 to 12 (spec: "Room Versions", "Authorization rules").

The entry point. The rules live in ``myelin.core.auth``, one module per rule group:

- ``auth.selection``: "Auth events selection" of the server-server API;
- ``auth.independent``: rule 1 (create), rule 2 of v12 (room ID), the auth events rule, the
  ``join_authorised_via_users_server`` signature;
- ``auth.membership`` and ``auth.third_party_invite``: the ``m.room.member`` rule;
- ``auth.power_level_changes``: the ``m.room.power_levels`` rule;
- this module: the remaining top-level rules, in order.

Every rejection raises ``AuthError`` whose ``rule`` is the spec's number for the rule in the
event's room version (rule 4 exists only in v1-v5, rule 2 of v12 shifts the rest, and so on).
"""

from collections.abc import Sequence

from myelin.core.auth.common import (
    ALIASES,
    CREATE,
    JOIN,
    MEMBER,
    POWER_LEVELS,
    REDACTION,
    THIRD_PARTY_INVITE,
    AuthState,
    domain_of,
    membership_of,
    reject,
    top_rule,
)
from myelin.core.auth.independent import (
    ServerSignatureCheck,
    check_room_id_names_create_event,
    check_state_independent_auth_rules,
)
from myelin.core.auth.membership import check_member_event
from myelin.core.auth.power_level_changes import check_power_levels_event
from myelin.core.auth.selection import auth_types_for_event
from myelin.core.events import EventView
from myelin.core.power_levels import power_level_value, required_power_level, user_power_level
from myelin.core.room_versions import EventIdFormat, RoomVersion

__all__ = [
    "AuthState",
    "ServerSignatureCheck",
    "auth_types_for_event",
    "check_auth_rules",
    "check_state_dependent_auth_rules",
    "check_state_independent_auth_rules",
]


def check_state_dependent_auth_rules(
    room_version: RoomVersion, event: EventView, auth_state: AuthState
) -> None:
    """Check every rule that reads room state against ``auth_state``; raise ``AuthError``.

    ``auth_state`` maps ``(type, state_key)`` to events: the event's auth events, the state
    before the event, or the partial state of state resolution's iterative auth checks. It must
    hold the ``m.room.create`` event under ``("m.room.create", "")``, in room version 12 too
    (where the create event is not among the auth events).
    """
    # 1: If type is m.room.create: allowed by the state-independent checks.
    if event.type == CREATE:
        return
    create = auth_state.get((CREATE, ""))
    if create is None:
        # Without a create event no rule can be evaluated: 2.4 (v1-v11) "no m.room.create
        # event among the entries"; 2 (v12) "not an event ID for a m.room.create event".
        rule = "2" if room_version.room_id_is_create_event_id else "2.4"
        raise reject(rule, "no create event in the state")
    # 2 (v12): the room ID names this create event.
    check_room_id_names_create_event(room_version, event, create)

    # 3 (4 in v12): If the content of the m.room.create event in the room state has the
    # property m.federate set to false, and the sender domain of the event does not match the
    # sender domain of the create event, reject.
    if create.content.get("m.federate") is False and (
        domain_of(event.sender) != domain_of(create.sender)
    ):
        raise reject(str(top_rule(room_version, 3)), "the room does not federate")

    # 4 (v1-v5): If type is m.room.aliases:
    if room_version.special_case_aliases_auth and event.type == ALIASES:
        # 4.1: If event has no state_key, reject.
        if event.state_key is None:
            raise reject("4.1", "m.room.aliases without a state_key")
        # 4.2: If sender's domain doesn't match state_key, reject.
        if domain_of(event.sender) != event.state_key:
            raise reject("4.2", "m.room.aliases state_key is not the sender's domain")
        # 4.3: Otherwise, allow.
        return

    # 4 (5 in v1-v5 and v12): If type is m.room.member: the membership rule.
    if event.type == MEMBER:
        check_member_event(room_version, event, auth_state)
        return

    # 5 (6 in v1-v5 and v12): If the sender's current membership state is not join, reject.
    if membership_of(auth_state, event.sender) != JOIN:
        raise reject(str(top_rule(room_version, 5)), "the sender is not in the room")

    power_levels = auth_state.get((POWER_LEVELS, ""))
    sender_level = user_power_level(room_version, event.sender, create, power_levels)

    # 6 (7 in v1-v5 and v12): If type is m.room.third_party_invite: allow if and only if
    # sender's current power level is greater than or equal to the invite level.
    if event.type == THIRD_PARTY_INVITE:
        if sender_level >= power_level_value(room_version, power_levels, "invite"):
            return
        raise reject(f"{top_rule(room_version, 6)}.1", "the sender may not invite")

    # 7 (8 in v1-v5 and v12): If the event type's required power level is greater than the
    # sender's power level, reject.
    required = required_power_level(room_version, event.type, event.state_key, power_levels)
    if required > sender_level:
        raise reject(
            str(top_rule(room_version, 7)),
            f"sending {event.type} needs power level {required}",
        )

    # 8 (9 in v1-v5 and v12): If the event has a state_key that starts with an @ and does not
    # match the sender, reject.
    state_key = event.state_key
    if state_key is not None and state_key.startswith("@") and state_key != event.sender:
        raise reject(str(top_rule(room_version, 8)), "state_key names another user")

    # 9 (10 in v1-v5 and v12): If type is m.room.power_levels: the power levels rule.
    if event.type == POWER_LEVELS:
        check_power_levels_event(room_version, event, auth_state)
        return

    # 11 (v1-v2): If type is m.room.redaction. Only room versions whose event IDs carry the
    # origin's domain have this rule; from v3 redactions are checked on handling instead.
    if room_version.event_id_format is EventIdFormat.V1 and event.type == REDACTION:
        # 11.1: If the sender's power level is greater than or equal to the redact level, allow.
        if sender_level >= power_level_value(room_version, power_levels, "redact"):
            return
        # 11.2: If the domain of the event_id of the event being redacted is the same as the
        # domain of the event_id of the m.room.redaction, allow.
        redacts = event.redacts
        if redacts is not None and domain_of(redacts) == domain_of(event.event_id):
            return
        # 11.3: Otherwise, reject.
        raise reject("11.3", "the sender may not redact another server's event")

    # 10 (11 in v3-v5 and v12, 12 in v1-v2): Otherwise, allow.


def auth_state_from_events(
    auth_events: Sequence[EventView], create_event: EventView | None = None
) -> dict[tuple[str, str], EventView]:
    """A state map of ``auth_events`` (state events only), plus ``create_event`` if given."""
    state: dict[tuple[str, str], EventView] = {}
    for auth_event in auth_events:
        pair = auth_event.state_pair
        if pair is not None:
            state[pair] = auth_event
    if create_event is not None:
        state[(CREATE, "")] = create_event
    return state


def check_auth_rules(
    room_version: RoomVersion,
    event: EventView,
    auth_events: Sequence[EventView],
    *,
    create_event: EventView | None = None,
    server_signature_check: ServerSignatureCheck | None = None,
) -> None:
    """Check every auth rule against the event's own auth events; raise ``AuthError``.

    In room version 12 the create event is not among the auth events: pass it as
    ``create_event`` (rule 2 rejects the event otherwise). ``server_signature_check`` verifies
    the ``join_authorised_via_users_server`` server's signature when given (see
    ``check_join_authorised_signature``). Whether an auth event was itself rejected is the
    caller's business (rule 2.3, 3.3 in v12).
    """
    check_state_independent_auth_rules(
        room_version,
        event,
        auth_events,
        create_event=create_event,
        server_signature_check=server_signature_check,
    )
    if event.type == CREATE:
        return
    if not room_version.room_id_is_create_event_id:
        create_event = None  # the create event is among the auth events
    check_state_dependent_auth_rules(
        room_version, event, auth_state_from_events(auth_events, create_event)
    )
