"""Restricted rooms (spec: Client-Server API, "Restricted rooms" and its "Conditions";
Server-Server API, "Restricted rooms"; room versions 8+ for ``restricted``, 10+ for
``knock_restricted``).

Pure decisions over plain data: whether a join needs a ``join_authorised_via_users_server``,
which rooms the allow conditions name, and which of a server's joined users may authorise the
join (the auth rules' "sufficient permission to invite").
"""

from collections.abc import Iterable, Mapping
from typing import Any

from myelin.core.events import EventView
from myelin.core.power_levels import power_level_value, user_power_level
from myelin.core.room_versions import RoomVersion

__all__ = [
    "ROOM_MEMBERSHIP_CONDITION",
    "allowed_room_ids",
    "authorisers",
    "is_restricted_rule",
    "join_needs_authorisation",
]

# The only allow condition the spec defines: the user is joined to the condition's room.
ROOM_MEMBERSHIP_CONDITION = "m.room_membership"


def is_restricted_rule(room_version: RoomVersion, join_rule: Any) -> bool:
    """Whether ``join_rule`` is one the room version treats as restricted for joins:
    ``restricted`` (v8+) or ``knock_restricted`` (v10+), which joins "as though it was
    restricted" when the user has no invite."""
    if join_rule == "restricted":
        return room_version.restricted_join_rule
    if join_rule == "knock_restricted":
        return room_version.knock_restricted_join_rule
    return False


def allowed_room_ids(join_rules_content: Mapping[str, Any]) -> tuple[str, ...]:
    """The rooms of the ``m.room_membership`` allow conditions, in order, without duplicates.

    Conditions of other types or not matching the schema (no string ``room_id``) are left
    out: a user cannot satisfy them (Server-Server API: "If no conditions are available, or
    none match the required schema, then the joining server is considered to have failed all
    conditions")."""
    allow = join_rules_content.get("allow")
    if not isinstance(allow, list):
        return ()
    rooms: dict[str, None] = {}
    for condition in allow:
        if not isinstance(condition, Mapping):
            continue
        room_id = condition.get("room_id")
        if condition.get("type") == ROOM_MEMBERSHIP_CONDITION and isinstance(room_id, str):
            rooms[room_id] = None
    return tuple(rooms)


def join_needs_authorisation(
    room_version: RoomVersion,
    join_rules_content: Mapping[str, Any] | None,
    current_membership: str | None,
) -> bool:
    """Whether a join must name an authorising user: the join rule is restricted (for this
    room version) and the user is neither joined nor invited ("If the user has an invite to
    the room then the restrictions will not affect them"). A banned user needs none: the auth
    rules reject the join whatever it names."""
    if join_rules_content is None:
        return False
    if not is_restricted_rule(room_version, join_rules_content.get("join_rule")):
        return False
    return current_membership not in ("join", "invite", "ban")


def authorisers(
    room_version: RoomVersion,
    joined_candidates: Iterable[str],
    create_event: EventView | None,
    power_levels_event: EventView | None,
) -> list[str]:
    """The candidates (users joined to the room) whose power level reaches the ``invite``
    level, best first: highest power level (v12 creators have infinite power), then by user
    ID so that the choice is stable. The auth rules accept any of them as
    ``join_authorised_via_users_server`` (room versions 8+, rule "join" 5.2)."""
    invite_level = power_level_value(room_version, power_levels_event, "invite")
    levels = {
        user: user_power_level(room_version, user, create_event, power_levels_event)
        for user in joined_candidates
    }
    eligible = [user for user, level in levels.items() if level >= invite_level]
    return sorted(eligible, key=lambda user: (-levels[user], user))
