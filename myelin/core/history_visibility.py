"""Room history visibility (spec: Client-Server API, "Room History Visibility", server behaviour).

Whether a user (or a remote server) may see an event depends on the room state *at that event*:
the ``history_visibility`` of the ``m.room.history_visibility`` event and the user's membership.
A missing or unknown value counts as ``shared``.

State is passed in as plain data: for each event, the content of the relevant state events in the
state *before* the event (``(type, state_key) -> content``). The state after the event follows
from the event itself, which lets the two special cases of the spec (history visibility events
and the user's own membership events: "before *or* after") be applied exactly.

The server-to-server rules are not written in the spec; they follow the same idea as Synapse:
``world_readable`` and ``shared`` events are visible to any server, ``invited`` events to a
server with a user invited or joined at the event, ``joined`` events to a server with a user
joined at the event; the membership events of a server's own users are always visible to it.
Events a server may not see are served redacted, so that it can still build the room's DAG.
"""

from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any, Final

from myelin.core.events import EventView
from myelin.core.redaction import redact

__all__ = [
    "HISTORY_VISIBILITY_VALUES",
    "INVITED",
    "JOINED",
    "SHARED",
    "WORLD_READABLE",
    "StateContents",
    "can_server_see_event",
    "can_user_see_event",
    "effective_visibility",
    "filter_events_for_server",
    "filter_events_for_user",
    "membership_in",
    "server_may_see_event",
    "state_contents",
    "user_may_see_event",
    "visibility_in",
]

WORLD_READABLE: Final = "world_readable"
SHARED: Final = "shared"
INVITED: Final = "invited"
JOINED: Final = "joined"
HISTORY_VISIBILITY_VALUES: Final = frozenset({WORLD_READABLE, SHARED, INVITED, JOINED})

_JOIN = "join"
_INVITE = "invite"
_LEAVE = "leave"
_HISTORY_VISIBILITY = "m.room.history_visibility"
_MEMBER = "m.room.member"

# The content of state events by (type, state_key); only the history visibility and the
# memberships of the users concerned need to be present.
StateContents = Mapping[tuple[str, str], Mapping[str, Any]]


