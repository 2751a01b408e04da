"""Devices of local users (spec: Client-Server API, "Device management").

Deleting a device deletes its access and refresh tokens (foreign keys ON DELETE CASCADE).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from myelin.storage.caches import caches_of
from myelin.storage.database import Database, Row, chunks, in_list


@dataclass(frozen=True)
class DeviceRecord:
    user_id: str
    device_id: str
    display_name: str | None
    created_ts: int
    last_seen_ts: int | None
    last_seen_ip: str | None
    last_seen_user_agent: str | None


_COLUMNS = (
    "user_id, device_id, display_name, created_ts, last_seen_ts, last_seen_ip, last_seen_user_agent"
)


def _device(row: Row) -> DeviceRecord:
    return DeviceRecord(
        user_id=row["user_id"],
        device_id=row["device_id"],
        display_name=row["display_name"],
        created_ts=int(row["created_ts"]),
        last_seen_ts=row["last_seen_ts"],
        last_seen_ip=row["last_seen_ip"],
        last_seen_user_agent=row["last_seen_user_agent"],
    )


class DeviceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_device(
        self, user_id: str, device_id: str, *, display_name: str | None, created_ts: int
    ) -> bool:
        """Add the device; False (and no change) if the user already has one with this ID."""
        count = await self._db.execute(
            "INSERT INTO devices (user_id, device_id, display_name, created_ts)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device_id) DO NOTHING",
            user_id,
            device_id,
            display_name,
            created_ts,
        )
        return count > 0

    async def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM devices WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
        )
        return None if row is None else _device(row)

    async def list_devices(self, user_id: str) -> list[DeviceRecord]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY device_id", user_id
        )
        return [_device(row) for row in rows]

    async def set_display_name(
        self, user_id: str, device_id: str, display_name: str | None
    ) -> bool:
        count = await self._db.execute(
            "UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
            display_name,
        )
        return count > 0

    async def update_last_seen(
        self,
        user_id: str,
        device_id: str,
        *,
        ts: int,
        ip: str | None,
        user_agent: str | None = None,
    ) -> bool:
        count = await self._db.execute(
            "UPDATE devices SET last_seen_ts = $3, last_seen_ip = $4, last_seen_user_agent = $5"
            " WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
            ts,
            ip,
            user_agent,
        )
        return count > 0

    async def delete_device(self, user_id: str, device_id: str) -> bool:
        """Delete the device and (by cascade) its tokens."""
        count = await self._db.execute(
            "DELETE FROM devices WHERE user_id = $1 AND device_id = $2", user_id, device_id
        )
        caches_of(self._db).forget_tokens()
        return count > 0

    async def delete_devices(self, user_id: str, device_ids: Sequence[str]) -> int:
        """Delete several devices in one transaction; return how many existed."""
        total = 0
        async with self._db.transaction() as txn:
            for part in chunks(list(device_ids)):
                total += await txn.execute(
                    f"DELETE FROM devices WHERE user_id = $1 AND device_id IN"
                    f" ({in_list(2, len(part))})",
                    user_id,
                    *part,
                )
        caches_of(self._db).forget_tokens()
        return total
