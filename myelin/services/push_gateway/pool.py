"""The http pushers at work (spec: Client-Server API, "Push Notifications", "Pushers", and
Push Gateway API).

``PusherPool`` starts one ``HttpPusher`` per stored http pusher with the server, each first
catching up on what it had not delivered (notifications not older than the give-up window),
and routes every persisted event's push actions (carried by the write path's
``WrittenEvent``, not read back) to the pushers of the users it notifies: a dictionary lookup
per notified user, so a send costs nothing more for users without pushers. The sender of an
event is never notified (the evaluator leaves them out; checked again here). Pushers created,
changed or deleted through the API, by a ``rejected`` answer or with their device are
followed.
"""

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.services.events.write_path import WrittenEvent
from myelin.services.push_gateway.context import NotificationContext
from myelin.services.push_gateway.pusher import (
    GIVE_UP_MS,
    MAX_QUEUED,
    DeliveryParts,
    DeliveryStore,
    GatewayClient,
    HttpPusher,
    PushItem,
    pusher_name,
)
from myelin.storage.push_actions import NotificationRecord
from myelin.storage.push_rules import PusherRecord

logger = logging.getLogger(__name__)

HTTP = "http"
PusherKey = tuple[str, str, str]  # (user_id, app_id, pushkey)


class PusherRows(DeliveryStore, Protocol):
    async def get_pushers(self, user_id: str) -> list[PusherRecord]: ...

    async def get_pushers_of_kind(self, kind: str) -> list[PusherRecord]: ...

    async def delete_pusher(self, user_id: str, app_id: str, pushkey: str) -> bool: ...

    async def delete_pushers_of_device(self, user_id: str, device_id: str) -> int: ...


class UndeliveredReader(Protocol):
    async def get_notifications_after(
        self, user_id: str, after: int, *, since_ts: int, limit: int
    ) -> list[NotificationRecord]: ...


def _key(pusher: PusherRecord) -> PusherKey:
    return (pusher.user_id, pusher.app_id, pusher.pushkey)


class PusherPool:
    def __init__(
        self,
        *,
        store: PusherRows,
        undelivered: UndeliveredReader,
        client: GatewayClient,
        context: NotificationContext,
        clock: Clock,
        include_content: bool = True,
    ) -> None:
        self._store = store
        self._undelivered = undelivered
        self._clock = clock
        self._parts = DeliveryParts(client, context, store, clock, include_content, self._remove)
        self._pushers: dict[PusherKey, HttpPusher] = {}
        self._by_user: dict[str, list[HttpPusher]] = {}

    def pushers_of(self, user_id: str) -> Sequence[HttpPusher]:
        return self._by_user.get(user_id, ())

    async def start(self) -> None:
        """Start every stored http pusher, each with what it has not delivered yet."""
        for record in await self._store.get_pushers_of_kind(HTTP):
            await self._add(record, catch_up=True)
        if self._pushers:
            logger.info("Started %d http pushers", len(self._pushers))

    async def close(self) -> None:
        for pusher in list(self._pushers.values()):
            await pusher.stop()
        self._pushers.clear()
        self._by_user.clear()
        await self._parts.client.close()

    # -- events and receipts ---------------------------------------------------------------

    async def on_event_persisted(self, written: WrittenEvent) -> None:
        """The after-persist hook: queue the event for the pushers of each user it notifies."""
        pending = written.push_actions
        if pending is None or not self._by_user:
            return
        event = written.event
        event_json: dict[str, Any] | None = None
        for row in pending.rows:
            if not row.notify or row.user_id == event.sender:
                continue
            pushers = self._by_user.get(row.user_id)
            if not pushers:
                continue
            if event_json is None:
                event_json = _with_ids(event.json, event.event_id, event.room_id)
            item = PushItem(
                written.stream_ordering,
                event.event_id,
                row.actions,
                pending.ts,
                event=event_json,
                state_group=written.state_group,
            )
            for pusher in pushers:
                pusher.enqueue(item)

    async def on_receipt(self, user_id: str) -> None:
        """A read receipt of ``user_id`` may have lowered their unread count: their pushers
        send it (Synapse's badge update), if it changed."""
        for pusher in self._by_user.get(user_id, ()):
            pusher.want_badge()

    # -- pushers added, changed and removed -----------------------------------------------

    async def pushers_changed(self, user_id: str, app_id: str, pushkey: str) -> None:
        """After ``POST /pushers/set``: follow the user's stored pushers, and those of other
        users with the same app ID and pushkey (which a set without ``append`` deletes)."""
        await self._reload(user_id)
        for other in {k[0] for k in self._pushers if k[1:] == (app_id, pushkey)} - {user_id}:
            await self._reload(other)

    async def devices_deleted(self, user_id: str, device_ids: Sequence[str]) -> None:
        """A device deletion hook: pushers go with the device (and access token) that made
        them, as in Synapse."""
        deleted = 0
        for device_id in device_ids:
            deleted += await self._store.delete_pushers_of_device(user_id, device_id)
        if deleted:
            await self._reload(user_id)

    async def _reload(self, user_id: str) -> None:
        stored = {_key(p): p for p in await self._store.get_pushers(user_id) if p.kind == HTTP}
        for pusher in list(self._by_user.get(user_id, ())):
            key = _key(pusher.record)
            if key in stored:
                pusher.record = stored.pop(key)  # new data (url, format) for what comes next
            else:
                await self._drop(key)
        for record in stored.values():
            await self._add(record, catch_up=False)

    async def _add(self, record: PusherRecord, *, catch_up: bool) -> None:
        pusher = HttpPusher(record, self._parts)
        if catch_up:
            since = self._clock.now_ms() - GIVE_UP_MS
            rows = await self._undelivered.get_notifications_after(
                record.user_id, record.last_stream_ordering, since_ts=since, limit=MAX_QUEUED
            )
            for row in rows:
                pusher.enqueue(_item(row))
            if rows:
                logger.info("Pusher %s: catching up on %d notifications", pusher.name, len(rows))
        self._pushers[_key(record)] = pusher
        self._by_user.setdefault(record.user_id, []).append(pusher)
        pusher.start()

    async def _drop(self, key: PusherKey) -> None:
        pusher = self._pushers.pop(key, None)
        if pusher is None:
            return
        others = [p for p in self._by_user.get(key[0], ()) if p is not pusher]
        if others:
            self._by_user[key[0]] = others
        else:
            self._by_user.pop(key[0], None)
        await pusher.stop()

    async def _remove(self, record: PusherRecord) -> None:
        """A pushkey the gateway rejected: "Homeservers must cease sending notification
        requests for these pushkeys and remove the associated pushers"."""
        await self._store.delete_pusher(record.user_id, record.app_id, record.pushkey)
        logger.info("Removed pusher %s (pushkey rejected)", pusher_name(record))
        await self._drop(_key(record))


def _with_ids(json: Mapping[str, Any], event_id: str, room_id: str) -> dict[str, Any]:
    """The event JSON with its ``event_id`` and ``room_id`` (not in every PDU format)."""
    event = dict(json)
    event.setdefault("event_id", event_id)
    event.setdefault("room_id", room_id)
    return event


def _item(row: NotificationRecord) -> PushItem:
    return PushItem(row.stream_ordering, row.event_id, row.actions, row.ts)
