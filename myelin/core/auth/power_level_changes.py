"""The ``m.room.power_levels`` authorization rule (spec: "Room Versions", "Authorization rules").

Rule 10 in room versions 1 to 5 and 12, rule 9 in versions 6 to 11. Sub-rules by version
(numbered as in v12 in the comments below, with the number in other versions after it):

- 1, 2 (v10+): top-level levels are integers; ``events`` and ``notifications`` map to integers.
- 3 (1 before v10): ``users`` maps valid user IDs to integers (strings holding integers and,
  before v6, floats too: "``m.room.power_levels`` events accept values as strings/floats").
- 4 (v12): no room creator appears in ``users``.
- 5 to 10: without a previous power levels event allow; else limit changes to the sender's level.
  ``notifications`` is compared alongside ``events`` from v6.
"""

from collections.abc import Mapping
from typing import Any

from myelin.core.auth.common import (
    CREATE,
    POWER_LEVELS,
    AuthState,
    is_valid_user_id,
    power_levels_rule,
    reject,
    top_rule,
)
from myelin.core.events import EventView
from myelin.core.power_levels import (
    TOP_LEVEL_DEFAULTS,
    creators,
    parse_power_level,
    user_power_level,
)
from myelin.core.room_versions import RoomVersion


def _is_strict_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parsed_entries(room_version: RoomVersion, value: Any) -> dict[str, int]:
    """The valid entries of a mapping of power levels (an invalid entry counts as absent)."""
    if not isinstance(value, Mapping):
        return {}
    result: dict[str, int] = {}
    for key, level in value.items():
        parsed = parse_power_level(room_version, level)
        if isinstance(key, str) and parsed is not None:
            result[key] = parsed
    return result


def _parsed_top_level(room_version: RoomVersion, content: Mapping[str, Any]) -> dict[str, int]:
    """The present, valid top-level levels (``ban``, ``kick``, ...)."""
    result: dict[str, int] = {}
    for key in TOP_LEVEL_DEFAULTS:
        parsed = parse_power_level(room_version, content.get(key))
        if parsed is not None:
            result[key] = parsed
    return result


def _check_format(room_version: RoomVersion, event: EventView, rule: int) -> None:
    """Sub-rules 1 to 4 (v12 numbering): the shape of the new content."""

    def number(sub: int) -> str:
        return f"{rule}.{power_levels_rule(room_version, sub)}"

    content = event.content
    if room_version.integer_power_levels:
        # .1 (v10+): If any of the properties users_default, events_default, state_default,
        # ban, redact, kick, or invite in content are present and not an integer, reject.
        for key in TOP_LEVEL_DEFAULTS:
            if key in content and not _is_strict_int(content[key]):
                raise reject(number(1), f"{key} is not an integer")
        # .2 (v10+): If either of the properties events or notifications in content are
        # present and not an object with values that are integers, reject.
        for key in ("events", "notifications"):
            if key not in content:
                continue
            value = content[key]
            if not isinstance(value, Mapping) or not all(
                _is_strict_int(level) for level in value.values()
            ):
                raise reject(number(2), f"{key} is not an object of integers")
    # .3 (.1 before v10): If the users property in content is not an object with keys that are
    # valid user IDs with values that are integers (or, before v10, a string that is an
    # integer), reject.
    if "users" in content:
        users = content["users"]
        if not isinstance(users, Mapping):
            raise reject(number(3), "users is not an object")
        for user_id, level in users.items():
            if not is_valid_user_id(user_id):
                raise reject(number(3), f"{user_id!r} in users is not a user ID")
            if parse_power_level(room_version, level) is None:
                raise reject(number(3), f"the level of {user_id} is not an integer")


