"""Auth chains (spec: "Room Version 2", state resolution "Definitions", *Auth chain*).

The *auth chain* of an event E is the set of E's auth events, their auth events, and so on
recursively: the events reachable by walking ``auth_events`` links. These helpers are pure: the
caller passes ``event_map`` holding every event they will reach. A missing event raises
``MissingEventError`` (the services layer fetches it and tries again) rather than silently giving
a different answer.
"""

from collections.abc import Iterable, Mapping

from myelin.core.errors import ProtocolError
from myelin.core.events import EventView

StateKey = tuple[str, str]
"""A state map key, ``(event_type, state_key)``."""

CREATE_KEY: StateKey = ("m.room.create", "")
POWER_LEVELS_KEY: StateKey = ("m.room.power_levels", "")


class MissingEventError(ProtocolError):
    """An event needed by state resolution is not in the ``event_map`` the caller passed."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"event {event_id} is needed for state resolution but was not given")
        self.event_id = event_id


def get_event(event_map: Mapping[str, EventView], event_id: str) -> EventView:
    """``event_map[event_id]``, raising ``MissingEventError`` if absent."""
    try:
        return event_map[event_id]
    except KeyError:
        raise MissingEventError(event_id) from None


def auth_chain(event_ids: Iterable[str], event_map: Mapping[str, EventView]) -> set[str]:
    """The union of the auth chains of ``event_ids``.

    An event of ``event_ids`` is in the result only if it is reachable from another one through
    ``auth_events`` (the auth chain of E does not contain E itself).
    """
    result: set[str] = set()
    stack: list[str] = []
    for event_id in event_ids:
        stack.extend(get_event(event_map, event_id).auth_event_ids)
    while stack:
        event_id = stack.pop()
        if event_id in result:
            continue
        result.add(event_id)
        stack.extend(get_event(event_map, event_id).auth_event_ids)
    return result


def auth_event_of_type(
    event: EventView, key: StateKey, event_map: Mapping[str, EventView]
) -> EventView | None:
    """The event of ``event``'s ``auth_events`` whose ``(type, state_key)`` is ``key``."""
    for auth_id in event.auth_event_ids:
        auth_event = get_event(event_map, auth_id)
        if auth_event.state_pair == key:
            return auth_event
    return None


def create_event_of(event: EventView, event_map: Mapping[str, EventView]) -> EventView | None:
    """The room's ``m.room.create`` event as ``event`` sees it.

    From room version 12 (``room_id_is_create_event_id``) the create event is never an auth
    event: the room ID names it (``!`` + the create event ID without its ``$``). Before, it is
    the create event among ``event``'s ``auth_events``. The create event itself yields itself.
    """
    if event.state_pair == CREATE_KEY:
        return event
    if event.room_version.room_id_is_create_event_id:
        room_id = event.room_id
        if not room_id.startswith("!"):
            return None
        return event_map.get("$" + room_id[1:])
    return auth_event_of_type(event, CREATE_KEY, event_map)
