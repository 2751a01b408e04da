"""Power levels as the auth rules read them (spec: "Room Versions", authorization rules).

Also the ``m.room.power_levels`` event schema (client-server API) for the defaults, the
"``m.room.power_levels`` events accept values as strings" and "... as floats" sections of room
versions 1 to 9 and 1 to 5, "Values in ``m.room.power_levels`` events must be integers" of room
version 10, and the "room creators" of room version 12.

Plain functions over ``EventView`` objects: the caller picks the ``m.room.create`` and
``m.room.power_levels`` events out of whatever state it is checking against.
"""

import math
import re
from collections.abc import Mapping
from typing import Any

from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion

# Defaults from the m.room.power_levels schema, used when a key is absent from the event or
# there is no power levels event at all.
DEFAULT_USERS_DEFAULT = 0
DEFAULT_EVENTS_DEFAULT = 0
DEFAULT_STATE_DEFAULT = 50
DEFAULT_BAN = 50
DEFAULT_KICK = 50
DEFAULT_REDACT = 50
DEFAULT_INVITE = 0
DEFAULT_NOTIFICATION_ROOM = 50
# Without a power levels event the creator has 100 (room versions 1 to 11).
CREATOR_DEFAULT_LEVEL = 100

# The top-level integer keys of m.room.power_levels and their defaults.
TOP_LEVEL_DEFAULTS: Mapping[str, int] = {
    "users_default": DEFAULT_USERS_DEFAULT,
    "events_default": DEFAULT_EVENTS_DEFAULT,
    "state_default": DEFAULT_STATE_DEFAULT,
    "ban": DEFAULT_BAN,
    "redact": DEFAULT_REDACT,
    "kick": DEFAULT_KICK,
    "invite": DEFAULT_INVITE,
}

INFINITE_POWER = math.inf

# "v1-stringy-power-levels": optional whitespace, an optional sign, base-10 digits (leading zeroes
# allowed), optional whitespace. ASCII only: Python's int() would also accept "1_0" and other
# scripts' digits, which the spec does not.
_STRINGY_INT = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)


def parse_power_level(room_version: RoomVersion, value: Any) -> int | None:
    """The integer a power level value stands for in ``room_version``, or None if it is invalid.

    - Integers are always valid (JSON ``true``/``false`` are not integers).
    - Before ``integer_power_levels`` (v1-v9) a string holding a base-10 integer is accepted
      ("``m.room.power_levels`` events accept values as strings").
    - Before ``strict_canonicaljson`` (v1-v5) a finite float is accepted and truncated towards
      zero ("... accept values as floats"); infinities and NaN are invalid.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if room_version.integer_power_levels:
        return None
    if isinstance(value, str):
        if _STRINGY_INT.fullmatch(value) is None:
            return None
        return int(value.strip())
    if isinstance(value, float) and not room_version.strict_canonicaljson:
        if not math.isfinite(value):
            return None
        return math.trunc(value)
    return None


def _content(power_levels_event: EventView | None) -> Mapping[str, Any]:
    return power_levels_event.content if power_levels_event is not None else {}


def power_level_value(
    room_version: RoomVersion,
    power_levels_event: EventView | None,
    key: str,
    default: int | None = None,
) -> int:
    """A top-level level (``ban``, ``kick``, ``invite``, ``redact``, ``*_default``).

    An absent or invalid value yields ``default`` (the schema default of ``key`` if None).
    """
    if default is None:
        default = TOP_LEVEL_DEFAULTS[key]
    parsed = parse_power_level(room_version, _content(power_levels_event).get(key))
    return default if parsed is None else parsed


def notification_level(
    room_version: RoomVersion, power_levels_event: EventView | None, key: str
) -> int:
    """The level required to trigger the notification ``key`` (``room`` defaults to 50)."""
    notifications = _content(power_levels_event).get("notifications")
    # Only "room" has a documented default; other keys get the same conservative 50.
    default = DEFAULT_NOTIFICATION_ROOM
    if not isinstance(notifications, Mapping):
        return default
    parsed = parse_power_level(room_version, notifications.get(key))
    return default if parsed is None else parsed


def creators(room_version: RoomVersion, create_event: EventView | None) -> frozenset[str]:
    """The room creators.

    - Room version 12 (``privileged_creators``): the create event's ``sender`` plus every string
      of ``content.additional_creators``.
    - Room version 11 (``creator_is_sender``): the create event's ``sender``.
    - Room versions 1 to 10: ``content.creator`` of the create event.
    """
    if create_event is None:
        return frozenset()
    if not room_version.creator_is_sender:
        creator = create_event.content.get("creator")
        return frozenset((creator,)) if isinstance(creator, str) else frozenset()
    result = {create_event.sender}
    if room_version.privileged_creators:
        additional = create_event.content.get("additional_creators")
        if isinstance(additional, list):
            result.update(user for user in additional if isinstance(user, str))
    return frozenset(result)


def user_power_level(
    room_version: RoomVersion,
    user_id: str,
    create_event: EventView | None,
    power_levels_event: EventView | None,
) -> int | float:
    """The power level of ``user_id``.

    - v12 (``privileged_creators``): creators have infinite power, whatever the power levels say.
    - With a power levels event: ``users[user_id]`` if present and valid, else ``users_default``.
    - Without one: the creator has 100 (v1-v11), everyone else 0.
    """
    room_creators = creators(room_version, create_event)
    if room_version.privileged_creators and user_id in room_creators:
        return INFINITE_POWER
    if power_levels_event is None:
        if user_id in room_creators:
            return CREATOR_DEFAULT_LEVEL
        return DEFAULT_USERS_DEFAULT
    users = power_levels_event.content.get("users")
    if isinstance(users, Mapping) and user_id in users:
        parsed = parse_power_level(room_version, users[user_id])
        if parsed is not None:
            return parsed
    return power_level_value(room_version, power_levels_event, "users_default")


def required_power_level(
    room_version: RoomVersion,
    event_type: str,
    state_key: str | None,
    power_levels_event: EventView | None,
) -> int:
    """The level required to send an event of ``event_type`` (rule "required power level").

    ``events[event_type]`` if present and valid; otherwise ``state_default`` (default 50) for a
    state event (``state_key`` not None) or ``events_default`` (default 0) for a message event.
    """
    events = _content(power_levels_event).get("events")
    if isinstance(events, Mapping) and event_type in events:
        parsed = parse_power_level(room_version, events[event_type])
        if parsed is not None:
            return parsed
    if state_key is not None:
        return power_level_value(room_version, power_levels_event, "state_default")
    return power_level_value(room_version, power_levels_event, "events_default")
