"""Reading rooms as a client (spec: Client-Server API, "Getting events for a room":
``/event``, ``/state``, ``/members``, ``/joined_members``, ``/messages``, ``/context``,
``/timestamp_to_event``, ``/joined_rooms``).

Every read checks what the user may see: history visibility and membership at each event for
timelines (``myelin.services.visibility``), and for state and members the current state when
the user is joined (or the room is world readable), the state at their leave when they have
left, and nothing otherwise. Pagination tokens are stream positions (``s<N>``): they survive
restarts. Events ordered by stream position are also in topological order for events created
here.
"""

import functools
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from myelin.core.filters import RoomEventFilter
from myelin.core.history_visibility import WORLD_READABLE, effective_visibility
from myelin.core.room_versions import RoomVersion, get_room_version
from myelin.services.errors import MatrixError
from myelin.services.event_serving import EventPresenter
from myelin.services.visibility import (
    HISTORY_VISIBILITY,
    MEMBER,
    StateCache,
    content_of,
    filter_visible,
)
from myelin.storage import EventStore, RoomReadStore, RoomStore, StateMap, StateStore, StoredEvent
from myelin.storage.room_reads import EventPosition

MAX_LIMIT = 1000
# How many raw batches /messages reads to fill one page with events the user may see.
MAX_ROUNDS = 5

# Positions may be negative: backfilled history sorts before the events held at the time.
_TOKEN = re.compile(r"^(?:s(-?\d+)(?:_.*)?|t-?\d+-(-?\d+)|(-?\d+))$")
# Below every stream ordering (backfilled events count down from -1).
LOWEST_POSITION = -(2**62)


def parse_token(token: str, name: str = "from") -> int:
    """The stream position of a pagination token: ``s<N>`` (also the first part of a sync
    token ``s<N>_...``), ``t<depth>-<N>`` (Synapse's topological form) or ``<N>``."""
    match = _TOKEN.match(token)
    if match is None:
        raise MatrixError(400, "M_INVALID_PARAM", f"invalid {name} token")
    value = int(next(g for g in match.groups() if g is not None))
    if not LOWEST_POSITION <= value <= 2**62:
        raise MatrixError(400, "M_INVALID_PARAM", f"invalid {name} token")
    return value


def make_token(position: int) -> str:
    return f"s{position}"


def not_found(what: str = "Event not found") -> MatrixError:
    return MatrixError(404, "M_NOT_FOUND", what)


class StoredEvents(Protocol):
    async def get_event(self, event_id: str) -> StoredEvent | None: ...


@dataclass(frozen=True)
class RoomView:
    """What the user may see of a room's state: ``at`` is the state after that event (None:
    the current state)."""

    room_version: RoomVersion
    membership: str | None
    at_event_id: str | None


@dataclass(frozen=True)
class Page:
    chunk: list[dict[str, Any]]
    start: str
    end: str | None
    state: list[dict[str, Any]]


