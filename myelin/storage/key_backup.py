"""Server-side key backups (spec: Client-Server API, "End-to-End Encryption": "Server-side
key backups").

Versions are per user and numbered 1, 2, ...; a deleted version keeps its row (marked
deleted) so that its number is never reused. A version's ``etag`` grows with every change of
its keys.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from myelin.core.canonical_json import encode_canonical_json
from myelin.storage.database import Database, Transaction


@dataclass(frozen=True)
class BackupVersion:
    user_id: str
    version: int
    algorithm: str
    auth_data: dict[str, Any]
    etag: int


@dataclass(frozen=True)
class BackedUpKey:
    room_id: str
    session_id: str
    first_message_index: int
    forwarded_count: int
    is_verified: bool
    session_data: dict[str, Any]


def _dump(value: Any) -> str:
    return encode_canonical_json(value).decode("utf-8")


class KeyBackupStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_version(self, user_id: str, algorithm: str, auth_data: Any) -> int:
        async def create(txn: Transaction) -> int:
            last = await txn.fetchval(
                "SELECT MAX(version) FROM e2e_room_keys_versions WHERE user_id = $1", user_id
            )
            version = 1 if last is None else int(last) + 1
            await txn.execute(
                "INSERT INTO e2e_room_keys_versions (user_id, version, algorithm, auth_data)"
                " VALUES ($1, $2, $3, $4)",
                user_id,
                version,
                algorithm,
                _dump(auth_data),
            )
            return version

        return await self._db.run_in_transaction(create)

    async def get_version(self, user_id: str, version: int | None) -> BackupVersion | None:
        """The version (the latest when None), unless deleted."""
        if version is None:
            row = await self._db.fetchrow(
                "SELECT version, algorithm, auth_data, etag FROM e2e_room_keys_versions"
                " WHERE user_id = $1 AND NOT deleted ORDER BY version DESC LIMIT 1",
                user_id,
            )
        else:
            row = await self._db.fetchrow(
                "SELECT version, algorithm, auth_data, etag FROM e2e_room_keys_versions"
                " WHERE user_id = $1 AND version = $2 AND NOT deleted",
                user_id,
                version,
            )
        if row is None:
            return None
        return BackupVersion(
            user_id,
            int(row["version"]),
            row["algorithm"],
            json.loads(row["auth_data"]),
            int(row["etag"]),
        )

    async def update_auth_data(self, user_id: str, version: int, auth_data: Any) -> bool:
        count = await self._db.execute(
            "UPDATE e2e_room_keys_versions SET auth_data = $3"
            " WHERE user_id = $1 AND version = $2 AND NOT deleted",
            user_id,
            version,
            _dump(auth_data),
        )
        return count > 0

    async def delete_version(self, user_id: str, version: int) -> bool:
        async def delete(txn: Transaction) -> bool:
            count = await txn.execute(
                "UPDATE e2e_room_keys_versions SET deleted = TRUE"
                " WHERE user_id = $1 AND version = $2 AND NOT deleted",
                user_id,
                version,
            )
            await txn.execute(
                "DELETE FROM e2e_room_keys WHERE user_id = $1 AND version = $2",
                user_id,
                version,
            )
            return count > 0

        return await self._db.run_in_transaction(delete)

    async def count_keys(self, user_id: str, version: int) -> int:
        value = await self._db.fetchval(
            "SELECT COUNT(*) FROM e2e_room_keys WHERE user_id = $1 AND version = $2",
            user_id,
            version,
        )
        return int(value or 0)

    async def get_keys(
        self, user_id: str, version: int, room_id: str | None = None, session_id: str | None = None
    ) -> list[BackedUpKey]:
        where, args = _keys_where(user_id, version, room_id, session_id)
        rows = await self._db.fetch(
            "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified,"
            f" session_data FROM e2e_room_keys WHERE {where} ORDER BY room_id, session_id",
            *args,
        )
        return [
            BackedUpKey(
                row["room_id"],
                row["session_id"],
                int(row["first_message_index"]),
                int(row["forwarded_count"]),
                bool(row["is_verified"]),
                json.loads(row["session_data"]),
            )
            for row in rows
        ]

    async def put_keys(self, user_id: str, version: int, keys: Sequence[BackedUpKey]) -> None:
        """Store keys that win over the stored ones (``keeps`` decides), bumping the etag
        when anything changed; all in one transaction."""

        async def store(txn: Transaction) -> None:
            changed = False
            for key in keys:
                row = await txn.fetchrow(
                    "SELECT first_message_index, forwarded_count, is_verified FROM e2e_room_keys"
                    " WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4",
                    user_id,
                    version,
                    key.room_id,
                    key.session_id,
                )
                if row is not None and not replaces(
                    key,
                    bool(row["is_verified"]),
                    int(row["first_message_index"]),
                    int(row["forwarded_count"]),
                ):
                    continue
                await txn.execute(
                    "INSERT INTO e2e_room_keys (user_id, version, room_id, session_id,"
                    " first_message_index, forwarded_count, is_verified, session_data)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    " ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET"
                    " first_message_index = excluded.first_message_index,"
                    " forwarded_count = excluded.forwarded_count,"
                    " is_verified = excluded.is_verified, session_data = excluded.session_data",
                    user_id,
                    version,
                    key.room_id,
                    key.session_id,
                    key.first_message_index,
                    key.forwarded_count,
                    key.is_verified,
                    _dump(key.session_data),
                )
                changed = True
            if changed:
                await _bump_etag(txn, user_id, version)

        await self._db.run_in_transaction(store)

    async def delete_keys(
        self, user_id: str, version: int, room_id: str | None = None, session_id: str | None = None
    ) -> None:
        async def delete(txn: Transaction) -> None:
            where, args = _keys_where(user_id, version, room_id, session_id)
            if await txn.execute(f"DELETE FROM e2e_room_keys WHERE {where}", *args):
                await _bump_etag(txn, user_id, version)

        await self._db.run_in_transaction(delete)


def _keys_where(
    user_id: str, version: int, room_id: str | None, session_id: str | None
) -> tuple[str, list[Any]]:
    """The condition selecting a version's keys: all, a room's (``room_id``), or one session
    (``room_id`` and ``session_id``; a session without its room selects the whole version)."""
    where = "user_id = $1 AND version = $2"
    args: list[Any] = [user_id, version]
    if room_id is not None:
        where += " AND room_id = $3"
        args.append(room_id)
        if session_id is not None:
            where += " AND session_id = $4"
            args.append(session_id)
    return where, args


def replaces(new: BackedUpKey, is_verified: bool, first_index: int, forwarded: int) -> bool:
    """Whether ``new`` replaces a stored key ("Server-side key backups"): the verified one
    wins; then the lower first_message_index; then the lower forwarded_count."""
    if new.is_verified != is_verified:
        return new.is_verified
    if new.first_message_index != first_index:
        return new.first_message_index < first_index
    return new.forwarded_count < forwarded


async def _bump_etag(txn: Transaction, user_id: str, version: int) -> None:
    await txn.execute(
        "UPDATE e2e_room_keys_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2",
        user_id,
        version,
    )
