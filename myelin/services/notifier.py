"""Waking long-polls when new events arrive (spec: Client-Server API, "Syncing": a ``/sync``
with a ``timeout`` waits until something new happens for the user or the timeout expires).

``Notifier`` is the small interface the write path and ``/sync`` share: ``notify`` after an
event is durable, ``watch`` or ``wait_for`` in a long-poll (``wait_any`` waits on several).
``InProcessNotifier`` serves one process with callbacks on its loop. A Redis-backed
implementation can take its place when several worker processes share one database:
``notify`` publishes, every process's subscriber feeds its own in-process waiters (the same
matching as here), and nothing else changes.

Notifications carry the stream position, the room and the users concerned (the target of a
membership event, who may not be in the room yet). A waiter names the position it has seen and
the rooms and users it cares about; it wakes on the first later notification that concerns one
of them. Recent notifications are remembered so that one that arrives between a caller reading
the database and starting to wait is not missed.
"""

import asyncio
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from myelin.clock import Clock

# How many recent notifications are remembered for late waiters.
HISTORY_SIZE = 1024


class Notifier(Protocol):
    async def notify(
        self, stream_position: int, room_id: str | None, user_ids: Iterable[str] = ()
    ) -> None:
        """Announce that ``stream_position`` is durable and concerns ``room_id``/``user_ids``."""
        ...

    def watch(
        self,
        after: int,
        wake: Callable[[int], None],
        *,
        user_ids: Collection[str] = (),
        room_ids: Collection[str] = (),
    ) -> Callable[[], None]:
        """Call ``wake`` once, with its position, for the first notification past ``after``
        concerning one of ``user_ids`` or ``room_ids`` (any notification when both are empty):
        at once when one was already notified, else inside the ``notify`` that brings it.
        Return a function that ends the watch (``wake`` is then never called).

        ``wake`` runs on the notifier's loop and must not block: it typically resolves a
        future. A caller may be woken for a position it has already seen (it then reads the
        database and finds nothing new); it is never left asleep past a matching notification.
        """
        ...

    async def wait_for(
        self,
        after: int,
        max_wait: float,
        *,
        user_ids: Collection[str] = (),
        room_ids: Collection[str] = (),
    ) -> int | None:
        """``watch`` for at most ``max_wait`` seconds: the position that woke, or None on
        timeout."""
        ...


@dataclass(frozen=True)
class _Notification:
    position: int
    room_id: str | None
    user_ids: frozenset[str]


@dataclass(eq=False)
class _Waiter:
    after: int
    user_ids: frozenset[str]
    room_ids: frozenset[str]
    wake: Callable[[int], None] = field(repr=False)

    def matches(self, note: _Notification) -> bool:
        if note.position <= self.after:
            return False
        if not self.user_ids and not self.room_ids:
            return True
        return (note.room_id is not None and note.room_id in self.room_ids) or bool(
            note.user_ids & self.user_ids
        )


class InProcessNotifier:
    """The notifier of a single process."""

    def __init__(self, clock: Clock, history_size: int = HISTORY_SIZE) -> None:
        self._clock = clock
        self._waiters: set[_Waiter] = set()
        self._history: deque[_Notification] = deque()
        self._history_size = history_size
        # The highest position among notifications dropped from the history.
        self._forgotten_up_to = 0
        self._latest = 0

    @property
    def latest_position(self) -> int:
        """The highest position notified so far (0 before any)."""
        return self._latest

    def waiter_count(self) -> int:
        return len(self._waiters)

    async def notify(
        self, stream_position: int, room_id: str | None, user_ids: Iterable[str] = ()
    ) -> None:
        note = _Notification(stream_position, room_id, frozenset(user_ids))
        self._latest = max(self._latest, stream_position)
        self._history.append(note)
        while len(self._history) > self._history_size:
            dropped = self._history.popleft()
            self._forgotten_up_to = max(self._forgotten_up_to, dropped.position)
        woken = [waiter for waiter in self._waiters if waiter.matches(note)]
        for waiter in woken:
            self._waiters.discard(waiter)
            waiter.wake(stream_position)

    def _already_happened(self, waiter: _Waiter) -> int | None:
        if waiter.after >= self._latest:
            return None  # nothing past ``after`` was notified (the usual long-poll)
        if waiter.after < self._forgotten_up_to:
            # Something past ``after`` may have been forgotten: wake at once to be safe.
            return self._latest
        for note in self._history:
            if waiter.matches(note):
                return note.position
        return None

    def watch(
        self,
        after: int,
        wake: Callable[[int], None],
        *,
        user_ids: Collection[str] = (),
        room_ids: Collection[str] = (),
    ) -> Callable[[], None]:
        waiter = _Waiter(after, frozenset(user_ids), frozenset(room_ids), wake)
        missed = self._already_happened(waiter)
        if missed is not None:
            wake(missed)
            return _nothing
        self._waiters.add(waiter)
        return lambda: self._waiters.discard(waiter)

    async def wait_for(
        self,
        after: int,
        max_wait: float,
        *,
        user_ids: Collection[str] = (),
        room_ids: Collection[str] = (),
    ) -> int | None:
        return await wait_any([(self, after)], max_wait, self._clock, user_ids, room_ids)


def _nothing() -> None:
    return None


async def wait_any(
    watched: Sequence[tuple[Notifier, int]],
    max_wait: float,
    clock: Clock,
    user_ids: Collection[str] = (),
    room_ids: Collection[str] = (),
) -> int | None:
    """Wait on several notifiers at once, each past its own position, for at most
    ``max_wait`` seconds: the first position that woke, or None on timeout.

    The calling task awaits one future: the ``notify`` that sets it makes the task runnable at
    the loop's next turn, with no task per notifier in between (a woken ``/sync`` answers one
    turn after the write that woke it). The timeout, on ``clock``, resolves it with None.
    """
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[int | None] = loop.create_future()

    def resolve(position: int | None) -> None:
        if not woken.done():
            woken.set_result(position)

    unwatch = [
        notifier.watch(after, resolve, user_ids=user_ids, room_ids=room_ids)
        for notifier, after in watched
    ]
    if woken.done() or max_wait <= 0:
        for end in unwatch:
            end()
        return woken.result() if woken.done() else None
    sleeper: asyncio.Future[None] = asyncio.ensure_future(clock.sleep(max_wait))
    sleeper.add_done_callback(lambda _: resolve(None))
    try:
        return await woken
    finally:
        sleeper.cancel()
        for end in unwatch:
            end()
