"""End-to-end encryption keys (spec: Client-Server API, "End-to-End Encryption": "Uploading
keys", "One-time and fallback keys", "Tracking the device list for a user", "Cross-signing"
and the ``/keys/*`` endpoints).

Remote users' keys are asked of their servers (``remote``: ``/user/keys/query`` and
``/user/keys/claim`` over federation); unreachable servers are listed in ``failures``. Changes
of a local user's devices and cross-signing keys reach the servers sharing a room with the
user as ``m.device_list_update`` / ``m.signing_key_update`` EDUs through ``remote`` too.
"""

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.core.canonical_json import encode_canonical_json
from myelin.core.errors import ProtocolError, SignatureError
from myelin.core.identifiers import is_valid_user_id
from myelin.core.signing import VerifyKey, verify_signature
from myelin.services.device_lists import DeviceListService
from myelin.services.errors import MatrixError
from myelin.services.federation.device_updates import RemoteDeviceLists
from myelin.storage import DeviceRecord
from myelin.storage.e2e_keys import OneTimeKey, Signature

JsonDict = dict[str, Any]

CROSS_SIGNING_TYPES = ("master", "self_signing", "user_signing")
# The one-time key algorithm Olm uses; always counted (0 when none), as Synapse does, since
# some clients only upload keys when they see it.
SIGNED_CURVE25519 = "signed_curve25519"


class KeyStore(Protocol):
    async def get_device_keys(self, user_id: str, device_id: str) -> JsonDict | None: ...

    async def get_devices_with_keys(
        self, user_ids: Sequence[str]
    ) -> dict[str, dict[str, JsonDict | None]]: ...

    async def set_device_keys(self, user_id: str, device_id: str, keys: JsonDict) -> None: ...

    async def get_one_time_keys(
        self, user_id: str, device_id: str, key_ids: Any
    ) -> dict[tuple[str, str], Any]: ...

    async def add_one_time_keys(
        self, user_id: str, device_id: str, keys: Sequence[OneTimeKey], uploaded_ts: int
    ) -> None: ...

    async def count_one_time_keys(self, user_id: str, device_id: str) -> dict[str, int]: ...

    async def claim_one_time_key(
        self, user_id: str, device_id: str, algorithm: str
    ) -> OneTimeKey | None: ...

    async def set_fallback_keys(
        self, user_id: str, device_id: str, keys: Sequence[OneTimeKey]
    ) -> None: ...

    async def unused_fallback_key_types(self, user_id: str, device_id: str) -> list[str]: ...

    async def get_cross_signing_keys(self, user_id: str) -> dict[str, JsonDict]: ...

    async def set_cross_signing_keys(
        self, user_id: str, keys: Mapping[str, tuple[str, JsonDict]]
    ) -> None: ...

    async def add_signatures(self, signatures: Sequence[Signature]) -> None: ...

    async def get_signatures(self, target_user_ids: Sequence[str]) -> list[Signature]: ...

    async def delete_device_keys(self, user_id: str, device_ids: Sequence[str]) -> None: ...


class DeviceLookup(Protocol):
    async def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None: ...

    async def list_devices(self, user_id: str) -> list[DeviceRecord]: ...


def _bad(message: str, errcode: str = "M_BAD_JSON") -> MatrixError:
    return MatrixError(400, errcode, message)


def _server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1]


def _ed25519_key(obj: JsonDict, key_id: str) -> VerifyKey | None:
    keys = obj.get("keys")
    text = keys.get(key_id) if isinstance(keys, dict) else None
    if not isinstance(text, str):
        return None
    try:
        return VerifyKey.decode(key_id, text)
    except SignatureError:
        return None


def _without_signatures(obj: Mapping[str, Any]) -> JsonDict:
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}


def _split_key_id(name: str) -> tuple[str, str]:
    algorithm, sep, key_id = name.partition(":")
    if not sep or not algorithm or not key_id:
        raise _bad(f"Key name {name!r} is not <algorithm>:<key_id>", "M_INVALID_PARAM")
    return algorithm, key_id


