"""Dehydrated devices (MSC3814 as Synapse and the Element clients use it; no spec section
yet): a device kept on the server, with its keys, that receives to-device messages while the
user has no device online; a new login fetches those messages and then replaces it.

``PUT`` creates the device (replacing, and deleting, the previous dehydrated device) with its
keys; ``GET`` returns its ID and opaque ``device_data``; ``DELETE`` deletes it; its events
endpoint pages through its to-device messages, deleting those acknowledged by ``next_batch``.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from myelin.services.devices import check_device_id, check_display_name
from myelin.services.e2e_keys import E2EKeyService
from myelin.services.errors import MatrixError
from myelin.services.to_device import ToDeviceService
from myelin.storage import DeviceRecord

JsonDict = dict[str, Any]

EVENTS_LIMIT = 100


class DehydratedStore(Protocol):
    async def get(self, user_id: str) -> tuple[str, Any] | None: ...

    async def set(self, user_id: str, device_id: str, device_data: Any) -> str | None: ...

    async def delete(self, user_id: str, device_id: str | None = None) -> str | None: ...


class Devices(Protocol):
    async def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None: ...

    async def create_device(
        self, user_id: str, device_id: str, *, display_name: str | None, created_ts: int
    ) -> bool: ...


DeleteDevices = Callable[[str, Sequence[str]], Awaitable[Any]]


def _no_device() -> MatrixError:
    return MatrixError(404, "M_NOT_FOUND", "No dehydrated device available")


@dataclass
class DehydratedDeviceService:
    store: DehydratedStore
    devices: Devices
    delete_devices: DeleteDevices
    keys: E2EKeyService
    to_device: ToDeviceService
    now_ms: Callable[[], int]

    async def put(self, user_id: str, body: JsonDict) -> str:
        device_id = body.get("device_id")
        device_data = body.get("device_data")
        if device_id is None or device_data is None:
            missing = "device_id" if device_id is None else "device_data"
            raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameter: {missing}")
        if not isinstance(device_id, str) or not isinstance(device_data, dict):
            raise MatrixError(
                400, "M_BAD_JSON", "device_id must be a string, device_data an object"
            )
        check_device_id(device_id)
        name = body.get("initial_device_display_name")
        if name is not None:
            if not isinstance(name, str):
                raise MatrixError(400, "M_BAD_JSON", "initial_device_display_name must be a string")
            check_display_name(name)
        current = await self.store.get(user_id)
        is_current = current is not None and current[0] == device_id
        if not is_current and await self.devices.get_device(user_id, device_id) is not None:
            raise MatrixError(400, "M_INVALID_PARAM", "A device with this ID already exists")
        await self.devices.create_device(
            user_id, device_id, display_name=name, created_ts=self.now_ms()
        )
        replaced = await self.store.set(user_id, device_id, device_data)
        if replaced is not None:
            await self.delete_devices(user_id, [replaced])
        keys: JsonDict = {
            k: body[k] for k in ("device_keys", "one_time_keys", "fallback_keys") if k in body
        }
        if keys:
            await self.keys.upload_keys(user_id, device_id, keys)
        return device_id

    async def get(self, user_id: str) -> JsonDict:
        found = await self.store.get(user_id)
        if found is None:
            raise _no_device()
        return {"device_id": found[0], "device_data": found[1]}

    async def delete(self, user_id: str) -> str:
        device_id = await self.store.delete(user_id)
        if device_id is None:
            raise _no_device()
        await self.delete_devices(user_id, [device_id])
        return device_id

    async def events(self, user_id: str, device_id: str, next_batch: Any) -> JsonDict:
        found = await self.store.get(user_id)
        if found is None or found[0] != device_id:
            raise MatrixError(
                403, "M_FORBIDDEN", "You may only fetch your dehydrated device's events"
            )
        since = 0
        if next_batch is not None:
            if not isinstance(next_batch, str) or not next_batch.isdigit() or len(next_batch) > 18:
                raise MatrixError(400, "M_INVALID_PARAM", "Invalid next_batch")
            since = int(next_batch)
        upto = await self.to_device.current_position()
        events, reached = await self.to_device.messages_for(
            user_id, device_id, min(since, upto), upto, EVENTS_LIMIT
        )
        return {"events": events, "next_batch": str(max(reached, since))}

    async def forget(self, user_id: str, device_ids: Sequence[str]) -> None:
        """A deleted device stops being the dehydrated one."""
        found = await self.store.get(user_id)
        if found is not None and found[0] in device_ids:
            await self.store.delete(user_id, found[0])
