"""The one write path for events (spec: Server-Server API, "Checks performed on receipt of a
PDU", steps 4 and 5, and "Room State Resolution"; GUIDE principle 6).

Every event, built here or (later) received over federation, goes through ``handle_event``
under its room's lock, while other rooms proceed in parallel:

1. the authorization rules against the event's own auth events (step 4);
2. the state before the event: the state after its single prev event, or the resolution of the
   states after its prev events;
3. the authorization rules against the state before the event (step 5);
4. the state after the event: a new state group, a delta on the state before, for a state event;
5. atomic persistence (event, edges, forward extremities, state group, current state, stream
   ordering);
6. a notification, once the event is durable.

A local event that fails step 1 or 3 raises ``EventRejectedError`` and nothing is persisted. A
federated one is persisted as rejected instead (its facts are kept apart from its JSON). A
federated event that passes steps 1 and 3 is also checked against the room's current state
(receipt step 6): when that fails it is persisted "soft failed" (its state after is kept, but it
moves neither the forward extremities nor the current state, and nobody is notified).
``persist_outlier`` stores an event known only through another's auth chain or a state response
(receipt step 4 alone: it has no place in the room's DAG yet).
"""

import asyncio
import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Protocol

from myelin.clock import Clock
from myelin.core.auth_rules import (
    auth_types_for_event,
    check_auth_rules,
    check_state_dependent_auth_rules,
)
from myelin.core.errors import AuthError
from myelin.core.events import EventView
from myelin.core.room_versions import EventIdFormat, RoomVersion
from myelin.core.signing import SigningKey
from myelin.services.events.build import (
    EventTemplate,
    Extremity,
    build_event,
    choose_prev_events,
    select_auth_events,
)
from myelin.services.events.errors import EventRejectedError, MissingPrerequisiteError
from myelin.services.events.ids import IdSource, new_event_id
from myelin.services.events.loading import load_events, load_state_events
from myelin.services.events.state import StateBefore, compute_state_before, resolve_states
from myelin.services.notifier import Notifier
from myelin.storage import (
    EventStore,
    NewStateGroup,
    PendingPushActions,
    StateStore,
    TxnIdKey,
)
from myelin.storage.state import compute_delta

CREATE_KEY = ("m.room.create", "")


class EventSource(enum.Enum):
    """Where an event comes from: decides what a failed auth check does."""

    LOCAL = "local"  # built by this server for a client: rejection raises, nothing persisted
    FEDERATION = "federation"  # received: a rejected event is persisted as rejected
    # History fetched with /backfill: checked like a received event (steps 4 and 5, not the
    # soft-fail step 6), persisted before the room's other events, never the current state,
    # never announced (no /sync wake-up, no federation sending).
    BACKFILL = "backfill"


@dataclass(frozen=True)
class WrittenEvent:
    """An event the write path has made durable, with the server's facts about it."""

    event: EventView
    stream_ordering: int
    state_group: int | None
    rejected_reason: str | None = None
    soft_failed: bool = False
    # The push actions committed with the event (for the push gateway delivery), if any.
    push_actions: PendingPushActions | None = None


class PushActionSource(Protocol):
    """Computes an event's push actions before it is persisted (push rule evaluation), so
    that they commit with the event and are counted by the first /sync it wakes."""

    async def actions_for(
        self,
        event: EventView,
        state: Mapping[tuple[str, str], str],
        state_group: int | None,
    ) -> PendingPushActions | None:
        """The actions of ``event`` given the room state at it (``state_group`` names that
        state when it is stored, else None); None when nobody is notified and the sender is
        remote. Never raises."""
        ...


