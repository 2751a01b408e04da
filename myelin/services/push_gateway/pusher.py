"""One http pusher's deliveries (spec: Push Gateway API, "Homeserver behaviour": "If the
endpoint returns an HTTP error code, the homeserver SHOULD retry for a reasonable amount of
time using exponential backoff").

Each pusher has its own task and queue, so a dead gateway delays nobody else. Notifications
go out in stream order, one at a time. A failure is retried after 1 s, doubling up to an
hour (Synapse's schedule); after 24 hours of failing, or once a notification is older than
that, it is given up and the next one is tried (Synapse gives up after 24 hours too: a
gateway fixed a day later does not get a day of stale alerts). The position delivered up to
(or given up on) is stored, so that a restart catches up. Pushkeys the gateway ``rejected``
remove their pusher. A failure streak is logged once as a warning, its retries at debug
level, and its end at info.
"""

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.services.push_gateway.client import PushGatewayError
from myelin.services.push_gateway.context import NotificationContext
from myelin.services.push_gateway.notification import counts_notification, event_notification
from myelin.storage.push_rules import PusherRecord

logger = logging.getLogger(__name__)

INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 3600.0
GIVE_UP_MS = 24 * 3600 * 1000
# Notifications waiting per pusher: beyond this the oldest are dropped (a gateway that has
# been down that long is far behind; they would be given up on anyway).
MAX_QUEUED = 1000


@dataclass(frozen=True, order=True)
class PushItem:
    """One notification to deliver: an event's position and its actions for the user.
    ``event`` and ``state_group`` are known when it comes from the write path."""

    stream_ordering: int
    event_id: str = field(compare=False)
    actions: Sequence[Any] = field(compare=False)
    ts: int = field(compare=False)
    event: Mapping[str, Any] | None = field(default=None, compare=False)
    state_group: int | None = field(default=None, compare=False)


class GatewayClient(Protocol):
    async def notify(self, url: str, body: Mapping[str, Any]) -> list[str]: ...

    async def close(self) -> None: ...


class DeliveryStore(Protocol):
    async def set_pusher_delivered(
        self, user_id: str, app_id: str, pushkey: str, stream_ordering: int
    ) -> bool: ...

    async def set_pusher_failing_since(
        self, user_id: str, app_id: str, pushkey: str, failing_since: int | None
    ) -> None: ...


@dataclass(frozen=True)
class DeliveryParts:
    """What every pusher shares: the HTTP client, the context reader, the store, the clock,
    whether content is sent, and how a rejected pusher is removed."""

    client: GatewayClient
    context: NotificationContext
    store: DeliveryStore
    clock: Clock
    include_content: bool
    remove: Callable[[PusherRecord], Awaitable[None]]


def pusher_name(pusher: PusherRecord) -> str:
    return f"{pusher.user_id}/{pusher.app_id}/{pusher.pushkey[:16]}"


