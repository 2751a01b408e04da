"""Send-to-device messaging (spec: Client-Server API, "Send-to-Device messaging").

``PUT /sendToDevice/{eventType}/{txnId}`` queues one message per target device (``*`` means
every device of the user); a repeated transaction ID of the same device is answered without
sending again. ``/sync`` lists a device's pending messages in order of arrival, at most
``SYNC_LIMIT`` per response, and deletes them once the client syncs again with the
``next_batch`` of that response ("Server behaviour").

The to-device provider also fills the device's ``device_one_time_keys_count`` and
``device_unused_fallback_key_types`` (spec: "End-to-End Encryption", "Extensions to /sync"):
they belong to the syncing device, as the to-device messages do.
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.core.identifiers import is_valid_user_id
from myelin.services.errors import MatrixError
from myelin.services.notifier import Notifier
from myelin.services.sync.provider import SyncRequest, SyncResponse
from myelin.services.sync.token import StreamName
from myelin.storage import DeviceRecord
from myelin.storage.caches import LruCache
from myelin.storage.to_device import InboxMessage

logger = logging.getLogger(__name__)

# Devices whose acknowledged position is remembered (the least recently syncing forgotten first).
ACKNOWLEDGED_LIMIT = 100_000
# "100 messages is recommended as a reasonable limit."
SYNC_LIMIT = 100


class ToDeviceStore(Protocol):
    async def current_position(self) -> int: ...

    async def enqueue(
        self,
        deliveries: Sequence[tuple[str, str, dict[str, Any]]],
        *,
        txn_key: tuple[str, str, str] | None = None,
        now_ms: int = 0,
    ) -> int | None: ...

    async def get_messages(
        self, user_id: str, device_id: str, after: int, upto: int, limit: int
    ) -> list[InboxMessage]: ...

    async def delete_messages_upto(self, user_id: str, device_id: str, upto: int) -> int: ...

    async def delete_devices(self, user_id: str, device_ids: Sequence[str]) -> None: ...


class DeviceLister(Protocol):
    async def list_devices(self, user_id: str) -> list[DeviceRecord]: ...


class KeyCounts(Protocol):
    async def one_time_key_counts(self, user_id: str, device_id: str) -> dict[str, int]: ...

    async def unused_fallback_key_types(self, user_id: str, device_id: str) -> list[str]: ...


@dataclass
class ToDeviceService:
    server_name: str
    store: ToDeviceStore
    devices: DeviceLister
    notifier: Notifier
    clock: Clock
    # Set by the composition root: messages for another server's users (server, sender,
    # type, messages by user and device), sent as an ``m.direct_to_device`` EDU.
    send_remote: Callable[[str, str, str, dict[str, Any]], Awaitable[None]] | None = None
    # (user, device) -> the position up to which its messages were deleted by this process:
    # a /sync acknowledging no more than that writes nothing (positions only grow). The least
    # recently syncing devices are forgotten first (their next ack writes once more).
    _acknowledged: LruCache[tuple[str, str], int] = field(
        default_factory=lambda: LruCache(ACKNOWLEDGED_LIMIT), repr=False
    )

    async def send(
        self,
        sender: str,
        sender_device: str | None,
        event_type: str,
        txn_id: str,
        messages: Any,
    ) -> None:
        """Queue the messages of one ``PUT /sendToDevice`` request (idempotent per device)."""
        if not isinstance(messages, dict):
            raise MatrixError(400, "M_BAD_JSON", "messages must be an object")
        deliveries: list[tuple[str, str, dict[str, Any]]] = []
        # Messages for users of other servers, by server (the m.direct_to_device EDU).
        remote: dict[str, dict[str, Any]] = {}
        for user_id, by_device in messages.items():
            if not is_valid_user_id(user_id):
                raise MatrixError(400, "M_INVALID_PARAM", f"Invalid user ID {user_id!r}")
            if not isinstance(by_device, dict):
                raise MatrixError(400, "M_BAD_JSON", "messages must map users to objects")
            for content in by_device.values():
                if not isinstance(content, dict):
                    raise MatrixError(400, "M_BAD_JSON", "message content must be an object")
            if user_id.split(":", 1)[1] != self.server_name:
                remote.setdefault(user_id.split(":", 1)[1], {})[user_id] = by_device
                continue
            existing = {d.device_id for d in await self.devices.list_devices(user_id)}
            for device_id, content in by_device.items():
                message = {"type": event_type, "sender": sender, "content": content}
                targets = sorted(existing) if device_id == "*" else [device_id]
                deliveries.extend(
                    (user_id, target, message) for target in targets if target in existing
                )
        txn_key = (sender, sender_device or "", txn_id)
        position = await self.store.enqueue(deliveries, txn_key=txn_key, now_ms=self.clock.now_ms())
        if position is not None and deliveries:
            await self.notifier.notify(position, None, {user for user, _, _ in deliveries})
        if remote and self.send_remote is not None and position is not None:
            # Sent once per transaction ID (position is None for a retried request).
            for server, by_user in remote.items():
                await self.send_remote(server, sender, event_type, by_user)
        elif remote:
            logger.info("Not delivering to-device messages to %s: no federation", sorted(remote))

    async def current_position(self) -> int:
        return await self.store.current_position()

    async def messages_for(
        self, user_id: str, device_id: str, since: int, upto: int, limit: int = SYNC_LIMIT
    ) -> tuple[list[dict[str, Any]], int]:
        """Acknowledge everything up to ``since`` (deleting it) and return the next messages
        after it with the position they reach (``upto`` when all were returned)."""
        key = (user_id, device_id)
        if since > (self._acknowledged.get(key) or 0):
            await self.store.delete_messages_upto(user_id, device_id, since)
            self._acknowledged.put(key, max(since, self._acknowledged.get(key) or 0))
        if since >= upto:
            return [], upto
        pending = await self.store.get_messages(user_id, device_id, since, upto, limit)
        reached = pending[-1].stream_id if len(pending) >= limit else upto
        return [m.message for m in pending], reached

    async def delete_devices(self, user_id: str, device_ids: Sequence[str]) -> None:
        await self.store.delete_devices(user_id, device_ids)


@dataclass
class ToDeviceProvider:
    """The ``to_device`` stream of ``/sync`` (with the device's key counts)."""

    to_device: ToDeviceService
    keys: KeyCounts
    stream: StreamName = field(default="to_device")

    @property
    def notifier(self) -> Notifier:
        return self.to_device.notifier

    async def current_position(self) -> int:
        return await self.to_device.current_position()

    async def sync(
        self, request: SyncRequest, response: SyncResponse, since: int | None, upto: int
    ) -> int:
        device_id = request.device_id
        if device_id is None:
            return upto
        response.device_one_time_keys_count = await self.keys.one_time_key_counts(
            request.user_id, device_id
        )
        response.device_unused_fallback_key_types = await self.keys.unused_fallback_key_types(
            request.user_id, device_id
        )
        # An initial sync (or a token from before a reset) sends every pending message.
        after = 0 if since is None or since > upto else since
        events, reached = await self.to_device.messages_for(request.user_id, device_id, after, upto)
        response.to_device = events
        return reached
