"""Received EDUs (spec: Server-Server API, "EDUs", "Typing Notifications", "Receipts",
"Presence", "Device Management" (``m.device_list_update``, ``m.signing_key_update``) and
"Send-to-device messaging" (``m.direct_to_device``)).

Small adapters from each EDU to the service that handles the same thing for local clients. An
EDU about a user must come from that user's server; an EDU about a room is subject to the room's
server ACL (``acl_allows``). Malformed EDUs are ignored: EDUs get no response.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from myelin.core.identifiers import server_name_of
from myelin.services.errors import MatrixError

logger = logging.getLogger("myelin.federation.edus")

AclCheck = Callable[[str, str], Awaitable[bool]]  # (room_id, origin) -> allowed


class Typing(Protocol):
    async def set_typing(
        self, requester: str, room_id: str, user_id: str, typing: bool, timeout_ms: int | None
    ) -> None: ...


class Receipts(Protocol):
    async def send_receipt(
        self, user_id: str, room_id: str, receipt_type: str, event_id: str, body: Mapping[str, Any]
    ) -> None: ...


class Presence(Protocol):
    async def set_status(self, requester: str, user_id: str, body: Mapping[str, Any]) -> None: ...


class ToDevice(Protocol):
    async def send(
        self, sender: str, sender_device: str | None, event_type: str, txn_id: str, messages: Any
    ) -> None: ...


class DeviceLists(Protocol):
    async def mark_changed(self, user_id: str) -> int: ...


class RemoteDevices(Protocol):
    async def on_device_list_update(self, origin: str, content: Mapping[str, Any]) -> None: ...

    async def on_signing_key_update(self, origin: str, content: Mapping[str, Any]) -> None: ...


def _from_origin(user_id: Any, origin: str) -> bool:
    try:
        return isinstance(user_id, str) and server_name_of(user_id) == origin
    except ValueError:
        return False


@dataclass
class EduHandler:
    """Dispatches received EDUs by ``edu_type``; services left None ignore their EDUs."""

    acl_allows: AclCheck
    typing: Typing | None = None
    receipts: Receipts | None = None
    presence: Presence | None = None
    to_device: ToDevice | None = None
    device_lists: DeviceLists | None = None
    # The remote device list cache (its updates chained by prev_id, resynced when broken).
    remote_devices: RemoteDevices | None = None

    async def handle(self, origin: str, edu: Any) -> None:
        if not isinstance(edu, dict) or not isinstance(edu.get("content"), dict):
            return
        edu_type, content = edu.get("edu_type"), edu["content"]
        try:
            if edu_type == "m.typing":
                await self._typing(origin, content)
            elif edu_type == "m.receipt":
                await self._receipts(origin, content)
            elif edu_type == "m.presence":
                await self._presence(origin, content)
            elif edu_type == "m.direct_to_device":
                await self._to_device(origin, content)
            elif edu_type in ("m.device_list_update", "m.signing_key_update"):
                await self._device_list(origin, content, edu_type)
        except MatrixError as e:
            logger.info("Ignoring %s EDU from %s: %s", edu_type, origin, e.message)

    async def _typing(self, origin: str, content: Mapping[str, Any]) -> None:
        room_id, user_id = content.get("room_id"), content.get("user_id")
        typing = content.get("typing")
        if self.typing is None or not isinstance(room_id, str) or not isinstance(typing, bool):
            return
        if not _from_origin(user_id, origin) or not await self.acl_allows(room_id, origin):
            return
        timeout = content.get("timeout")
        timeout = timeout if isinstance(timeout, int) and not isinstance(timeout, bool) else None
        await self.typing.set_typing(str(user_id), room_id, str(user_id), typing, timeout)

    async def _receipts(self, origin: str, content: Mapping[str, Any]) -> None:
        if self.receipts is None:
            return
        for room_id, by_type in content.items():
            if not isinstance(by_type, dict) or not await self.acl_allows(room_id, origin):
                continue
            # Only m.read receipts travel over federation (m.read.private never leaves).
            by_user = by_type.get("m.read")
            if not isinstance(by_user, dict):
                continue
            for user_id, receipt in by_user.items():
                if not _from_origin(user_id, origin) or not isinstance(receipt, dict):
                    continue
                event_ids = receipt.get("event_ids")
                data = receipt.get("data")
                body: dict[str, Any] = {}
                if isinstance(data, dict) and isinstance(data.get("thread_id"), str):
                    body["thread_id"] = data["thread_id"]
                if isinstance(event_ids, list):
                    for event_id in event_ids:
                        if isinstance(event_id, str):
                            await self.receipts.send_receipt(
                                user_id, room_id, "m.read", event_id, body
                            )

    async def _presence(self, origin: str, content: Mapping[str, Any]) -> None:
        pushes = content.get("push")
        if self.presence is None or not isinstance(pushes, list):
            return
        for push in pushes:
            if not isinstance(push, dict) or not _from_origin(push.get("user_id"), origin):
                continue
            user_id = str(push["user_id"])
            body = {"presence": push.get("presence")}
            if isinstance(push.get("status_msg"), str):
                body["status_msg"] = push["status_msg"]
            await self.presence.set_status(user_id, user_id, body)

    async def _to_device(self, origin: str, content: Mapping[str, Any]) -> None:
        sender, event_type = content.get("sender"), content.get("type")
        message_id = content.get("message_id")
        if self.to_device is None or not _from_origin(sender, origin):
            return
        if not isinstance(event_type, str) or not isinstance(message_id, str):
            return
        # The message_id makes a resent EDU idempotent, as a client's transaction ID does.
        await self.to_device.send(
            str(sender), None, event_type, message_id, content.get("messages")
        )

    async def _device_list(self, origin: str, content: Mapping[str, Any], edu_type: str) -> None:
        user_id = content.get("user_id")
        if not _from_origin(user_id, origin):
            return
        if self.remote_devices is not None:
            if edu_type == "m.device_list_update":
                await self.remote_devices.on_device_list_update(origin, content)
            else:
                await self.remote_devices.on_signing_key_update(origin, content)
            return
        if self.device_lists is None:
            return
        # Local clients sharing a room with the user learn to query its keys again.
        await self.device_lists.mark_changed(str(user_id))