class RoomReads:
    def __init__(
        self,
        *,
        events: EventStore,
        state: StateStore,
        rooms: RoomStore,
        reads: RoomReadStore,
        presenter: EventPresenter,
    ) -> None:
        self._events = events
        self._state = state
        self._rooms = rooms
        self._reads = reads
        self.presenter = presenter
        # Federation (set by the composition root): fetch older history of a room with
        # /backfill when /messages reaches the start of what is held; returns how many
        # events it stored.
        self.backfill: Callable[[str, int], Awaitable[int]] | None = None
        # Federation: the closest event to a timestamp as the room's other servers have it,
        # asked when this server lacks the history around it.
        self.remote_timestamp: (
            Callable[[str, int, bool], Awaitable[dict[str, Any] | None]] | None
        ) = None

    def cache(self) -> StateCache:
        return StateCache(self._events, self._state)

    async def room_version(self, room_id: str) -> RoomVersion:
        room = await self._rooms.get_room(room_id)
        if room is None:
            raise MatrixError(403, "M_FORBIDDEN", "You are not allowed to view this room")
        return get_room_version(room.room_version)

    async def membership(self, room_id: str, user_id: str) -> tuple[str | None, str | None]:
        """The user's current membership and its event ID."""
        event_id = await self._state.get_current_state_event_id(room_id, MEMBER, user_id)
        if event_id is None:
            return None, None
        membership = content_of(await self._events.get_event(event_id)).get("membership")
        return (membership if isinstance(membership, str) else None), event_id

    async def current_visibility(self, room_id: str) -> str:
        event_id = await self._state.get_current_state_event_id(room_id, *HISTORY_VISIBILITY)
        if event_id is None:
            return effective_visibility(None)
        return effective_visibility(
            content_of(await self._events.get_event(event_id)).get("history_visibility")
        )

    async def view(self, room_id: str, user_id: str) -> RoomView:
        """What state the user may read; 403 ``M_FORBIDDEN`` if none."""
        room_version = await self.room_version(room_id)
        membership, event_id = await self.membership(room_id, user_id)
        if membership == "join":
            return RoomView(room_version, membership, None)
        if await self.current_visibility(room_id) == WORLD_READABLE:
            return RoomView(room_version, membership, None)
        if (
            membership in ("leave", "ban")
            and event_id is not None
            and not await self._reads.is_forgotten(user_id, room_id)
        ):
            return RoomView(room_version, membership, event_id)
        raise MatrixError(
            403, "M_FORBIDDEN", "You aren't a member of the room and weren't previously a member"
        )

    async def state_of(self, room_id: str, view: RoomView, cache: StateCache) -> StateMap:
        if view.at_event_id is None:
            return await self._state.get_current_state(room_id)
        return await cache.state_after(view.at_event_id)

    async def present(
        self,
        cache: StateCache,
        room_version: RoomVersion,
        events: Sequence[StoredEvent],
        user_id: str,
        device_id: str | None,
        *,
        memberships: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        return await self.presenter.present(
            cache,
            room_version,
            events,
            user_id=user_id,
            device_id=device_id,
            memberships=memberships,
        )

    async def visible(
        self,
        cache: StateCache,
        room_version: RoomVersion,
        user_id: str,
        events: Sequence[StoredEvent],
        membership_now: str | None,
    ) -> tuple[list[StoredEvent], dict[str, str]]:
        return await filter_visible(
            cache, self._reads, room_version, user_id, events, membership_now=membership_now
        )

    # -- single events and state -------------------------------------------------------------

    async def get_event(
        self, user_id: str, device_id: str | None, room_id: str, event_id: str
    ) -> dict[str, Any]:
        """``GET /rooms/{roomId}/event/{eventId}``: 404 if unknown or not visible."""
        room = await self._rooms.get_room(room_id)
        stored = await self._events.get_event(event_id)
        if room is None or stored is None or stored.room_id != room_id:
            raise not_found()
        if stored.outlier or stored.rejected_reason is not None or stored.soft_failed:
            raise not_found()
        room_version = get_room_version(room.room_version)
        membership, _ = await self.membership(room_id, user_id)
        cache = self.cache()
        visible, memberships = await self.visible(
            cache, room_version, user_id, [stored], membership
        )
        if not visible:
            raise not_found()
        return (
            await self.present(
                cache, room_version, visible, user_id, device_id, memberships=memberships
            )
        )[0]

    async def state_events(
        self, user_id: str, room_id: str, cache: StateCache | None = None
    ) -> list[dict[str, Any]]:
        """``GET /rooms/{roomId}/state``."""
        view = await self.view(room_id, user_id)
        cache = cache or self.cache()
        state = await self.state_of(room_id, view, cache)
        loaded = await cache.load(sorted(state.values()))
        ordered = sorted(loaded.values(), key=lambda e: e.stream_ordering)
        return await self.present(cache, view.room_version, ordered, user_id, None)

    async def state_event(
        self, user_id: str, room_id: str, event_type: str, state_key: str
    ) -> dict[str, Any]:
        """``GET /rooms/{roomId}/state/{eventType}/{stateKey}`` with ``format=event``."""
        view = await self.view(room_id, user_id)
        cache = self.cache()
        state = await self.state_of(room_id, view, cache)
        event_id = state.get((event_type, state_key))
        loaded = await cache.load([event_id] if event_id is not None else [])
        if event_id is None or event_id not in loaded:
            raise not_found("Event not found.")
        return (await self.present(cache, view.room_version, [loaded[event_id]], user_id, None))[0]

    async def members(
        self,
        user_id: str,
        room_id: str,
        *,
        at: int | None = None,
        membership: str | None = None,
        not_membership: str | None = None,
    ) -> list[dict[str, Any]]:
        """``GET /rooms/{roomId}/members``: member events at ``at`` (a stream position), at
        the user's leave if they left, else now."""
        view = await self.view(room_id, user_id)
        cache = self.cache()
        state: StateMap
        if at is not None:
            limit_position = at
            if view.at_event_id is not None:
                leave = await self._events.get_event(view.at_event_id)
                if leave is not None:
                    limit_position = min(at, leave.stream_ordering)
            last = await self._events.get_room_events(
                room_id, upto=limit_position, limit=1, newest_first=True
            )
            state = {} if not last else await cache.state_after(last[0].event_id)
        else:
            state = await self.state_of(room_id, view, cache)
        ids = [e for (t, _), e in state.items() if t == MEMBER]
        loaded = await cache.load(ids)
        chosen = []
        for stored in sorted(loaded.values(), key=lambda e: e.stream_ordering):
            value = content_of(stored).get("membership")
            if membership is not None and value != membership:
                continue
            if not_membership is not None and value == not_membership:
                continue
            chosen.append(stored)
        return await self.present(cache, view.room_version, chosen, user_id, None)

    async def joined_members(self, user_id: str, room_id: str) -> dict[str, dict[str, Any]]:
        """``GET /rooms/{roomId}/joined_members`` (joined users, or a world-readable room)."""
        view = await self.view(room_id, user_id)
        if view.at_event_id is not None:
            raise MatrixError(403, "M_FORBIDDEN", "You aren't a member of the room")
        cache = self.cache()
        state = await self._state.get_current_state(room_id)
        ids = [e for (t, _), e in state.items() if t == MEMBER]
        joined: dict[str, dict[str, Any]] = {}
        for stored in (await cache.load(ids)).values():
            content = content_of(stored)
            if content.get("membership") != "join" or stored.state_key is None:
                continue
            entry: dict[str, Any] = {}
            for key, name in (("displayname", "display_name"), ("avatar_url", "avatar_url")):
                value = content.get(key)
                if isinstance(value, str):
                    entry[name] = value
            joined[stored.state_key] = entry
        return joined

    async def joined_rooms(self, user_id: str) -> list[str]:
        return await self._state.get_rooms_for_user(user_id, "join")

    # -- timelines ---------------------------------------------------------------------------

    async def paginate(
        self,
        cache: StateCache,
        room_version: RoomVersion,
        room_id: str,
        user_id: str,
        membership_now: str | None,
        *,
        start: int,
        backwards: bool,
        stop: int | None,
        limit: int,
        event_filter: RoomEventFilter,
    ) -> tuple[list[StoredEvent], dict[str, str], int | None]:
        """Up to ``limit`` visible events from position ``start``; the end position, or None
        when the timeline (or what the user may see of it) is exhausted."""
        chosen: list[StoredEvent] = []
        memberships: dict[str, str] = {}
        position = start
        for _ in range(MAX_ROUNDS):
            if limit == 0:
                return [], {}, position
            want = limit - len(chosen)
            batch_size = max(want, 10)
            if backwards:
                batch = await self._events.get_room_events(
                    room_id,
                    after=stop if stop is not None else LOWEST_POSITION,
                    upto=position,
                    limit=batch_size,
                    newest_first=True,
                )
            else:
                batch = await self._events.get_room_events(
                    room_id, after=position, upto=stop, limit=batch_size
                )
            matching = [e for e in batch if event_filter.matches(e.json())]
            visible, seen = await self.visible(
                cache, room_version, user_id, matching, membership_now
            )
            visible_ids = {e.event_id for e in visible}
            for stored in batch:
                position = stored.stream_ordering - 1 if backwards else stored.stream_ordering
                if stored.event_id in visible_ids:
                    chosen.append(stored)
                    memberships[stored.event_id] = seen[stored.event_id]
                    if len(chosen) == limit:
                        return chosen, memberships, position
            if len(batch) < batch_size:
                return chosen, memberships, None
        return chosen, memberships, position

    async def lazy_members(
        self,
        cache: StateCache,
        room_version: RoomVersion,
        events: Sequence[StoredEvent],
        at_event_id: str | None,
        user_id: str,
    ) -> list[dict[str, Any]]:
        """The member events of the senders of ``events`` at ``at_event_id`` (lazy loading)."""
        if at_event_id is None:
            return []
        state = await cache.state_after(at_event_id)
        senders = dict.fromkeys(e.sender for e in events)
        ids = [state[(MEMBER, s)] for s in senders if (MEMBER, s) in state]
        loaded = await cache.load(ids)
        return await self.present(
            cache, room_version, [loaded[i] for i in ids if i in loaded], user_id, None
        )

    async def messages(
        self,
        user_id: str,
        device_id: str | None,
        room_id: str,
        *,
        from_token: str | None,
        to_token: str | None,
        backwards: bool,
        limit: int,
        event_filter: RoomEventFilter,
    ) -> Page:
        """``GET /rooms/{roomId}/messages``."""
        room_version = await self.room_version(room_id)
        membership, _ = await self.membership(room_id, user_id)
        # Users who left still page back through what they could see; strangers get 403.
        if (
            membership != "join"
            and await self.current_visibility(room_id) != WORLD_READABLE
            and (membership is None or await self._reads.is_forgotten(user_id, room_id))
        ):
            raise MatrixError(403, "M_FORBIDDEN", "You aren't a member of the room")
        if from_token is None:
            start = await self._events.get_max_stream_ordering() if backwards else 0
        else:
            start = parse_token(from_token)
        stop = None if to_token is None else parse_token(to_token, "to")
        if stop is not None and (stop >= start if backwards else stop <= start):
            return Page([], make_token(start), None, [])
        cache = self.cache()
        paginate = functools.partial(
            self.paginate,
            cache,
            room_version,
            room_id,
            user_id,
            membership,
            start=start,
            backwards=backwards,
            stop=stop,
            limit=limit,
            event_filter=event_filter,
        )
        chosen, memberships, end = await paginate()
        # The start of what this server holds: older history may be on the room's other
        # servers ("Backfilling and retrieving missing events").
        if (
            backwards
            and end is None
            and stop is None
            and self.backfill is not None
            and await self.backfill(room_id, max(limit, 10)) > 0
        ):
            chosen, memberships, end = await paginate()
        if stop is not None and end is not None and (end <= stop if backwards else end >= stop):
            end = None
        chunk = await self.present(
            cache, room_version, chosen, user_id, device_id, memberships=memberships
        )
        state: list[dict[str, Any]] = []
        if event_filter.lazy_load_members and chosen:
            state = await self.lazy_members(
                cache, room_version, chosen, chosen[-1].event_id, user_id
            )
        return Page(chunk, make_token(start), None if end is None else make_token(end), state)

    async def context(
        self,
        user_id: str,
        device_id: str | None,
        room_id: str,
        event_id: str,
        *,
        limit: int,
        event_filter: RoomEventFilter,
    ) -> dict[str, Any]:
        """``GET /rooms/{roomId}/context/{eventId}``."""
        room = await self._rooms.get_room(room_id)
        stored = await self._events.get_event(event_id)
        if room is None or stored is None or stored.room_id != room_id or stored.outlier:
            raise not_found()
        room_version = get_room_version(room.room_version)
        membership, _ = await self.membership(room_id, user_id)
        cache = self.cache()
        visible, memberships = await self.visible(
            cache, room_version, user_id, [stored], membership
        )
        if not visible:
            raise not_found()
        # As Synapse: half of the limit before the event, the rest after it.
        before_limit = limit // 2
        after_limit = limit - before_limit
        position = stored.stream_ordering
        before, before_m, start = await self.paginate(
            cache,
            room_version,
            room_id,
            user_id,
            membership,
            start=position - 1,
            backwards=True,
            stop=None,
            limit=before_limit,
            event_filter=event_filter,
        )
        after, after_m, end = await self.paginate(
            cache,
            room_version,
            room_id,
            user_id,
            membership,
            start=position,
            backwards=False,
            stop=None,
            limit=after_limit,
            event_filter=event_filter,
        )
        if start is None:
            start = before[-1].stream_ordering - 1 if before else position - 1
        if end is None:
            end = after[-1].stream_ordering if after else position
        memberships.update(before_m)
        memberships.update(after_m)
        last = after[-1] if after else stored
        state_map = await cache.state_after(last.event_id)
        if event_filter.lazy_load_members:
            senders = {e.sender for e in (*before, stored, *after)}
            state_map = {
                key: value
                for key, value in state_map.items()
                if key[0] != MEMBER or key[1] in senders
            }
        loaded = await cache.load(list(state_map.values()))
        state_events = [
            e
            for e in sorted(loaded.values(), key=lambda e: e.stream_ordering)
            if event_filter.matches(e.json()) or e.type == MEMBER
        ]
        present = self.present
        return {
            "event": (
                await present(
                    cache, room_version, [stored], user_id, device_id, memberships=memberships
                )
            )[0],
            "events_before": await present(
                cache, room_version, before, user_id, device_id, memberships=memberships
            ),
            "events_after": await present(
                cache, room_version, after, user_id, device_id, memberships=memberships
            ),
            "state": await present(cache, room_version, state_events, user_id, None),
            "start": make_token(start),
            "end": make_token(end),
        }

    async def _history_gap(self, room_id: str, found: EventPosition | None, forwards: bool) -> bool:
        """Whether the room's older history is missing here where it matters: nothing was
        found, or (forwards) the event found is the first held after a gap."""
        gaps = await self._events.get_backward_extremities(room_id)
        if not gaps:
            return False
        if found is None:
            return True
        if not forwards:
            return False
        prevs = await self._events.get_prev_event_ids(found.event_id)
        return any(p in gaps for p in prevs)

    async def timestamp_to_event(
        self, user_id: str, room_id: str, ts: int, forwards: bool
    ) -> dict[str, Any]:
        """``GET /rooms/{roomId}/timestamp_to_event``: the closest event the user may see."""
        room_version = await self.room_version(room_id)
        membership, _ = await self.membership(room_id, user_id)
        if membership is None and await self.current_visibility(room_id) != WORLD_READABLE:
            raise MatrixError(403, "M_FORBIDDEN", "You aren't a member of the room")
        cache = self.cache()
        found = await self._reads.event_at_timestamp(room_id, ts, forwards)
        if self.remote_timestamp is not None and await self._history_gap(room_id, found, forwards):
            # "If the server does not have all of the room history and does not have an
            # event suitably close to the requested timestamp", other servers are asked.
            remote = await self.remote_timestamp(room_id, ts, forwards)
            if remote is not None and (
                found is None or (forwards and remote["origin_server_ts"] < found.origin_server_ts)
            ):
                return remote
        if found is not None:
            stored = await self._events.get_event(found.event_id)
            if stored is not None:
                visible, _ = await self.visible(cache, room_version, user_id, [stored], membership)
                if visible:
                    return {
                        "event_id": found.event_id,
                        "origin_server_ts": found.origin_server_ts,
                    }
        raise not_found(f"Unable to find event from {ts} in direction {'f' if forwards else 'b'}")
