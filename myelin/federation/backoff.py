"""Backoff per destination (Myelin server internals; Synapse's ``destination_*_retry_*``
options; no spec section).

After a failed request to a server, nothing more is sent to it until ``retry_after_ts``; each
further failure multiplies the interval, up to a cap; one success clears it. The state is kept
in memory and persisted through ``BackoffStore`` so that it survives a restart; the outbound
event queue asks ``is_backing_off`` / ``retry_after`` before sending and records outcomes.
"""

from dataclasses import dataclass
from typing import Protocol

from myelin.clock import Clock


@dataclass(frozen=True)
class BackoffState:
    """A destination that failed: when, until when we wait, and the current interval."""

    failure_ts: int
    retry_after_ts: int
    retry_interval_ms: int


@dataclass(frozen=True)
class BackoffPolicy:
    """Synapse's defaults: 10 minutes, doubling, at most a week."""

    min_interval_ms: int = 600_000
    multiplier: float = 2.0
    max_interval_ms: int = 7 * 86_400_000

    def next_interval(self, previous: BackoffState | None) -> int:
        """The interval after one more failure."""
        if previous is None or previous.retry_interval_ms <= 0:
            return self.min_interval_ms
        grown = int(previous.retry_interval_ms * self.multiplier)
        return max(self.min_interval_ms, min(grown, self.max_interval_ms))


class BackoffStore(Protocol):
    """Persistence as plain integers: ``(failure_ts, retry_after_ts, retry_interval_ms)``."""

    async def get_backoff(self, destination: str) -> tuple[int, int, int] | None: ...

    async def set_backoff(
        self, destination: str, failure_ts: int, retry_after_ts: int, retry_interval_ms: int
    ) -> None: ...

    async def clear_backoff(self, destination: str) -> None: ...


class DestinationBackoff:
    """The backoff state of every destination, cached in memory, persisted in the store."""

    def __init__(self, store: BackoffStore, clock: Clock, policy: BackoffPolicy) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        # None means "known to be up"; a missing key means "not loaded yet".
        self._cache: dict[str, BackoffState | None] = {}

    async def state(self, destination: str) -> BackoffState | None:
        if destination not in self._cache:
            row = await self._store.get_backoff(destination)
            self._cache[destination] = None if row is None else BackoffState(*row)
        return self._cache[destination]

    async def retry_after(self, destination: str) -> int | None:
        """When we may next send to ``destination`` (ms), or None when it is not backed off."""
        state = await self.state(destination)
        if state is None or state.retry_after_ts <= self._clock.now_ms():
            return None
        return state.retry_after_ts

    async def is_backing_off(self, destination: str) -> bool:
        return await self.retry_after(destination) is not None

    async def record_failure(self, destination: str) -> BackoffState:
        """One more failure: grow the interval (capped) and persist it."""
        previous = await self.state(destination)
        now = self._clock.now_ms()
        if previous is not None and previous.retry_after_ts > now:
            # A failure of a request sent while already backing off (ignore_backoff, or many
            # requests in flight): the wait already running stands.
            return previous
        interval = self._policy.next_interval(previous)
        state = BackoffState(
            failure_ts=now, retry_after_ts=now + interval, retry_interval_ms=interval
        )
        self._cache[destination] = state
        await self._store.set_backoff(destination, now, now + interval, interval)
        return state

    async def record_success(self, destination: str) -> None:
        """The destination answered: forget its failures."""
        if await self.state(destination) is None:
            return
        self._cache[destination] = None
        await self._store.clear_backoff(destination)