def _check_key_map(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{name} must be an object")
    for key in value.values():
        if not isinstance(key, (str, dict)):
            raise _bad(f"Keys in {name} must be strings or objects")
    return value


@dataclass
class E2EKeyService:
    server_name: str
    keys: KeyStore
    devices: DeviceLookup
    device_lists: DeviceListService
    clock: Clock
    # Federation (None: remote users' servers are reported in ``failures``).
    remote: RemoteDeviceLists | None = None
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict, init=False, repr=False)

    async def _devices_changed(self, user_id: str, device_ids: Sequence[str]) -> None:
        """Record a change of the user's devices; tell the servers sharing a room with the
        user, one ``m.device_list_update`` per device chained by ``prev_id``."""
        if self.remote is None or _server_of(user_id) != self.server_name or not device_ids:
            await self.device_lists.mark_changed(user_id)
            return
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        for device_id in device_ids:
            async with lock:
                prev_id = await self.device_lists.last_change(user_id)
                stream_id = await self.device_lists.mark_changed(user_id)
                keys = await self._device_entry(user_id, device_id)
                await self.remote.device_updated(user_id, device_id, keys, stream_id, prev_id)

    async def _device_entry(self, user_id: str, device_id: str) -> JsonDict | None:
        found = await self.query_keys(user_id, {user_id: [device_id]})
        entry = found["device_keys"].get(user_id, {}).get(device_id)
        return entry if isinstance(entry, dict) else None

    async def _signing_keys_changed(self, user_id: str) -> None:
        await self.device_lists.mark_changed(user_id)
        if self.remote is None or _server_of(user_id) != self.server_name:
            return
        found = await self.query_keys(user_id, {user_id: []})
        await self.remote.signing_keys_updated(
            user_id,
            found["master_keys"].get(user_id),
            found["self_signing_keys"].get(user_id),
        )

    # POST /keys/upload

    async def upload_keys(self, user_id: str, device_id: str, body: JsonDict) -> dict[str, int]:
        """Store the device's identity, one-time and fallback keys; return the counts."""
        device_keys = body.get("device_keys")
        one_time = _check_key_map(body.get("one_time_keys", {}), "one_time_keys")
        fallback = _check_key_map(body.get("fallback_keys", {}), "fallback_keys")
        if device_keys is not None:
            self._check_device_keys(user_id, device_id, device_keys)
        stored = await self.keys.get_device_keys(user_id, device_id)
        signer = device_keys if device_keys is not None else stored
        signing_key = None if signer is None else _ed25519_key(signer, f"ed25519:{device_id}")
        parsed_one_time = self._parse_keys(user_id, one_time, signing_key)
        parsed_fallback = self._parse_keys(user_id, fallback, signing_key)
        algorithms = [k.algorithm for k in parsed_fallback]
        if len(set(algorithms)) != len(algorithms):
            raise _bad("At most one fallback key per algorithm", "M_INVALID_PARAM")
        # A one-time key ID already in use with a different key is refused (as Synapse
        # does): keys are immutable once uploaded.
        existing = await self.keys.get_one_time_keys(
            user_id, device_id, [(k.algorithm, k.key_id) for k in parsed_one_time]
        )
        for key in parsed_one_time:
            old = existing.get((key.algorithm, key.key_id))
            if old is not None and encode_canonical_json(old) != encode_canonical_json(key.key):
                raise _bad(
                    f"One-time key {key.algorithm}:{key.key_id} already exists with another value",
                    "M_INVALID_PARAM",
                )
        if device_keys is not None and device_keys != stored:
            await self.keys.set_device_keys(user_id, device_id, device_keys)
            await self._devices_changed(user_id, [device_id])
        if parsed_one_time:
            await self.keys.add_one_time_keys(
                user_id, device_id, parsed_one_time, self.clock.now_ms()
            )
        if parsed_fallback:
            await self.keys.set_fallback_keys(user_id, device_id, parsed_fallback)
        return await self.one_time_key_counts(user_id, device_id)

    def _check_device_keys(self, user_id: str, device_id: str, keys: Any) -> None:
        if not isinstance(keys, dict):
            raise _bad("device_keys must be an object")
        # "Must match the user ID / device ID used when logging in."
        if keys.get("user_id") != user_id:
            raise _bad("device_keys.user_id does not match the authenticated user")
        if keys.get("device_id") != device_id:
            raise _bad("device_keys.device_id does not match the authenticated device")
        algorithms = keys.get("algorithms")
        if not isinstance(algorithms, list) or not all(isinstance(a, str) for a in algorithms):
            raise _bad("device_keys.algorithms must be a list of strings")
        key_map = keys.get("keys")
        if not isinstance(key_map, dict) or not all(isinstance(v, str) for v in key_map.values()):
            raise _bad("device_keys.keys must map key IDs to strings")
        if not isinstance(keys.get("signatures"), dict):
            raise _bad("device_keys.signatures must be an object")
        # "The JSON object must include the public part of the device's Ed25519 key, and
        # must be signed by that key."
        verify_key = _ed25519_key(keys, f"ed25519:{device_id}")
        if verify_key is None:
            raise _bad("device_keys lacks the device's Ed25519 key", "M_INVALID_PARAM")
        try:
            verify_signature(keys, user_id, verify_key)
        except ProtocolError as e:
            raise _bad(f"device_keys: {e}", "M_INVALID_SIGNATURE") from e

    def _parse_keys(
        self, user_id: str, keys: dict[str, Any], signing_key: VerifyKey | None
    ) -> list[OneTimeKey]:
        parsed = []
        for name, key in keys.items():
            algorithm, key_id = _split_key_id(name)
            if isinstance(key, dict) and signing_key is not None:
                # Signed keys carry the device's signature; checked when the device's key
                # is known (uploaded now or before).
                try:
                    verify_signature(key, user_id, signing_key)
                except ProtocolError as e:
                    raise _bad(f"Key {name}: {e}", "M_INVALID_SIGNATURE") from e
            parsed.append(OneTimeKey(algorithm, key_id, key))
        return parsed

    async def one_time_key_counts(self, user_id: str, device_id: str) -> dict[str, int]:
        counts = await self.keys.count_one_time_keys(user_id, device_id)
        counts.setdefault(SIGNED_CURVE25519, 0)
        return counts

    async def unused_fallback_key_types(self, user_id: str, device_id: str) -> list[str]:
        return await self.keys.unused_fallback_key_types(user_id, device_id)

    # POST /keys/query

    async def query_keys(
        self, requester: str, device_keys: Any, timeout_ms: int | None = None
    ) -> JsonDict:
        if not isinstance(device_keys, dict):
            raise _bad("device_keys must be an object")
        wanted: dict[str, list[str]] = {}
        remote: dict[str, dict[str, list[str]]] = {}
        failures: JsonDict = {}
        for user_id, device_ids in device_keys.items():
            if not is_valid_user_id(user_id):
                raise _bad(f"Invalid user ID {user_id!r}", "M_INVALID_PARAM")
            if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
                raise _bad("device_keys must map user IDs to lists of device IDs")
            if _server_of(user_id) != self.server_name:
                if self.remote is not None:
                    remote.setdefault(_server_of(user_id), {})[user_id] = device_ids
                else:
                    failures[_server_of(user_id)] = {
                        "status": 503,
                        "message": "Federation is not available",
                    }
                continue
            wanted[user_id] = device_ids
        users = sorted(wanted)
        by_user = await self.keys.get_devices_with_keys(users)
        signatures = await self.keys.get_signatures(users)
        devices_out: JsonDict = {}
        names = {
            (d.user_id, d.device_id): d.display_name
            for user_id in users
            for d in await self.devices.list_devices(user_id)
        }
        master_keys: JsonDict = {}
        self_signing: JsonDict = {}
        user_signing: JsonDict = {}
        for user_id in users:
            only = set(wanted[user_id])
            out: JsonDict = {}
            for device_id, keys in by_user.get(user_id, {}).items():
                if keys is None or (only and device_id not in only):
                    continue
                entry = _merge_signatures(keys, user_id, device_id, signatures, requester)
                name = names.get((user_id, device_id))
                unsigned = dict(entry.get("unsigned") or {})
                if name is not None:
                    unsigned["device_display_name"] = name
                entry["unsigned"] = unsigned
                out[device_id] = entry
            devices_out[user_id] = out
            cross = await self.keys.get_cross_signing_keys(user_id)
            for key_type, target in (
                ("master", master_keys),
                ("self_signing", self_signing),
                ("user_signing", user_signing),
            ):
                key = cross.get(key_type)
                # A user-signing key is only shown to its owner.
                if key is None or (key_type == "user_signing" and user_id != requester):
                    continue
                public = _public_key(key)
                target[user_id] = _merge_signatures(key, user_id, public, signatures, requester)
        if remote and self.remote is not None:
            answer = await self.remote.query(remote, timeout_ms)
            devices_out.update(answer.device_keys)
            self_signing.update(answer.self_signing_keys)
            failures.update(answer.failures)
            # The requester's own signatures (user-signing key) of remote master keys.
            remote_signatures = await self.keys.get_signatures(sorted(answer.master_keys))
            for user_id, key in answer.master_keys.items():
                master_keys[user_id] = _merge_signatures(
                    key, user_id, _public_key(key), remote_signatures, requester
                )
        result: JsonDict = {
            "device_keys": devices_out,
            "failures": failures,
            "master_keys": master_keys,
            "self_signing_keys": self_signing,
        }
        if user_signing:
            result["user_signing_keys"] = user_signing
        return result

    # POST /keys/claim

    async def claim_keys(self, one_time_keys: Any, timeout_ms: int | None = None) -> JsonDict:
        if not isinstance(one_time_keys, dict):
            raise _bad("one_time_keys must be an object")
        claimed: JsonDict = {}
        failures: JsonDict = {}
        remote: dict[str, dict[str, dict[str, str]]] = {}
        requests: list[tuple[str, str, str]] = []
        for user_id, by_device in one_time_keys.items():
            if not is_valid_user_id(user_id):
                raise _bad(f"Invalid user ID {user_id!r}", "M_INVALID_PARAM")
            if not isinstance(by_device, dict) or not all(
                isinstance(a, str) for a in by_device.values()
            ):
                raise _bad("one_time_keys must map user IDs to device IDs to algorithms")
            if _server_of(user_id) != self.server_name:
                if self.remote is not None:
                    remote.setdefault(_server_of(user_id), {})[user_id] = by_device
                else:
                    failures[_server_of(user_id)] = {
                        "status": 503,
                        "message": "Federation is not available",
                    }
                continue
            requests.extend((user_id, d, a) for d, a in by_device.items())
        for user_id, device_id, algorithm in requests:
            key = await self.keys.claim_one_time_key(user_id, device_id, algorithm)
            if key is not None:
                claimed.setdefault(user_id, {}).setdefault(device_id, {})[
                    f"{key.algorithm}:{key.key_id}"
                ] = key.key
        if remote and self.remote is not None:
            remote_claimed, remote_failures = await self.remote.claim(remote, timeout_ms)
            claimed.update(remote_claimed)
            failures.update(remote_failures)
        return {"one_time_keys": claimed, "failures": failures}

    # Cross-signing: POST /keys/device_signing/upload

    async def cross_signing_needs_auth(self, user_id: str, body: JsonDict) -> bool:
        """Whether the upload needs user-interactive authentication: not when the user has
        no master key yet, nor when every key given equals the one stored (a retry)."""
        stored = await self.keys.get_cross_signing_keys(user_id)
        if "master" not in stored:
            return False
        for key_type in CROSS_SIGNING_TYPES:
            new = body.get(f"{key_type}_key")
            if new is None:
                continue
            old = stored.get(key_type)
            if old is None or not isinstance(new, dict) or _comparable(old) != _comparable(new):
                return True
        return False

    async def upload_cross_signing_keys(self, user_id: str, body: JsonDict) -> None:
        stored = await self.keys.get_cross_signing_keys(user_id)
        new: dict[str, tuple[str, JsonDict]] = {}
        for key_type in CROSS_SIGNING_TYPES:
            key = body.get(f"{key_type}_key")
            if key is None:
                continue
            new[key_type] = (self._check_cross_signing_key(user_id, key_type, key), key)
        master = new["master"][1] if "master" in new else stored.get("master")
        if master is None and new:
            raise _bad("No master signing key is available", "M_MISSING_PARAM")
        if master is not None:
            master_key = _verify_key_of(master)
            for key_type in ("self_signing", "user_signing"):
                if key_type not in new:
                    continue
                # "Must be signed by the accompanying master signing key, or by the user's
                # most recently uploaded master signing key."
                try:
                    verify_signature(new[key_type][1], user_id, master_key)
                except ProtocolError as e:
                    raise _bad(f"{key_type}_key: {e}", "M_INVALID_SIGNATURE") from e
        # "The public key of one of the keys is the same as one of the user's device IDs":
        # forbidden, device IDs and cross-signing keys share one namespace.
        device_ids = {d.device_id for d in await self.devices.list_devices(user_id)}
        for key_type, (public, _) in new.items():
            if public in device_ids:
                raise MatrixError(
                    403, "M_FORBIDDEN", f"The {key_type} key's public key is a device ID"
                )
        if not new:
            return
        await self.keys.set_cross_signing_keys(user_id, new)
        await self._signing_keys_changed(user_id)

    def _check_cross_signing_key(self, user_id: str, key_type: str, key: Any) -> str:
        if not isinstance(key, dict):
            raise _bad(f"{key_type}_key must be an object")
        if key.get("user_id") != user_id:
            raise _bad(f"{key_type}_key.user_id is not the user's", "M_INVALID_PARAM")
        usage = key.get("usage")
        if not isinstance(usage, list) or key_type not in usage:
            raise _bad(f"{key_type}_key.usage must include {key_type!r}", "M_INVALID_PARAM")
        keys = key.get("keys")
        if not isinstance(keys, dict) or len(keys) != 1:
            raise _bad(f"{key_type}_key.keys must hold exactly one key", "M_INVALID_PARAM")
        ((key_id, public),) = keys.items()
        if not isinstance(public, str) or key_id != f"ed25519:{public}":
            raise _bad(f"{key_type}_key: key ID must be ed25519:<public key>", "M_INVALID_PARAM")
        try:
            VerifyKey.decode(key_id, public)
        except SignatureError as e:
            raise _bad(f"{key_type}_key: {e}", "M_INVALID_PARAM") from e
        if "signatures" in key and not isinstance(key["signatures"], dict):
            raise _bad(f"{key_type}_key.signatures must be an object")
        return public

    # Cross-signing: POST /keys/signatures/upload

    async def upload_signatures(self, requester: str, body: JsonDict) -> JsonDict:
        """Store the valid new signatures; return ``failures`` (user -> key ID -> error)."""
        failures: JsonDict = {}
        accepted: list[Signature] = []
        changed_users: set[str] = set()
        own = await self.keys.get_cross_signing_keys(requester)
        for user_id, by_key in body.items():
            if not isinstance(by_key, dict):
                raise _bad("Signatures must map user IDs to objects")
            for key_id, signed in by_key.items():
                try:
                    found = await self._check_signed(requester, own, user_id, key_id, signed)
                except MatrixError as e:
                    failures.setdefault(user_id, {})[key_id] = {
                        "errcode": e.errcode,
                        "error": e.message,
                    }
                    continue
                if found:
                    accepted.extend(found)
                    changed_users.add(user_id)
        await self.keys.add_signatures(accepted)
        for user_id in sorted(changed_users):
            cross = {
                _public_key(k) for k in (await self.keys.get_cross_signing_keys(user_id)).values()
            }
            targets = sorted({s.target_key for s in accepted if s.target_user_id == user_id})
            devices = [t for t in targets if t not in cross]
            if user_id != requester:
                # Another user's master key signed by the requester's user-signing key.
                await self.device_lists.mark_changed(user_id)
                continue
            if devices:
                await self._devices_changed(user_id, devices)
            if len(devices) < len(targets):
                await self._signing_keys_changed(user_id)
        return failures

    async def _check_signed(
        self, requester: str, own: dict[str, JsonDict], user_id: str, key_id: str, signed: Any
    ) -> list[Signature]:
        if not isinstance(signed, dict):
            raise _bad("A signed object must be an object")
        if not is_valid_user_id(user_id):
            raise MatrixError(404, "M_NOT_FOUND", "Not a user")
        remote_user = _server_of(user_id) != self.server_name
        if remote_user and (self.remote is None or user_id == requester):
            raise MatrixError(404, "M_NOT_FOUND", "Not a local user")
        # The object signed: a device's keys, or one of the user's cross-signing keys (of a
        # user of another server: their master key as their server has it; the signature
        # stays here, shown to the signer only, as Synapse does).
        target: JsonDict | None
        if remote_user:
            cross = await self._remote_cross_signing_keys(user_id)
        else:
            cross = await self.keys.get_cross_signing_keys(user_id)
        by_public = {_public_key(k): (t, k) for t, k in cross.items()}
        if key_id in by_public:
            key_type, target = by_public[key_id]
            if user_id != requester and key_type != "master":
                raise MatrixError(
                    403, "M_FORBIDDEN", "Only another user's master key may be signed"
                )
        elif user_id == requester:
            target = await self.keys.get_device_keys(user_id, key_id)
        else:
            raise MatrixError(403, "M_FORBIDDEN", "Only another user's master key may be signed")
        if target is None:
            raise MatrixError(404, "M_NOT_FOUND", f"Unknown key {key_id}")
        # "The signed JSON object must match the key previously uploaded or retrieved for
        # the given key ID, with the exception of the signatures property."
        if _comparable(target) != _comparable(signed):
            raise _bad("The signed object does not match the stored key", "M_INVALID_PARAM")
        sigs = signed.get("signatures")
        mine = sigs.get(requester) if isinstance(sigs, dict) else None
        if not isinstance(mine, dict):
            raise _bad("No signature by the requester", "M_INVALID_SIGNATURE")
        old = (target.get("signatures") or {}).get(requester) or {}
        found: list[Signature] = []
        for signer_key_id, signature in mine.items():
            if signer_key_id in old:
                continue
            signer = await self._signer_key(requester, own, signer_key_id, user_id)
            try:
                verify_signature(
                    {**signed, "signatures": {requester: {signer_key_id: signature}}},
                    requester,
                    signer,
                )
            except ProtocolError as e:
                raise _bad(f"Invalid signature: {e}", "M_INVALID_SIGNATURE") from e
            found.append(Signature(user_id, key_id, requester, signer_key_id, signature))
        return found

    async def _remote_cross_signing_keys(self, user_id: str) -> dict[str, JsonDict]:
        assert self.remote is not None
        answer = await self.remote.query({_server_of(user_id): {user_id: []}})
        found: dict[str, JsonDict] = {}
        if user_id in answer.master_keys:
            found["master"] = answer.master_keys[user_id]
        if user_id in answer.self_signing_keys:
            found["self_signing"] = answer.self_signing_keys[user_id]
        return found

    async def _signer_key(
        self, requester: str, own: dict[str, JsonDict], signer_key_id: str, target_user: str
    ) -> VerifyKey:
        """The requester's key that made a signature: their self-signing key (on their
        devices), user-signing key (on others' master keys), master key, or a device key."""
        allowed = ("self_signing", "master") if target_user == requester else ("user_signing",)
        for key_type in allowed:
            key = own.get(key_type)
            if key is not None and f"ed25519:{_public_key(key)}" == signer_key_id:
                return _verify_key_of(key)
        if target_user == requester and signer_key_id.startswith("ed25519:"):
            device = await self.keys.get_device_keys(requester, signer_key_id[len("ed25519:") :])
            device_key = None if device is None else _ed25519_key(device, signer_key_id)
            if device_key is not None:
                return device_key
        raise _bad(f"Unknown signing key {signer_key_id}", "M_INVALID_SIGNATURE")

    async def device_renamed(self, user_id: str, device_id: str) -> None:
        """A device's display name changed: an update for a device with keys (a device
        without keys is not in anyone's device list yet)."""
        if await self.keys.get_device_keys(user_id, device_id) is not None:
            await self._devices_changed(user_id, [device_id])

    # Devices going away

    async def delete_devices(self, user_id: str, device_ids: Sequence[str]) -> None:
        """Forget the keys of deleted devices and tell the user's peers."""
        await self.keys.delete_device_keys(user_id, device_ids)
        await self._devices_changed(user_id, device_ids)


def _public_key(key: Mapping[str, Any]) -> str:
    keys = key.get("keys")
    if isinstance(keys, dict) and keys:
        key_id = next(iter(keys))
        return str(key_id).partition(":")[2]
    return ""


def _verify_key_of(key: Mapping[str, Any]) -> VerifyKey:
    public = _public_key(key)
    return VerifyKey.decode(f"ed25519:{public}", public)


def _comparable(obj: Mapping[str, Any]) -> bytes:
    return encode_canonical_json(_without_signatures(obj))


def _merge_signatures(
    obj: JsonDict, user_id: str, key: str, signatures: Sequence[Signature], requester: str
) -> JsonDict:
    """``obj`` with the uploaded signatures on it added. A signature by another user (their
    user-signing key on this master key) is only shown to that user and to the key's owner."""
    merged = dict(obj)
    sigs = {signer: dict(by) for signer, by in (obj.get("signatures") or {}).items()}
    for s in signatures:
        if s.target_user_id != user_id or s.target_key != key:
            continue
        if s.signer_user_id not in (user_id, requester):
            continue
        sigs.setdefault(s.signer_user_id, {})[s.signer_key_id] = s.signature
    merged["signatures"] = sigs
    return merged
