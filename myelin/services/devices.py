"""Devices of local users (spec: Client-Server API, "Device Management" module, and
"Relationship between access tokens and devices").

A device is created at login or registration (with the client's ``device_id`` or a generated
one) and owns the access and refresh tokens issued for it: deleting the device deletes them.
"""

import secrets
import string
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.services.errors import MatrixError
from myelin.storage import DeviceRecord

# Generated device IDs: ten uppercase letters, as Synapse makes them.
_DEVICE_ID_ALPHABET = string.ascii_uppercase
_DEVICE_ID_LENGTH = 10
# Device IDs chosen by clients: opaque strings, bounded like other opaque identifiers.
MAX_DEVICE_ID_LENGTH = 255
# Device display names: Synapse's limit.
MAX_DISPLAY_NAME_LENGTH = 100
# last_seen is written at most this often per device (not a database write per request).
LAST_SEEN_INTERVAL_MS = 60_000


class DeviceStore(Protocol):
    async def create_device(
        self, user_id: str, device_id: str, *, display_name: str | None, created_ts: int
    ) -> bool: ...

    async def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None: ...

    async def list_devices(self, user_id: str) -> list[DeviceRecord]: ...

    async def set_display_name(
        self, user_id: str, device_id: str, display_name: str | None
    ) -> bool: ...

    async def update_last_seen(
        self,
        user_id: str,
        device_id: str,
        *,
        ts: int,
        ip: str | None,
        user_agent: str | None = None,
    ) -> bool: ...

    async def delete_device(self, user_id: str, device_id: str) -> bool: ...

    async def delete_devices(self, user_id: str, device_ids: Sequence[str]) -> int: ...


# Called with (user_id, device_ids) after devices are deleted: end-to-end encryption forgets
# their keys and pending to-device messages and tells the user's peers.
DeviceDeletionHook = Callable[[str, Sequence[str]], Awaitable[None]]
DeviceRenameHook = Callable[[str, str], Awaitable[None]]


def generate_device_id() -> str:
    return "".join(secrets.choice(_DEVICE_ID_ALPHABET) for _ in range(_DEVICE_ID_LENGTH))


def check_device_id(device_id: str) -> None:
    """Refuse device IDs a client may not choose (``M_INVALID_PARAM``, 400)."""
    if not device_id or len(device_id) > MAX_DEVICE_ID_LENGTH:
        raise MatrixError(
            400,
            "M_INVALID_PARAM",
            f"device_id must be 1 to {MAX_DEVICE_ID_LENGTH} characters",
        )


def check_display_name(display_name: str) -> None:
    if len(display_name) > MAX_DISPLAY_NAME_LENGTH:
        raise MatrixError(
            400,
            "M_INVALID_PARAM",
            f"display_name must be at most {MAX_DISPLAY_NAME_LENGTH} characters",
        )


def device_json(device: DeviceRecord) -> dict[str, Any]:
    """A device as the Client-Server API shows it (definitions/client_device.yaml)."""
    body: dict[str, Any] = {"device_id": device.device_id}
    if device.display_name is not None:
        body["display_name"] = device.display_name
    if device.last_seen_ip is not None:
        body["last_seen_ip"] = device.last_seen_ip
    if device.last_seen_ts is not None:
        body["last_seen_ts"] = device.last_seen_ts
    return body


@dataclass
class DeviceService:
    devices: DeviceStore
    clock: Clock
    deletion_hooks: list[DeviceDeletionHook] = field(default_factory=list)
    # Called after a device's display name changed (device list updates: the name is part
    # of what /keys/query and other servers show).
    rename_hooks: list[DeviceRenameHook] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._last_seen_written: dict[tuple[str, str], int] = {}

    async def ensure_device(
        self, user_id: str, device_id: str | None, display_name: str | None
    ) -> str:
        """The device to issue tokens for: the client's (created unless it exists; then the
        display name is ignored) or a new one with a generated ID."""
        if display_name is not None:
            check_display_name(display_name)
        now = self.clock.now_ms()
        if device_id is not None:
            check_device_id(device_id)
            await self.devices.create_device(
                user_id, device_id, display_name=display_name, created_ts=now
            )
            return device_id
        while True:
            device_id = generate_device_id()
            if await self.devices.create_device(
                user_id, device_id, display_name=display_name, created_ts=now
            ):
                return device_id

    async def list_devices(self, user_id: str) -> list[DeviceRecord]:
        return await self.devices.list_devices(user_id)

    async def get_device(self, user_id: str, device_id: str) -> DeviceRecord:
        device = await self.devices.get_device(user_id, device_id)
        if device is None:
            raise MatrixError(404, "M_NOT_FOUND", "No such device")
        return device

    async def set_display_name(self, user_id: str, device_id: str, display_name: str) -> None:
        check_display_name(display_name)
        if not await self.devices.set_display_name(user_id, device_id, display_name):
            raise MatrixError(404, "M_NOT_FOUND", "No such device")
        for hook in self.rename_hooks:
            await hook(user_id, device_id)

    async def has_device(self, user_id: str, device_id: str) -> bool:
        return await self.devices.get_device(user_id, device_id) is not None

    async def require_device(self, user_id: str, device_id: str) -> None:
        if await self.devices.get_device(user_id, device_id) is None:
            raise MatrixError(404, "M_NOT_FOUND", "No such device")

    async def delete_devices(self, user_id: str, device_ids: Sequence[str]) -> int:
        """Delete devices (and by cascade their tokens); unknown IDs are no error."""
        for device_id in device_ids:
            self._last_seen_written.pop((user_id, device_id), None)
        unique = list(dict.fromkeys(device_ids))
        deleted = await self.devices.delete_devices(user_id, unique)
        if unique:
            for hook in self.deletion_hooks:
                await hook(user_id, unique)
        return deleted

    async def delete_all_devices(self, user_id: str, *, except_device_id: str | None) -> int:
        ids = [
            d.device_id
            for d in await self.devices.list_devices(user_id)
            if d.device_id != except_device_id
        ]
        return await self.delete_devices(user_id, ids)

    async def seen(self, user_id: str, device_id: str, ip: str | None = None) -> None:
        """Record that the device made a request; written at most once a minute per device."""
        now = self.clock.now_ms()
        key = (user_id, device_id)
        last = self._last_seen_written.get(key)
        if last is not None and now - last < LAST_SEEN_INTERVAL_MS:
            return
        self._last_seen_written[key] = now
        if len(self._last_seen_written) > 100_000:
            self._last_seen_written.clear()
        await self.devices.update_last_seen(user_id, device_id, ts=now, ip=ip)
