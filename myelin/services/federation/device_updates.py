"""End-to-end encryption across servers (spec: Server-Server API, "Device Management"
(``m.device_list_update``, ``GET /user/devices/{userId}``), "End-to-End Encryption"
(``POST /user/keys/query``, ``POST /user/keys/claim``, ``m.signing_key_update``)).

Outbound: a change of a local user's device (new keys, new signatures, deletion) becomes an
``m.device_list_update`` EDU for every other server sharing a room with the user, with the
update's ``stream_id`` and the ``prev_id`` of the user's previous update; a change of the
user's cross-signing keys becomes an ``m.signing_key_update`` EDU.

Inbound: the device lists of remote users we share a room with are cached. An update whose
``prev_id`` are all known is applied to the cache; otherwise (the chain is broken, or the user
was not cached) the whole list is fetched again with ``GET /user/devices`` ("resync"). Either
way local clients hear of the change through ``device_lists.changed``.

The cache lives in memory (empty after a restart, when queries go to the remote server again).
Client ``/keys/query`` for a remote user is answered from a complete cached list while we share
a room with the user (the updates keep it current), otherwise by asking the user's server;
``/keys/claim`` always asks (one-time keys are consumed there).
"""

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from myelin.core.identifiers import server_name_of
from myelin.federation.client import (
    FederationClient,
    FederationError,
    HttpResponseError,
    NotRetryingDestinationError,
    quote_segment,
)

logger = logging.getLogger("myelin.federation.devices")

JsonDict = dict[str, Any]

FEDERATION_V1 = "/_matrix/federation/v1"
# Stream IDs remembered per remote user for the prev_id chain check.
MAX_SEEN_IDS = 64
# The spec's default timeout of client /keys/query and /keys/claim (milliseconds).
DEFAULT_TIMEOUT_MS = 10_000


class DeviceListTracker(Protocol):
    async def mark_changed(self, user_id: str) -> int: ...

    async def users_sharing_rooms(self, user_id: str) -> set[str]: ...

    async def rooms_of(self, user_id: str) -> set[str]: ...


class EduSender(Protocol):
    def permits(self, server: str) -> bool: ...

    async def send_edu(self, edu_type: str, content: Any, destinations: Sequence[str]) -> None: ...


@dataclass
class RemoteUser:
    """What we hold of a remote user's devices and cross-signing keys."""

    complete: bool = False  # filled by a resync (every device known)
    stream_id: int | None = None
    seen: list[int] = field(default_factory=list)
    devices: dict[str, JsonDict] = field(default_factory=dict)
    master_key: JsonDict | None = None
    self_signing_key: JsonDict | None = None


@dataclass
class KeyQueryAnswer:
    device_keys: dict[str, JsonDict] = field(default_factory=dict)
    master_keys: JsonDict = field(default_factory=dict)
    self_signing_keys: JsonDict = field(default_factory=dict)
    failures: JsonDict = field(default_factory=dict)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _of_server(user_id: Any, server: str) -> bool:
    try:
        return isinstance(user_id, str) and server_name_of(user_id) == server
    except ValueError:
        return False


def _failure(error: Exception) -> JsonDict:
    if isinstance(error, HttpResponseError):
        return {"status": error.status, "message": str(error)}
    if isinstance(error, NotRetryingDestinationError):
        return {"status": 503, "message": "Not ready for retry"}
    return {"status": 503, "message": str(error) or type(error).__name__}


def _device_keys_of(user_id: str, device_id: str, keys: Any) -> JsonDict | None:
    """``keys`` when it is a device keys object of ``user_id``'s ``device_id``."""
    if not isinstance(keys, dict):
        return None
    if keys.get("user_id") != user_id or keys.get("device_id") != device_id:
        return None
    return keys


def _cross_signing_key_of(user_id: str, key: Any) -> JsonDict | None:
    if not isinstance(key, dict) or key.get("user_id") != user_id:
        return None
    return key