class RoomLocks:
    """One asyncio lock per room, dropped when nobody holds or waits for it.

    In-process only: several worker processes writing into one room will need a lock the
    database holds (a PostgreSQL advisory lock per room) around the same critical section.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, room_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(room_id, (asyncio.Lock(), 0))
        self._locks[room_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[room_id]
            if users == 1:
                del self._locks[room_id]
            else:
                self._locks[room_id] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class EventWriter:
    """Builds local events and runs every event through the write path."""

    def __init__(
        self,
        *,
        server_name: str,
        signing_key: SigningKey,
        events: EventStore,
        state: StateStore,
        notifier: Notifier,
        clock: Clock,
        ids: IdSource,
    ) -> None:
        self._server_name = server_name
        self._signing_key = signing_key
        self._events = events
        self._state = state
        self._notifier = notifier
        self._clock = clock
        self._ids = ids
        self.locks = RoomLocks()
        # Push rule evaluation, run before persisting (set by the composition root).
        self.push: PushActionSource | None = None
        # Run after an accepted event is durable and its notification is sent (federation
        # sending); each must log, not raise, its own failures.
        self.after_persist: list[Callable[[WrittenEvent], Awaitable[None]]] = []

    # -- building local events ------------------------------------------------------------

    async def create_and_send(
        self,
        room_id: str,
        room_version: RoomVersion,
        template: EventTemplate,
        *,
        prev_event_ids: Sequence[str] | None = None,
        txn_id: TxnIdKey | None = None,
    ) -> WrittenEvent:
        """Build a local event on the room's forward extremities and write it.

        ``prev_event_ids`` overrides the extremities (for tests and future callers that must
        point at given events). Building and writing happen under the room's lock, so local
        events into one room form a chain, never a fork. ``txn_id``, the client transaction
        sending the event, is recorded in the event's own database transaction (so that a /sync
        woken by the event serves it as ``transaction_id``, and a crash cannot keep the event
        without the record: ``TxnIdUsedError`` when the transaction sent an event already).
        """
        async with self.locks.hold(room_id):
            event, before, extremities = await self._build_locked(
                room_id, room_version, template, prev_event_ids
            )
            written = await self._write_locked(
                event, EventSource.LOCAL, before, txn_id, built_on=extremities
            )
        await self._notify(written)
        return written

    async def _build_locked(
        self,
        room_id: str,
        room_version: RoomVersion,
        template: EventTemplate,
        prev_event_ids: Sequence[str] | None,
    ) -> tuple[EventView, StateBefore, list[str] | None]:
        """The event, the state before it and the room's forward extremities it was built on
        (None when ``prev_event_ids`` were given)."""
        extremities = None
        if prev_event_ids is None:
            extremities = await self._events.get_forward_extremities(room_id)
            stored = await self._events.get_events(extremities)
            prev_event_ids = choose_prev_events(
                Extremity(e.event_id, e.depth, e.stream_ordering) for e in stored.values()
            )
            if not prev_event_ids:
                raise MissingPrerequisiteError(f"room {room_id} has no events", [])
        prevs = await load_events(self._events, prev_event_ids, room_version)
        missing = [p for p in prev_event_ids if p not in prevs.views]
        if missing:
            raise MissingPrerequisiteError(f"prev events {missing} are not stored", missing)
        before = await compute_state_before(self._events, self._state, room_version, prev_event_ids)
        wanted = auth_types_for_event(
            room_version, template.type, template.sender, template.state_key, template.content
        )
        state_events = await load_state_events(self._events, before.state, wanted, room_version)
        prev_events = [prevs.views[p] for p in prev_event_ids]
        event = self.build_on(room_id, room_version, template, prev_events, state_events)
        return event, before, extremities

    def build_on(
        self,
        room_id: str | None,
        room_version: RoomVersion,
        template: EventTemplate,
        prev_events: Sequence[EventView],
        state_before: Mapping[tuple[str, str], EventView],
    ) -> EventView:
        """A local event on ``prev_events`` whose auth events are picked from ``state_before``,
        timestamped now and signed by this server (nothing is stored)."""
        return build_event(
            room_version,
            room_id,
            template,
            prev_events=prev_events,
            auth_events=select_auth_events(room_version, template, state_before),
            origin_server_ts=self._clock.now_ms(),
            server_name=self._server_name,
            signing_key=self._signing_key,
            event_id=self.new_event_id(room_version),
        )

    def new_event_id(self, room_version: RoomVersion) -> str | None:
        """An event ID for room versions 1 and 2 (chosen by the server), else None."""
        if room_version.event_id_format is not EventIdFormat.V1:
            return None
        return new_event_id(self._ids, self._server_name)

    # -- the write path --------------------------------------------------------------------

    async def handle_event(
        self,
        event: EventView,
        source: EventSource = EventSource.LOCAL,
        state_before: Mapping[tuple[str, str], str] | None = None,
        *,
        backfill_position: int | None = None,
    ) -> WrittenEvent:
        """Authorize, resolve state for, persist and announce ``event`` (under its room's lock).

        ``state_before`` is the state before the event when it cannot be computed from stored
        prev events (federation: a gap in the DAG filled with ``/state``, or a join's state);
        its events must be stored (as outliers at least). ``backfill_position``: the
        negative stream ordering of a ``BACKFILL`` event.
        Raise ``EventRejectedError`` for a local event the auth rules reject,
        ``MissingPrerequisiteError`` when an auth or prev event (or its state) is not stored.
        """
        before = None
        if state_before is not None:
            prevs = tuple(dict.fromkeys(event.prev_event_ids))
            before = StateBefore(prevs, dict(state_before), None, None, {})
        async with self.locks.hold(event.room_id):
            written = await self._write_locked(
                event, source, before, backfill_position=backfill_position
            )
        if source is not EventSource.BACKFILL:
            await self._notify(written)
        return written

    async def _write_locked(
        self,
        event: EventView,
        source: EventSource,
        before: StateBefore | None,
        txn_id: TxnIdKey | None = None,
        *,
        backfill_position: int | None = None,
        built_on: list[str] | None = None,
    ) -> WrittenEvent:
        """``built_on``: the forward extremities a local event was just built on under this
        same hold of the room's lock (they cannot have moved, and nothing can point to the
        new event yet)."""
        room_version = event.room_version
        # 1. Auth against the event's own auth events (receipt step 4).
        rejection = await self._check_auth_events(event)
        # 2. The state before the event.
        if before is None or before.prev_event_ids != tuple(dict.fromkeys(event.prev_event_ids)):
            before = await compute_state_before(
                self._events, self._state, room_version, event.prev_event_ids
            )
        # 3. Auth against the state before the event (receipt step 5).
        if rejection is None:
            rejection = await self._check_state_before(event, before)
        if rejection is not None and source is EventSource.LOCAL:
            raise rejection
        # 4. The state after the event; a rejected event changes nothing.
        state_after: int | NewStateGroup
        if before.group is not None and (rejection is not None or not event.is_state):
            state_after = before.group
        else:
            delta = compute_delta(before.parent_state, before.state)
            pair = event.state_pair
            if pair is not None and rejection is None:
                delta[pair] = event.event_id
            state_after = NewStateGroup(before.parent, delta)
        # Receipt step 6: a federated event must also pass against the current state, or it
        # is soft failed (kept, with its state, but kept out of the room's present).
        soft_failed = False
        if rejection is None and source is EventSource.FEDERATION:
            soft_failed = await self._fails_current_state(event, before)
        # 5. Persist, with the room's new current state.
        current: bool | NewStateGroup = False
        push_actions = None
        if rejection is None and not soft_failed and source is not EventSource.BACKFILL:
            current = await self._current_state_after(event, before, state_after, built_on)
            push_actions = await self._push_actions(event, before, state_after)
        persisted = await self._events.persist_event(
            event,
            received_ts=self._clock.now_ms(),
            rejected_reason=None if rejection is None else rejection.message,
            soft_failed=soft_failed,
            state_after=state_after,
            set_current_state=current,
            txn_id=txn_id,
            push_actions=push_actions,
            backfill_position=backfill_position if source is EventSource.BACKFILL else None,
            childless=built_on is not None,
        )
        return WrittenEvent(
            event,
            persisted.stream_ordering,
            persisted.state_group,
            None if rejection is None else rejection.message,
            soft_failed,
            push_actions,
        )

    async def _push_actions(
        self, event: EventView, before: StateBefore, state_after: int | NewStateGroup
    ) -> PendingPushActions | None:
        """The push actions of an accepted event, from the state at it (the state after it)."""
        if self.push is None:
            return None
        if isinstance(state_after, int):
            return await self.push.actions_for(event, before.state, state_after)
        state = dict(before.state)
        pair = event.state_pair
        if pair is not None:
            state[pair] = event.event_id
        return await self.push.actions_for(event, state, None)

    async def _fails_current_state(self, event: EventView, before: StateBefore) -> bool:
        """Whether ``event`` fails the auth rules against the room's current state."""
        current = await self._state.get_current_state(event.room_id)
        if not current or current == before.state:
            return False  # nothing new since the state before: step 5 decided already
        now = StateBefore(before.prev_event_ids, dict(current), None, None, {})
        return await self._check_state_before(event, now) is not None

    async def persist_outlier(self, event: EventView) -> WrittenEvent:
        """Store a received event as an outlier, rejected when it fails the auth rules against
        its own auth events (which must be stored). Storing an event twice is a no-op."""
        existing = await self._events.get_event(event.event_id)
        if existing is not None:
            return WrittenEvent(
                event,
                existing.stream_ordering,
                None,
                existing.rejected_reason,
                existing.soft_failed,
            )
        rejection = await self._check_auth_events(event)
        reason = None if rejection is None else rejection.message
        persisted = await self._events.persist_event(
            event, received_ts=self._clock.now_ms(), outlier=True, rejected_reason=reason
        )
        return WrittenEvent(event, persisted.stream_ordering, None, reason)

    async def _check_auth_events(self, event: EventView) -> EventRejectedError | None:
        room_version = event.room_version
        wanted = list(event.auth_event_ids)
        create_id = None
        if room_version.room_id_is_create_event_id and event.type != "m.room.create":
            create_id = "$" + event.room_id[1:]
            wanted.append(create_id)
        loaded = await load_events(self._events, wanted, room_version)
        missing = [e for e in event.auth_event_ids if e not in loaded.views]
        if missing:
            raise MissingPrerequisiteError(f"auth events {missing} are not stored", missing)
        # Rule 2.3 (3.3 in v12): an auth event that was itself rejected rejects the event.
        bad = [e for e in event.auth_event_ids if e in loaded.rejected]
        if create_id is not None and create_id in loaded.rejected:
            bad.append(create_id)
        if bad:
            rule = "3.3" if room_version.room_id_is_create_event_id else "2.3"
            return EventRejectedError(rule, f"auth events {bad} were rejected", "auth_events")
        create_event = None if create_id is None else loaded.views.get(create_id)
        try:
            check_auth_rules(
                room_version,
                event,
                [loaded.views[e] for e in event.auth_event_ids],
                create_event=create_event,
            )
        except AuthError as e:
            return EventRejectedError(e.rule, e.reason, "auth_events")
        return None

    async def _check_state_before(
        self, event: EventView, before: StateBefore
    ) -> EventRejectedError | None:
        room_version = event.room_version
        if event.type == "m.room.create" and event.state_key == "":
            return None  # rule 1: decided by the state-independent checks
        keys = auth_types_for_event(
            room_version, event.type, event.sender, event.state_key, event.content
        )
        keys.add(CREATE_KEY)
        auth_state = await load_state_events(self._events, before.state, keys, room_version)
        try:
            check_state_dependent_auth_rules(room_version, event, auth_state)
        except AuthError as e:
            return EventRejectedError(e.rule, e.reason, "state_before")
        return None

    async def _current_state_after(
        self,
        event: EventView,
        before: StateBefore,
        state_after: int | NewStateGroup,
        built_on: list[str] | None = None,
    ) -> bool | NewStateGroup:
        """What the room's current state becomes: the state after the event when it is the
        only forward extremity left, else the resolution of every extremity's state.
        ``built_on``: the room's extremities when known (see ``_write_locked``)."""
        if built_on is None:
            built_on = await self._events.get_forward_extremities(event.room_id)
        extremities = set(built_on)
        others = sorted(extremities - set(event.prev_event_ids) - {event.event_id})
        if not others:
            return True
        after = dict(before.state)
        pair = event.state_pair
        if pair is not None:
            after[pair] = event.event_id
        groups = await self._state.get_state_groups_for_events(others)
        maps = [after] + [
            await self._state.get_state_map(g) for g in dict.fromkeys(groups.values())
        ]
        resolved = await resolve_states(self._events, event.room_version, maps, [event])
        parent = await self._state.get_current_state_group(event.room_id)
        parent_state = {} if parent is None else await self._state.get_state_map(parent)
        return NewStateGroup(parent, compute_delta(parent_state, resolved))

    async def notify_written(self, written: WrittenEvent) -> None:
        """Record the push actions, notify and run the after-persist hooks for an event
        persisted outside the write path (an out-of-band membership of federation)."""
        if self.push is not None and written.rejected_reason is None and not written.soft_failed:
            event = written.event
            state = await self._state.get_current_state(event.room_id)
            pending = await self.push.actions_for(event, state, None)
            if pending is not None:
                await self._events.add_push_actions(
                    event.event_id, event.room_id, pending, written.stream_ordering
                )
                written = replace(written, push_actions=pending)
        await self._notify(written)

    async def _notify(self, written: WrittenEvent) -> None:
        if written.rejected_reason is not None or written.soft_failed:
            return
        # Wake /sync first: the push actions committed with the event, and the hooks
        # (federation sending) need not delay the local delivery.
        event = written.event
        users = [event.state_key] if event.type == "m.room.member" and event.state_key else []
        await self._notifier.notify(written.stream_ordering, event.room_id, users)
        # One turn of the loop: the long-polls just woken build and send their responses
        # (inline reads make that one step on SQLite) before the hooks and the sender's answer.
        await asyncio.sleep(0)
        for hook in self.after_persist:
            await hook(written)