def state_contents(events: Iterable[EventView]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """``StateContents`` from state events (the state snapshot of a service, for instance)."""
    return {pair: event.content for event in events if (pair := event.state_pair) is not None}


def effective_visibility(value: Any) -> str:
    """The visibility in force: ``shared`` if there is none or it is not understood."""
    return value if isinstance(value, str) and value in HISTORY_VISIBILITY_VALUES else SHARED


def visibility_in(state: StateContents) -> str:
    """The effective ``history_visibility`` of a state snapshot."""
    content = state.get((_HISTORY_VISIBILITY, ""))
    return effective_visibility(None if content is None else content.get("history_visibility"))


def membership_in(state: StateContents, user_id: str) -> str | None:
    """``user_id``'s membership in a state snapshot (None if they have no member event)."""
    content = state.get((_MEMBER, user_id))
    membership = None if content is None else content.get("membership")
    return membership if isinstance(membership, str) else None


def can_user_see_event(
    visibility_at_event: str | None,
    membership_at_event: str | None,
    membership_now: str | None = None,
    *,
    joined_after_event: bool = False,
) -> bool:
    """The spec's five rules for one event, given the state at that event.

    ``membership_now`` is the user's current membership; ``joined_after_event`` says the user
    joined the room at some point after the event was sent (for users who have left since).
    """
    visibility = effective_visibility(visibility_at_event)
    # 1. If the history_visibility was set to world_readable, allow.
    if visibility == WORLD_READABLE:
        return True
    # 2. If the user's membership was join, allow.
    if membership_at_event == _JOIN:
        return True
    # 3. If history_visibility was set to shared, and the user joined the room at any point
    #    after the event was sent, allow. (Someone joined now and not joined at the event joined
    #    after it.)
    if visibility == SHARED and (joined_after_event or membership_now == _JOIN):
        return True
    # 4. If the user's membership was invite, and the history_visibility was set to invited,
    #    allow.
    # 5. Otherwise, deny.
    return membership_at_event == _INVITE and visibility == INVITED


def _after(
    event: EventView, state_key: str, before: str | None, key: str, event_type: str
) -> str | None:
    """The value of ``content[key]`` of state ``(event_type, state_key)`` after ``event``."""
    if event.type != event_type or event.state_key != state_key:
        return before
    value = event.content.get(key)
    return value if isinstance(value, str) else None


def user_may_see_event(
    event: EventView,
    user_id: str,
    state_before: StateContents,
    membership_now: str | None = None,
    *,
    joined_after_event: bool = False,
) -> bool:
    """Whether ``user_id`` may see ``event``, given the state before it.

    For ``m.room.history_visibility`` events the visibility before *or* after the event may
    allow it; for the user's own ``m.room.member`` events their membership before *or* after.
    """
    visibility_before = visibility_in(state_before)
    visibility_after = effective_visibility(
        _after(event, "", visibility_before, "history_visibility", _HISTORY_VISIBILITY)
    )
    membership_before = membership_in(state_before, user_id)
    membership_after = _after(event, user_id, membership_before, "membership", _MEMBER)
    # Synapse also lets users see their own leave after an invite (rejecting an invite),
    # whatever the visibility, so that the room leaves their client; clients rely on it. (The
    # membership differs before and after only at the user's own member event.)
    if membership_before == _INVITE and membership_after == _LEAVE:
        return True
    return any(
        can_user_see_event(
            visibility, membership, membership_now, joined_after_event=joined_after_event
        )
        for visibility in {visibility_before, visibility_after}
        for membership in {membership_before, membership_after}
    )


def filter_events_for_user(
    events: Iterable[EventView],
    user_id: str,
    state_before: Mapping[str, StateContents],
    membership_now: str | None = None,
    *,
    joined_after: Container[str] = frozenset(),
) -> list[EventView]:
    """The events ``user_id`` may see, in their order.

    ``state_before`` maps each event ID to the state before that event (an event missing from
    it is judged against empty state: ``shared`` visibility and no membership). ``joined_after``
    holds the IDs of events the user joined the room after (for users who have left since).
    """
    return [
        event
        for event in events
        if user_may_see_event(
            event,
            user_id,
            state_before.get(event.event_id, {}),
            membership_now,
            joined_after_event=event.event_id in joined_after,
        )
    ]


# --- Servers ---------------------------------------------------------------------------------


def can_server_see_event(
    visibility_at_event: str | None, memberships: Iterable[str | None]
) -> bool:
    """Whether a server may see an event, given its users' memberships at the event."""
    visibility = effective_visibility(visibility_at_event)
    if visibility in (WORLD_READABLE, SHARED):
        return True
    memberships = set(memberships)
    if _JOIN in memberships:
        return True
    return visibility == INVITED and _INVITE in memberships


def _server_of(user_id: str) -> str:
    return user_id.partition(":")[2]


def _server_memberships(state: StateContents, server_name: str) -> list[str | None]:
    return [
        membership_in(state, state_key)
        for (event_type, state_key) in state
        if event_type == _MEMBER and _server_of(state_key) == server_name
    ]


def server_may_see_event(event: EventView, server_name: str, state_before: StateContents) -> bool:
    """Whether ``server_name`` may see ``event``, given the state before it.

    As for users, history visibility events and the membership events of the server's own users
    are judged by the state before *or* after them; a server always sees the membership events
    of its own users (it must learn of their invites, kicks and bans).
    """
    state_key = event.state_key
    if event.type == _MEMBER and state_key is not None and _server_of(state_key) == server_name:
        return True
    visibility_before = visibility_in(state_before)
    visibility_after = effective_visibility(
        _after(event, "", visibility_before, "history_visibility", _HISTORY_VISIBILITY)
    )
    # The memberships of the server's users do not change at this event (the server's own
    # membership events were allowed above).
    memberships = _server_memberships(state_before, server_name)
    return any(
        can_server_see_event(visibility, memberships)
        for visibility in {visibility_before, visibility_after}
    )


def filter_events_for_server(
    events: Sequence[EventView],
    server_name: str,
    state_before: Mapping[str, StateContents],
    *,
    redact_invisible: bool = True,
) -> list[dict[str, Any]]:
    """The PDUs to send to ``server_name`` (backfill, ``get_missing_events``, ...).

    Events it may see are returned as they are; the others are redacted under their room
    version's algorithm, or left out when ``redact_invisible`` is false. An event missing from
    ``state_before`` (an outlier, whose state is unknown) is treated as visible.
    """
    result: list[dict[str, Any]] = []
    for event in events:
        state = state_before.get(event.event_id)
        if state is None or server_may_see_event(event, server_name, state):
            result.append(dict(event.json))
        elif redact_invisible:
            result.append(redact(event.json, event.room_version))
    return result