class RemoteDeviceLists:
    def __init__(
        self,
        *,
        server_name: str,
        client: FederationClient,
        sender: EduSender,
        tracker: DeviceListTracker,
    ) -> None:
        self._server_name = server_name
        self._client = client
        self._sender = sender
        self._tracker = tracker
        self._users: dict[str, RemoteUser] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, user_id: str) -> asyncio.Lock:
        return self._locks.setdefault(user_id, asyncio.Lock())

    def cached(self, user_id: str) -> RemoteUser | None:
        return self._users.get(user_id)

    # -- outbound updates ---------------------------------------------------------------------

    async def _destinations(self, user_id: str) -> list[str]:
        """The other servers with a user sharing a room with ``user_id``."""
        servers: set[str] = set()
        for other in await self._tracker.users_sharing_rooms(user_id):
            with contextlib.suppress(ValueError):
                servers.add(server_name_of(other))
        servers.discard(self._server_name)
        return sorted(s for s in servers if self._sender.permits(s))

    async def device_updated(
        self,
        user_id: str,
        device_id: str,
        keys: JsonDict | None,
        stream_id: int,
        prev_id: int | None,
    ) -> None:
        """Send ``m.device_list_update`` for a local user's device (``keys`` None: deleted)."""
        destinations = await self._destinations(user_id)
        if not destinations:
            return
        content: JsonDict = {
            "user_id": user_id,
            "device_id": device_id,
            "stream_id": stream_id,
            # "The IDs of the previous device list updates for this user, if any."
            "prev_id": [] if prev_id is None else [prev_id],
        }
        if keys is None:
            content["deleted"] = True
        else:
            name = (keys.get("unsigned") or {}).get("device_display_name")
            if isinstance(name, str):
                content["device_display_name"] = name
            content["keys"] = {k: v for k, v in keys.items() if k != "unsigned"}
        await self._sender.send_edu("m.device_list_update", content, destinations)

    async def signing_keys_updated(
        self, user_id: str, master_key: JsonDict | None, self_signing_key: JsonDict | None
    ) -> None:
        """Send ``m.signing_key_update`` with a local user's current cross-signing keys."""
        destinations = await self._destinations(user_id)
        if not destinations:
            return
        content: JsonDict = {"user_id": user_id}
        if master_key is not None:
            content["master_key"] = master_key
        if self_signing_key is not None:
            content["self_signing_key"] = self_signing_key
        await self._sender.send_edu("m.signing_key_update", content, destinations)

    # -- inbound updates ----------------------------------------------------------------------

    async def on_device_list_update(self, origin: str, content: Mapping[str, Any]) -> None:
        """Apply a received ``m.device_list_update`` (its sender's server is ``origin``)."""
        user_id, device_id = content.get("user_id"), content.get("device_id")
        stream_id, prev_ids = content.get("stream_id"), content.get("prev_id", [])
        if not _of_server(user_id, origin) or not isinstance(device_id, str):
            return
        assert isinstance(user_id, str)
        if not _is_int(stream_id) or not isinstance(prev_ids, list):
            return
        async with self._lock(user_id):
            known = self._users.get(user_id)
            if known is not None and stream_id in known.seen:
                return  # a repeated update
            tracked = bool(await self._tracker.rooms_of(user_id))
            chained = (
                known is not None
                and known.complete
                and bool(prev_ids)
                and all(_is_int(p) and p in known.seen for p in prev_ids)
            )
            if chained:
                assert known is not None
                self._apply(known, user_id, device_id, content)
            elif tracked:
                # "If the server has not seen a prev_id it should resync the list with
                # GET /user/devices."
                await self._resync(origin, user_id)
            else:
                self._users.pop(user_id, None)
        await self._tracker.mark_changed(user_id)

    def _apply(
        self, known: RemoteUser, user_id: str, device_id: str, content: Mapping[str, Any]
    ) -> None:
        stream_id = int(content["stream_id"])
        if content.get("deleted") is True:
            known.devices.pop(device_id, None)
        else:
            keys = _device_keys_of(user_id, device_id, content.get("keys"))
            if keys is not None:
                entry = dict(keys)
                name = content.get("device_display_name")
                if isinstance(name, str):
                    entry["unsigned"] = {"device_display_name": name}
                known.devices[device_id] = entry
            elif "keys" not in content:
                # A device without keys yet: the next update brings them.
                known.devices.pop(device_id, None)
        known.stream_id = max(stream_id, known.stream_id or stream_id)
        known.seen = [*known.seen, stream_id][-MAX_SEEN_IDS:]

    async def _resync(self, server: str, user_id: str) -> None:
        path = f"{FEDERATION_V1}/user/devices/{quote_segment(user_id)}"
        try:
            body = await self._client.get_json(server, path, timeout_s=10)
        except FederationError as e:
            logger.info("Resyncing %s's devices from %s failed: %s", user_id, server, e)
            self._users.pop(user_id, None)
            return
        fresh = self._parse_devices(user_id, body)
        if fresh is None:
            self._users.pop(user_id, None)
            return
        self._users[user_id] = fresh

    def _parse_devices(self, user_id: str, body: Any) -> RemoteUser | None:
        if not isinstance(body, dict) or body.get("user_id") != user_id:
            return None
        stream_id, devices = body.get("stream_id"), body.get("devices")
        if not isinstance(stream_id, int) or isinstance(stream_id, bool):
            return None
        if not isinstance(devices, list):
            return None
        known = RemoteUser(complete=True, stream_id=stream_id, seen=[stream_id])
        for device in devices:
            if not isinstance(device, dict) or not isinstance(device.get("device_id"), str):
                continue
            device_id = device["device_id"]
            keys = _device_keys_of(user_id, device_id, device.get("keys"))
            if keys is None:
                continue
            entry = dict(keys)
            name = device.get("device_display_name")
            if isinstance(name, str):
                entry["unsigned"] = {"device_display_name": name}
            known.devices[device_id] = entry
        known.master_key = _cross_signing_key_of(user_id, body.get("master_key"))
        known.self_signing_key = _cross_signing_key_of(user_id, body.get("self_signing_key"))
        return known

    async def on_signing_key_update(self, origin: str, content: Mapping[str, Any]) -> None:
        """Apply a received ``m.signing_key_update``."""
        user_id = content.get("user_id")
        if not _of_server(user_id, origin):
            return
        assert isinstance(user_id, str)
        async with self._lock(user_id):
            known = self._users.get(user_id)
            if known is not None:
                master = _cross_signing_key_of(user_id, content.get("master_key"))
                self_signing = _cross_signing_key_of(user_id, content.get("self_signing_key"))
                if master is not None:
                    known.master_key = master
                if self_signing is not None:
                    known.self_signing_key = self_signing
        await self._tracker.mark_changed(user_id)

    # -- queries ------------------------------------------------------------------------------

    async def query(
        self, wanted: Mapping[str, Mapping[str, Sequence[str]]], timeout_ms: int | None = None
    ) -> KeyQueryAnswer:
        """Device and cross-signing keys of remote users, by server: user -> device IDs
        (empty: all devices)."""
        answer = KeyQueryAnswer()
        timeout_s = (DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms) / 1000
        pending: dict[str, dict[str, list[str]]] = {}
        for server, users in wanted.items():
            for user_id, device_ids in users.items():
                known = await self._usable_cache(user_id)
                if known is None:
                    pending.setdefault(server, {})[user_id] = list(device_ids)
                    continue
                only = set(device_ids)
                answer.device_keys[user_id] = {
                    d: k for d, k in known.devices.items() if not only or d in only
                }
                if known.master_key is not None:
                    answer.master_keys[user_id] = known.master_key
                if known.self_signing_key is not None:
                    answer.self_signing_keys[user_id] = known.self_signing_key
        await asyncio.gather(
            *(self._query_server(s, u, timeout_s, answer) for s, u in pending.items())
        )
        return answer

    async def _usable_cache(self, user_id: str) -> RemoteUser | None:
        known = self._users.get(user_id)
        if known is None or not known.complete:
            return None
        if not await self._tracker.rooms_of(user_id):
            # No room shared any more: updates stop coming, so the cache would go stale.
            self._users.pop(user_id, None)
            return None
        return known

    async def _query_server(
        self, server: str, users: dict[str, list[str]], timeout_s: float, answer: KeyQueryAnswer
    ) -> None:
        try:
            body = await self._client.post_json(
                server,
                f"{FEDERATION_V1}/user/keys/query",
                {"device_keys": users},
                timeout_s=timeout_s,
            )
        except FederationError as e:
            answer.failures[server] = _failure(e)
            return
        if not isinstance(body, dict):
            answer.failures[server] = {"status": 502, "message": "Invalid response"}
            return
        devices = body.get("device_keys")
        devices = devices if isinstance(devices, dict) else {}
        for user_id in users:
            by_device = devices.get(user_id)
            if not isinstance(by_device, dict):
                continue
            answer.device_keys[user_id] = {
                d: k for d, k in by_device.items() if _device_keys_of(user_id, d, k) is not None
            }
        for name, target in (
            ("master_keys", answer.master_keys),
            ("self_signing_keys", answer.self_signing_keys),
        ):
            keys = body.get(name)
            if not isinstance(keys, dict):
                continue
            for user_id in users:
                key = _cross_signing_key_of(user_id, keys.get(user_id))
                if key is not None:
                    target[user_id] = key

    async def claim(
        self, wanted: Mapping[str, Mapping[str, Mapping[str, str]]], timeout_ms: int | None = None
    ) -> tuple[JsonDict, JsonDict]:
        """Claim one-time keys of remote users, by server: user -> device -> algorithm;
        return (claimed keys by user and device, failures by server)."""
        claimed: JsonDict = {}
        failures: JsonDict = {}
        timeout_s = (DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms) / 1000

        async def one(server: str, users: Mapping[str, Mapping[str, str]]) -> None:
            try:
                body = await self._client.post_json(
                    server,
                    f"{FEDERATION_V1}/user/keys/claim",
                    {"one_time_keys": {u: dict(d) for u, d in users.items()}},
                    timeout_s=timeout_s,
                )
            except FederationError as e:
                failures[server] = _failure(e)
                return
            keys = body.get("one_time_keys") if isinstance(body, dict) else None
            if not isinstance(keys, dict):
                failures[server] = {"status": 502, "message": "Invalid response"}
                return
            for user_id, by_device in keys.items():
                if user_id not in users or not isinstance(by_device, dict):
                    continue
                for device_id, by_key in by_device.items():
                    if device_id in users[user_id] and isinstance(by_key, dict):
                        claimed.setdefault(user_id, {})[device_id] = by_key

        await asyncio.gather(*(one(s, u) for s, u in wanted.items()))
        return claimed, failures
