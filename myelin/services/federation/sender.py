"""The outbound queue (spec: Server-Server API, "Transactions" and "PUT /send/{txnId}"; the
queue, backoff and catch-up are server internals, as Synapse's federation sender).

Every PDU or EDU for another server is first written to a durable per-destination queue
(``OutboxStore``), so what waits for a peer that is down survives a restart. One worker per
destination sends it in transactions of at most 50 PDUs and 100 EDUs, deleting items once the
peer accepted the transaction. A failed transaction leaves the items queued; the destination's
backoff (exponential with a cap, ``DestinationBackoff``) decides when to try again. Catch-up:
when more PDUs wait than fit in one transaction (after an outage), only the latest queued event
of each room is sent, and the peer fetches what it missed with ``get_missing_events``.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import orjson

from myelin.clock import Clock
from myelin.core.identifiers import server_name_of
from myelin.federation.backoff import DestinationBackoff
from myelin.federation.client import (
    FederationClient,
    FederationDeniedError,
    FederationError,
    NotRetryingDestinationError,
    quote_segment,
)
from myelin.services.events.write_path import WrittenEvent
from myelin.storage import EventStore, StateStore
from myelin.storage.federation_rooms import OutboxItem, OutboxStore

logger = logging.getLogger("myelin.federation.sender")

MAX_PDUS = 50
MAX_EDUS = 100
# How many queued items one look at the queue reads.
BATCH_READ = 1000
# The shortest wait before retrying after a failure that set no backoff.
MIN_RETRY_S = 1.0


class FederationSender:
    def __init__(
        self,
        *,
        server_name: str,
        client: FederationClient,
        outbox: OutboxStore,
        events: EventStore,
        state: StateStore,
        backoff: DestinationBackoff,
        clock: Clock,
    ) -> None:
        self._server_name = server_name
        self._client = client
        self._outbox = outbox
        self._events = events
        self._state = state
        self._backoff = backoff
        self._clock = clock
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._closed = False

    # -- queueing ---------------------------------------------------------------------------

    async def destinations_for_room(
        self, room_id: str, extra_users: Sequence[str] = ()
    ) -> list[str]:
        """The other servers with a joined member in the room (plus those of ``extra_users``)."""
        servers: set[str] = set()
        for user_id in [*await self._state.get_room_members(room_id), *extra_users]:
            try:
                servers.add(server_name_of(user_id))
            except ValueError:
                continue
        servers.discard(self._server_name)
        return sorted(s for s in servers if self._client.policy.permits(s))

    def permits(self, server: str) -> bool:
        """Whether ``server`` is another server the operator lets us federate with."""
        return server != self._server_name and self._client.policy.permits(server)

    async def on_event_persisted(self, written: WrittenEvent) -> None:
        """The write path's after-persist hook: queue our own accepted events for the room's
        other servers (a membership change also reaches its target's server)."""
        event = written.event
        try:
            if server_name_of(event.sender) != self._server_name:
                return
        except ValueError:
            return
        extra = [event.state_key] if event.type == "m.room.member" and event.state_key else []
        destinations = await self.destinations_for_room(event.room_id, extra)
        await self.send_pdu(event.event_id, destinations)

    async def send_pdu(self, event_id: str, destinations: Sequence[str]) -> None:
        if not destinations:
            return
        await self._outbox.enqueue(destinations, event_id=event_id, queued_ts=self._clock.now_ms())
        for destination in destinations:
            self.wake(destination)

    async def send_edu(self, edu_type: str, content: Any, destinations: Sequence[str]) -> None:
        if not destinations:
            return
        edu = orjson.dumps({"edu_type": edu_type, "content": content}).decode()
        await self._outbox.enqueue(destinations, edu_json=edu, queued_ts=self._clock.now_ms())
        for destination in destinations:
            self.wake(destination)

    async def peer_is_back(self, destination: str) -> None:
        """``destination`` reached us (it sent a transaction): forget its backoff and send
        what waits for it now rather than when the backoff expires."""
        if await self._backoff.state(destination) is None:
            return
        await self._backoff.record_success(destination)
        if await self._outbox.count(destination) > 0:
            self.wake(destination)

    # -- workers ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume sending what was queued before a restart."""
        for destination in await self._outbox.destinations_with_pending():
            self.wake(destination)

    def wake(self, destination: str) -> None:
        if self._closed:
            return
        self._wakeups.setdefault(destination, asyncio.Event()).set()
        task = self._workers.get(destination)
        if task is None or task.done():
            self._workers[destination] = asyncio.create_task(self._run(destination))

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._workers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()

    async def _run(self, destination: str) -> None:
        wakeup = self._wakeups.setdefault(destination, asyncio.Event())
        while not self._closed:
            wakeup.clear()
            try:
                sent = await self.send_once(destination)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Sending to %s failed", destination)
                sent = False
            if sent:
                continue
            if await self._outbox.count(destination) == 0:
                return  # nothing left: a new item wakes a new worker
            retry_after = await self._backoff.retry_after(destination)
            delay = MIN_RETRY_S
            if retry_after is not None:
                delay = max(MIN_RETRY_S, (retry_after - self._clock.now_ms()) / 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=delay)

    async def _collapse(self, destination: str, items: list[OutboxItem]) -> list[OutboxItem]:
        """Catch-up: with more PDUs queued than one transaction holds, keep only the latest of
        each room (the peer fetches the rest); the others are dropped from the queue."""
        pdus = [i for i in items if i.event_id is not None]
        if len(pdus) <= MAX_PDUS:
            return items
        stored = await self._events.get_events([i.event_id for i in pdus if i.event_id])
        latest: dict[str, OutboxItem] = {}
        for item in pdus:
            s = stored.get(item.event_id or "")
            if s is not None:
                latest[s.room_id] = item  # queue order: the last one wins
        keep = {i.id for i in latest.values()}
        dropped = [i.id for i in pdus if i.id not in keep]
        await self._outbox.remove(destination, dropped)
        logger.info(
            "Catching up %s: %d rooms, %d events left to be fetched",
            destination,
            len(keep),
            len(dropped),
        )
        return [i for i in items if i.event_id is None or i.id in keep]

    async def send_once(self, destination: str) -> bool:
        """Send one transaction of what is queued for ``destination``; True when one was
        accepted (more may wait), False when there was nothing to send or it failed."""
        items = await self._outbox.pending(destination, limit=BATCH_READ)
        if not items:
            return False
        items = await self._collapse(destination, items)
        pdu_items = [i for i in items if i.event_id is not None][:MAX_PDUS]
        edu_items = [i for i in items if i.edu_json is not None][:MAX_EDUS]
        stored = await self._events.get_events([i.event_id for i in pdu_items if i.event_id])
        pdus = [stored[i.event_id].json() for i in pdu_items if i.event_id in stored]
        edus = [orjson.loads(i.edu_json) for i in edu_items if i.edu_json is not None]
        txn_id = f"{await self._outbox.next_txn_id(destination)}"
        body = {
            "origin": self._server_name,
            "origin_server_ts": self._clock.now_ms(),
            "pdus": pdus,
            "edus": edus,
        }
        try:
            await self._client.put_json(
                destination, f"/_matrix/federation/v1/send/{quote_segment(txn_id)}", body
            )
        except FederationDeniedError:
            logger.info("Federation with %s is not allowed: dropping its queue", destination)
            await self._outbox.remove(destination, [i.id for i in items])
            return False
        except NotRetryingDestinationError:
            return False
        except FederationError as e:
            logger.info("Transaction %s to %s failed: %s", txn_id, destination, e)
            return False
        await self._outbox.remove(destination, [i.id for i in [*pdu_items, *edu_items]])
        return True
