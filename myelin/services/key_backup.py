"""Server-side key backups (spec: Client-Server API, "End-to-End Encryption": "Server-side
key backups" and the ``/room_keys/*`` endpoints).

Keys can only be written to the most recently created backup version (others: 403
``M_WRONG_ROOM_KEYS_VERSION`` with ``current_version``); a stored session is replaced only
by a better one (``myelin.storage.key_backup.replaces``). Every change of a version's keys
changes its ``etag``; ``count`` is the number of keys it holds.
"""

from dataclasses import dataclass
from typing import Any, Protocol

from myelin.services.errors import MatrixError
from myelin.storage.key_backup import BackedUpKey, BackupVersion

JsonDict = dict[str, Any]

__all__ = ["BackedUpKey", "KeyBackupService", "parse_key_data", "parse_version"]


class BackupStore(Protocol):
    async def create_version(self, user_id: str, algorithm: str, auth_data: Any) -> int: ...

    async def get_version(self, user_id: str, version: int | None) -> BackupVersion | None: ...

    async def update_auth_data(self, user_id: str, version: int, auth_data: Any) -> bool: ...

    async def delete_version(self, user_id: str, version: int) -> bool: ...

    async def count_keys(self, user_id: str, version: int) -> int: ...

    async def get_keys(
        self, user_id: str, version: int, room_id: str | None = None, session_id: str | None = None
    ) -> list[BackedUpKey]: ...

    async def put_keys(self, user_id: str, version: int, keys: list[BackedUpKey]) -> None: ...

    async def delete_keys(
        self, user_id: str, version: int, room_id: str | None = None, session_id: str | None = None
    ) -> None: ...


def parse_version(text: str | None) -> int:
    """A backup version as the API carries it (a string of digits); unknown ones are 404."""
    if text is None:
        raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: version")
    if not text.isdigit() or len(text) > 18:
        raise MatrixError(404, "M_NOT_FOUND", "Unknown backup version")
    return int(text)


def _not_found() -> MatrixError:
    return MatrixError(404, "M_NOT_FOUND", "Unknown backup version")


def _check_version_body(body: JsonDict) -> tuple[str, JsonDict]:
    algorithm = body.get("algorithm")
    auth_data = body.get("auth_data")
    if "algorithm" not in body or "auth_data" not in body:
        missing = "algorithm" if "algorithm" not in body else "auth_data"
        raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameter: {missing}")
    if not isinstance(algorithm, str):
        raise MatrixError(400, "M_BAD_JSON", "algorithm must be a string")
    if not isinstance(auth_data, dict):
        raise MatrixError(400, "M_BAD_JSON", "auth_data must be an object")
    return algorithm, auth_data


def parse_key_data(room_id: str, session_id: str, data: Any) -> BackedUpKey:
    """A KeyBackupData object (definitions/key_backup_data.yaml)."""
    if not isinstance(data, dict):
        raise MatrixError(400, "M_BAD_JSON", "Key backup data must be an object")
    fields = {
        "first_message_index": int,
        "forwarded_count": int,
        "is_verified": bool,
        "session_data": dict,
    }
    for name, kind in fields.items():
        if name not in data:
            raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameter: {name}")
        value = data[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise MatrixError(400, "M_BAD_JSON", f"{name} must be of type {kind.__name__}")
    if data["first_message_index"] < 0 or data["forwarded_count"] < 0:
        raise MatrixError(400, "M_BAD_JSON", "Indexes and counts must not be negative")
    return BackedUpKey(
        room_id,
        session_id,
        data["first_message_index"],
        data["forwarded_count"],
        data["is_verified"],
        data["session_data"],
    )


def key_json(key: BackedUpKey) -> JsonDict:
    return {
        "first_message_index": key.first_message_index,
        "forwarded_count": key.forwarded_count,
        "is_verified": key.is_verified,
        "session_data": key.session_data,
    }


@dataclass
class KeyBackupService:
    store: BackupStore

    async def create_version(self, user_id: str, body: JsonDict) -> str:
        algorithm, auth_data = _check_version_body(body)
        return str(await self.store.create_version(user_id, algorithm, auth_data))

    async def get_version(self, user_id: str, version: str | None) -> JsonDict:
        """The version (the latest when None) with its ``count`` and ``etag``."""
        number = None if version is None else parse_version(version)
        found = await self.store.get_version(user_id, number)
        if found is None:
            raise MatrixError(404, "M_NOT_FOUND", "No current backup version")
        return {
            "algorithm": found.algorithm,
            "auth_data": found.auth_data,
            "count": await self.store.count_keys(user_id, found.version),
            "etag": str(found.etag),
            "version": str(found.version),
        }

    async def update_version(self, user_id: str, version: str, body: JsonDict) -> None:
        number = parse_version(version)
        algorithm, auth_data = _check_version_body(body)
        if "version" in body and body["version"] != version:
            raise MatrixError(400, "M_INVALID_PARAM", "version does not match the path")
        found = await self.store.get_version(user_id, number)
        if found is None:
            raise _not_found()
        if found.algorithm != algorithm:
            raise MatrixError(400, "M_INVALID_PARAM", "Algorithm does not match")
        await self.store.update_auth_data(user_id, number, auth_data)

    async def delete_version(self, user_id: str, version: str) -> None:
        if not await self.store.delete_version(user_id, parse_version(version)):
            raise _not_found()

    async def _writable(self, user_id: str, version: str | None) -> int:
        number = parse_version(version)
        current = await self.store.get_version(user_id, None)
        if current is None or await self.store.get_version(user_id, number) is None:
            raise _not_found()
        if current.version != number:
            # "Keys can only be written to the most recently created version of the backup."
            raise MatrixError(
                403,
                "M_WRONG_ROOM_KEYS_VERSION",
                "Wrong backup version",
                current_version=str(current.version),
            )
        return number

    async def _readable(self, user_id: str, version: str | None) -> int:
        number = parse_version(version)
        if await self.store.get_version(user_id, number) is None:
            raise _not_found()
        return number

    async def _etag_and_count(self, user_id: str, version: int) -> JsonDict:
        found = await self.store.get_version(user_id, version)
        etag = "0" if found is None else str(found.etag)
        return {"etag": etag, "count": await self.store.count_keys(user_id, version)}

    async def put_keys(
        self, user_id: str, version: str | None, keys: list[BackedUpKey]
    ) -> JsonDict:
        number = await self._writable(user_id, version)
        await self.store.put_keys(user_id, number, keys)
        return await self._etag_and_count(user_id, number)

    async def get_keys(
        self,
        user_id: str,
        version: str | None,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> JsonDict:
        number = await self._readable(user_id, version)
        keys = await self.store.get_keys(user_id, number, room_id, session_id)
        if session_id is not None:
            if not keys:
                raise MatrixError(404, "M_NOT_FOUND", "No such session in the backup")
            return key_json(keys[0])
        sessions: dict[str, JsonDict] = {}
        rooms: dict[str, JsonDict] = {}
        for key in keys:
            rooms.setdefault(key.room_id, {"sessions": {}})["sessions"][key.session_id] = key_json(
                key
            )
            sessions[key.session_id] = key_json(key)
        if room_id is not None:
            return {"sessions": sessions}
        return {"rooms": rooms}

    async def delete_keys(
        self,
        user_id: str,
        version: str | None,
        room_id: str | None = None,
        session_id: str | None = None,
    ) -> JsonDict:
        number = await self._readable(user_id, version)
        await self.store.delete_keys(user_id, number, room_id, session_id)
        return await self._etag_and_count(user_id, number)
