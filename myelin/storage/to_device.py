"""The to-device inbox (spec: Client-Server API, "Send-to-Device messaging": "Server
behaviour").

Messages wait per device at their position in the ``to_device`` stream until the device
acknowledges them by syncing with a ``since`` at or past that position; they survive restarts.
Transaction IDs of ``PUT /sendToDevice`` are remembered per sending device for idempotency.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from myelin.core.canonical_json import encode_canonical_json
from myelin.storage.database import Database, Transaction, chunks, in_list
from myelin.storage.streams import current_position, next_position

TO_DEVICE_STREAM = "to_device"


@dataclass(frozen=True)
class InboxMessage:
    stream_id: int
    message: dict[str, Any]


class ToDeviceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def current_position(self) -> int:
        return await current_position(self._db, TO_DEVICE_STREAM)

    async def enqueue(
        self,
        deliveries: Sequence[tuple[str, str, dict[str, Any]]],
        *,
        txn_key: tuple[str, str, str] | None = None,
        now_ms: int = 0,
    ) -> int | None:
        """Queue messages (user, device, message) in order; return the last position.

        With ``txn_key`` (user, device, txn_id) of the sender, nothing is queued and None is
        returned when that transaction was already seen, atomically with the queueing.
        """

        async def store(txn: Transaction) -> int | None:
            if txn_key is not None:
                inserted = await txn.execute(
                    "INSERT INTO to_device_txns (user_id, device_id, txn_id, created_ts)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device_id, txn_id)"
                    " DO NOTHING",
                    *txn_key,
                    now_ms,
                )
                if inserted == 0:
                    return None
            position = await current_position(txn, TO_DEVICE_STREAM)
            for user_id, device_id, message in deliveries:
                position = await next_position(txn, TO_DEVICE_STREAM)
                await txn.execute(
                    "INSERT INTO to_device_inbox (user_id, device_id, stream_id, message_json)"
                    " VALUES ($1, $2, $3, $4)",
                    user_id,
                    device_id,
                    position,
                    encode_canonical_json(message).decode("utf-8"),
                )
            return position

        return await self._db.run_in_transaction(store)

    async def get_messages(
        self, user_id: str, device_id: str, after: int, upto: int, limit: int
    ) -> list[InboxMessage]:
        rows = await self._db.fetch(
            "SELECT stream_id, message_json FROM to_device_inbox"
            " WHERE user_id = $1 AND device_id = $2 AND stream_id > $3 AND stream_id <= $4"
            " ORDER BY stream_id LIMIT $5",
            user_id,
            device_id,
            after,
            upto,
            limit,
        )
        return [
            InboxMessage(int(row["stream_id"]), json.loads(row["message_json"])) for row in rows
        ]

    async def delete_messages_upto(self, user_id: str, device_id: str, upto: int) -> int:
        """Delete the device's messages at or below ``upto`` (acknowledged)."""
        return await self._db.execute(
            "DELETE FROM to_device_inbox WHERE user_id = $1 AND device_id = $2 AND stream_id <= $3",
            user_id,
            device_id,
            upto,
        )

    async def delete_devices(self, user_id: str, device_ids: Sequence[str]) -> None:
        """Drop the pending messages of deleted devices."""
        async with self._db.transaction() as txn:
            for part in chunks(list(device_ids)):
                await txn.execute(
                    "DELETE FROM to_device_inbox WHERE user_id = $1"
                    f" AND device_id IN ({in_list(2, len(part))})",
                    user_id,
                    *part,
                )
