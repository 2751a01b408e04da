"""Dehydrated devices (MSC3814, as Synapse and the Element clients use it; no spec section
yet): at most one per user, stored with its opaque ``device_data``.
"""

import json
from typing import Any

from myelin.core.canonical_json import encode_canonical_json
from myelin.storage.database import Database


class DehydratedDeviceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> tuple[str, Any] | None:
        """(device_id, device_data) of the user's dehydrated device."""
        row = await self._db.fetchrow(
            "SELECT device_id, device_data FROM dehydrated_devices WHERE user_id = $1", user_id
        )
        if row is None:
            return None
        return row["device_id"], json.loads(row["device_data"])

    async def set(self, user_id: str, device_id: str, device_data: Any) -> str | None:
        """Make this the user's dehydrated device; return the one it replaces, if another."""
        async with self._db.transaction() as txn:
            old = await txn.fetchval(
                "SELECT device_id FROM dehydrated_devices WHERE user_id = $1", user_id
            )
            await txn.execute(
                "INSERT INTO dehydrated_devices (user_id, device_id, device_data)"
                " VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE"
                " SET device_id = excluded.device_id, device_data = excluded.device_data",
                user_id,
                device_id,
                encode_canonical_json(device_data).decode("utf-8"),
            )
        return None if old is None or old == device_id else str(old)

    async def delete(self, user_id: str, device_id: str | None = None) -> str | None:
        """Forget the user's dehydrated device (only if it is ``device_id`` when given);
        return its ID."""
        async with self._db.transaction() as txn:
            old = await txn.fetchval(
                "SELECT device_id FROM dehydrated_devices WHERE user_id = $1", user_id
            )
            if old is None or (device_id is not None and old != device_id):
                return None
            await txn.execute("DELETE FROM dehydrated_devices WHERE user_id = $1", user_id)
        return str(old)