class HttpPusher:
    """The delivery task of one http pusher (see the module doc)."""

    def __init__(self, record: PusherRecord, parts: DeliveryParts) -> None:
        self.record = record
        self._parts = parts
        self._queue: list[PushItem] = []
        self._queued: set[int] = set()
        self._last = record.last_stream_ordering
        self._failing_since = record.failing_since
        self._backoff = INITIAL_BACKOFF_S
        self._badge_wanted = False
        self._last_badge: int | None = None
        self._overflowing = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return pusher_name(self.record)

    @property
    def last_stream_ordering(self) -> int:
        return self._last

    def enqueue(self, item: PushItem) -> None:
        position = item.stream_ordering
        if position <= self._last or position in self._queued:
            return
        heapq.heappush(self._queue, item)
        self._queued.add(position)
        if len(self._queue) > MAX_QUEUED:
            dropped = heapq.heappop(self._queue)
            self._queued.discard(dropped.stream_ordering)
            if not self._overflowing:
                logger.warning(
                    "Pusher %s: queue full, dropping its oldest notifications", self.name
                )
            self._overflowing = True
        self._wake.set()

    def want_badge(self) -> None:
        """Send the unread count once the queue is empty, if it changed."""
        self._badge_wanted = True
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"pusher {self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        broken = False
        while True:
            try:
                if not await self._step():
                    return
                broken = False
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database, most likely: logged once, then retried with the backoff.
                if not broken:
                    logger.exception("Pusher %s: unexpected failure", self.name)
                broken = True
                await self._parts.clock.sleep(self._next_backoff())
                await asyncio.sleep(0)

    async def _step(self) -> bool:
        """Deliver the oldest notification, or the badge, or wait; False once removed."""
        if not self._queue:
            self._overflowing = False
            if self._badge_wanted:
                self._badge_wanted = False
                return await self._send_badge()
            self._wake.clear()
            await self._wake.wait()
            return True
        now = self._parts.clock.now_ms()
        item = self._queue[0]
        if item.ts < now - GIVE_UP_MS:
            return await self._done(item, gave_up=True)
        try:
            rejected = await self._deliver(item)
        except PushGatewayError as e:
            return await self._failed(item, str(e), now)
        except Exception as e:
            if self._failing_since is None:
                logger.exception("Pusher %s: failed to build a notification", self.name)
            return await self._failed(item, f"unexpected {type(e).__name__}", now)
        if self.record.pushkey in rejected:
            logger.info("Pusher %s: pushkey rejected by the gateway, removing it", self.name)
            await self._parts.remove(self.record)
            return False
        return await self._done(item, gave_up=False)

    async def _deliver(self, item: PushItem) -> list[str]:
        parts = self._parts
        event = item.event
        if event is None:
            event = await parts.context.event_json(item.event_id)
            if event is None:
                return []  # gone (its room purged): nothing to say
        unread = await parts.context.unread(self.record.user_id)
        description = await parts.context.describe(event, item.state_group)
        body = event_notification(
            self.record,
            event,
            item.actions,
            unread=unread,
            description=description,
            include_content=parts.include_content,
        )
        rejected = await parts.client.notify(str(self.record.data.get("url", "")), body)
        self._last_badge = unread
        return rejected

    async def _done(self, item: PushItem, *, gave_up: bool) -> bool:
        heapq.heappop(self._queue)
        self._queued.discard(item.stream_ordering)
        self._last = max(self._last, item.stream_ordering)
        if gave_up:
            logger.warning(
                "Pusher %s: giving up on the notification of %s after 24 hours",
                self.name,
                item.event_id,
            )
        elif self._failing_since is not None:
            logger.info("Pusher %s: the push gateway answers again", self.name)
        self._failing_since = None
        self._backoff = INITIAL_BACKOFF_S
        record = self.record
        return await self._parts.store.set_pusher_delivered(
            record.user_id, record.app_id, record.pushkey, self._last
        )

    async def _failed(self, item: PushItem, reason: str, now: int) -> bool:
        record = self.record
        if self._failing_since is None:
            self._failing_since = now
            logger.warning(
                "Pusher %s: push gateway %s failed (%s); retrying with backoff",
                self.name,
                record.data.get("url"),
                reason,
            )
            await self._parts.store.set_pusher_failing_since(
                record.user_id, record.app_id, record.pushkey, now
            )
        else:
            logger.debug("Pusher %s: retry failed (%s)", self.name, reason)
        if now - self._failing_since >= GIVE_UP_MS:
            return await self._done(item, gave_up=True)
        await self._parts.clock.sleep(self._next_backoff())
        # The clock may be one that does not yield (tests): let the loop run.
        await asyncio.sleep(0)
        return True

    def _next_backoff(self) -> float:
        delay = self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
        return delay

    async def _send_badge(self) -> bool:
        """Synapse's badge update: the count alone, only when it changed, never retried;
        False once the pusher is removed."""
        unread = await self._parts.context.unread(self.record.user_id)
        if unread == self._last_badge:
            return True
        try:
            rejected = await self._parts.client.notify(
                str(self.record.data.get("url", "")), counts_notification(self.record, unread)
            )
        except PushGatewayError as e:
            logger.info("Pusher %s: badge update failed (%s)", self.name, e)
            return True
        self._last_badge = unread
        if self.record.pushkey in rejected:
            logger.info("Pusher %s: pushkey rejected by the gateway, removing it", self.name)
            await self._parts.remove(self.record)
            return False
        return True
