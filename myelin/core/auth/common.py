"""Shared helpers of the authorization rules (spec: "Room Versions", "Authorization rules").

The spec numbers its rules differently in different room versions: rule 4 (``m.room.aliases``)
exists only in versions 1 to 5, rule 2 (room ID vs create event) only from version 12, the
``join_authorised_via_users_server`` sub-rule only from version 8, and so on. The functions here
turn a rule's number in one reference version into its number in the version being checked, so
every ``AuthError.rule`` carries the number the spec gives it for that room version.
"""

from collections.abc import Mapping

from myelin.core import identifiers
from myelin.core.errors import AuthError
from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion

# The state an event is checked against: (type, state_key) -> event.
AuthState = Mapping[tuple[str, str], EventView]

CREATE = "m.room.create"
MEMBER = "m.room.member"
JOIN_RULES = "m.room.join_rules"
POWER_LEVELS = "m.room.power_levels"
THIRD_PARTY_INVITE = "m.room.third_party_invite"
ALIASES = "m.room.aliases"
REDACTION = "m.room.redaction"

# Memberships and join rules.
JOIN = "join"
INVITE = "invite"
LEAVE = "leave"
BAN = "ban"
KNOCK = "knock"
PUBLIC = "public"
RESTRICTED = "restricted"
KNOCK_RESTRICTED = "knock_restricted"

JOIN_AUTHORISED_VIA = "join_authorised_via_users_server"


def top_rule(room_version: RoomVersion, number: int) -> int:
    """The number of a top-level rule, given its number in room versions 6 to 11.

    Versions 1 to 5 have the ``m.room.aliases`` rule 4, which shifts rules 4 and later up by one;
    version 12 adds rule 2 (room ID vs create event), which shifts rules 2 and later up by one.
    """
    if room_version.special_case_aliases_auth and number >= 4:
        number += 1
    if room_version.room_id_is_create_event_id and number >= 2:
        number += 1
    return number


def member_rule(room_version: RoomVersion, number: int) -> int:
    """The number of a sub-rule of the ``m.room.member`` rule, given its number in v8 to v12.

    v8 added sub-rule 2 (``join_authorised_via_users_server`` signature); v7 added ``knock``
    (sub-rule 7 in v8), pushing "unknown membership" from 6 to 7 (8 from v8).
    """
    shift = 0
    if not room_version.restricted_join_rule and number > 2:
        shift += 1
    if not room_version.knock and number == 8:
        shift += 1
    return number - shift


def join_rule_number(room_version: RoomVersion, number: int) -> int:
    """The number of a sub-rule of ``membership`` = ``join``, given its number in v8 to v12.

    v8 added sub-rule 5 (``restricted``), pushing "public" and "otherwise" up by one.
    """
    if not room_version.restricted_join_rule and number > 5:
        number -= 1
    return number


def power_levels_rule(room_version: RoomVersion, number: int) -> int:
    """The number of a sub-rule of the ``m.room.power_levels`` rule, given its number in v12.

    v10 added sub-rules 1 and 2 (integer values); v12 added sub-rule 4 (creators not in users).
    """
    if not room_version.privileged_creators and number > 4:
        number -= 1
    if not room_version.integer_power_levels and number > 2:
        number -= 2
    return number


def reject(rule: str, reason: str) -> AuthError:
    """The error for a rejection by ``rule``; ``raise reject(...)``."""
    return AuthError(rule=rule, reason=reason)


def domain_of(identifier: str) -> str:
    """The server name of a user, room or (v1/v2) event ID: everything after the first colon."""
    _, sep, domain = identifier.partition(":")
    return domain if sep else ""


def is_valid_user_id(value: object) -> bool:
    """Whether ``value`` is a user ID in the historical grammar (rooms may hold such IDs).

    ``@localpart:server_name`` with a valid server name, at most 255 bytes (spec: Appendices,
    "User Identifiers" and "Historical User IDs").
    """
    return isinstance(value, str) and identifiers.is_valid_user_id(value)


def original_creator(room_version: RoomVersion, create_event: EventView) -> str | None:
    """The user the "only the creator may join first" rule names.

    ``content.creator`` before v11; the create event's ``sender`` from v11 (in v12 too: the
    rule names "the sender of the ``m.room.create``", not the additional creators).
    """
    if room_version.creator_is_sender:
        return create_event.sender
    creator = create_event.content.get("creator")
    return creator if isinstance(creator, str) else None


def membership_of(auth_state: AuthState, user_id: str) -> str | None:
    """``user_id``'s current membership in ``auth_state`` (None if no member event)."""
    member = auth_state.get((MEMBER, user_id))
    return None if member is None else member.membership


def join_rule_of(auth_state: AuthState) -> str:
    """The current join rule.

    Without an ``m.room.join_rules`` event (or without a ``join_rule`` in it) the rule is taken
    to be ``invite``: the spec leaves this open; Synapse and ruma both default to ``invite``,
    and state resolution needs every server to agree. A non-string value matches no rule.
    """
    event = auth_state.get((JOIN_RULES, ""))
    if event is None or "join_rule" not in event.content:
        return INVITE
    rule = event.content["join_rule"]
    return rule if isinstance(rule, str) else ""