def check_power_levels_event(
    room_version: RoomVersion, event: EventView, auth_state: AuthState
) -> None:
    """The ``m.room.power_levels`` rule; returns if allowed, raises ``AuthError`` if rejected."""
    rule = top_rule(room_version, 9)

    def number(sub: int) -> str:
        return f"{rule}.{power_levels_rule(room_version, sub)}"

    _check_format(room_version, event, rule)
    create = auth_state.get((CREATE, ""))
    if room_version.privileged_creators:
        # .4 (v12): If the users property in content contains the sender of the m.room.create
        # event or any of the additional_creators array (if present) from the content of the
        # m.room.create event, reject.
        users = event.content.get("users")
        if isinstance(users, Mapping):
            listed = creators(room_version, create).intersection(users)
            if listed:
                raise reject(number(4), f"room creators {sorted(listed)} are in users")
    current = auth_state.get((POWER_LEVELS, ""))
    # .5 (.2 before v10, .4 in v10-v11): If there is no previous m.room.power_levels event in
    # the room, allow.
    if current is None:
        return
    sender_level = user_power_level(room_version, event.sender, create, current)
    old_content = current.content
    new_content = event.content

    # .6: For the properties users_default, events_default, state_default, ban, redact, kick,
    # invite check if they were added, changed or removed. For each found alteration:
    old_top = _parsed_top_level(room_version, old_content)
    new_top = _parsed_top_level(room_version, new_content)
    for key in TOP_LEVEL_DEFAULTS:
        old, new = old_top.get(key), new_top.get(key)
        if old == new:
            continue
        # .6.1: If the current value is higher than the sender's current power level, reject.
        if old is not None and old > sender_level:
            raise reject(number(6) + ".1", f"the current {key} is above the sender's level")
        # .6.2: If the new value is higher than the sender's current power level, reject.
        if new is not None and new > sender_level:
            raise reject(number(6) + ".2", f"the new {key} is above the sender's level")

    # .7 and .8: the events property (and, from v6, notifications).
    props = ["events"]
    if room_version.limit_notifications_power_levels:
        props.append("notifications")
    changes = [
        (f"{prop}[{key}]", old, new)
        for prop in props
        for key, old, new in _changed_entries(
            room_version, old_content.get(prop), new_content.get(prop)
        )
    ]
    # .7: For each entry being changed in, or removed from, the events or notifications
    # properties: .7.1 If the current value is greater than the sender's current power level,
    # reject.
    for name, old, _ in changes:
        if old is not None and old > sender_level:
            raise reject(number(7) + ".1", f"the current {name} is above the sender's level")
    # .8: For each entry being added to, or changed in, the events or notifications properties:
    # .8.1 If the new value is greater than the sender's current power level, reject.
    for name, _, new in changes:
        if new is not None and new > sender_level:
            raise reject(number(8) + ".1", f"the new {name} is above the sender's level")

    # .9 and .10: the users property.
    user_changes = _changed_entries(
        room_version, old_content.get("users"), new_content.get("users")
    )
    # .9: For each entry being changed in, or removed from, the users property, other than the
    # sender's own entry: .9.1 If the current value is greater than or equal to the sender's
    # current power level, reject.
    for user_id, old, _ in user_changes:
        if old is not None and user_id != event.sender and old >= sender_level:
            raise reject(number(9) + ".1", f"the sender may not change the level of {user_id}")
    # .10: For each entry being added to, or changed in, the users property: .10.1 If the new
    # value is greater than the sender's current power level, reject.
    for user_id, _, new in user_changes:
        if new is not None and new > sender_level:
            raise reject(number(10) + ".1", f"the new level of {user_id} is above the sender")
    # .11 (v12; .8 before v10, .10 in v10-v11): Otherwise, allow.


def _changed_entries(
    room_version: RoomVersion, old_value: Any, new_value: Any
) -> list[tuple[str, int | None, int | None]]:
    """(key, old, new) for each entry added (old None), changed, or removed (new None)."""
    old_map = _parsed_entries(room_version, old_value)
    new_map = _parsed_entries(room_version, new_value)
    changed = []
    for key in sorted(old_map.keys() | new_map.keys()):
        old, new = old_map.get(key), new_map.get(key)
        if old != new:
            changed.append((key, old, new))
    return changed
