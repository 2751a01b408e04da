"""Account data and room tags (spec: Client-Server API, "Client Config" and "Room Tagging").

One row per (user, room, type): global account data has ``room_id`` ''. Tags are the room's
``m.tag`` account data (content ``{"tags": {...}}``), changed in place by ``set_tag`` and
``remove_tag``. Every change takes the next position of the ``account_data`` stream (see
``myelin.storage.streams``) and records it on the row, so ``/sync`` sends the rows whose
``stream_id`` lies in ``(since, upto]``: only the latest content of a changed type, once.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from myelin.storage.database import Database, Row, Transaction
from myelin.storage.streams import current_position, next_position

ACCOUNT_DATA_STREAM = "account_data"
TAG_TYPE = "m.tag"

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class AccountDataRecord:
    """One account data entry; ``room_id`` is None for global account data."""

    room_id: str | None
    type: str
    content: JsonDict
    stream_id: int


def _record(row: Row) -> AccountDataRecord:
    content = orjson.loads(row["content"])
    return AccountDataRecord(
        room_id=row["room_id"] or None,
        type=row["type"],
        content=content if isinstance(content, dict) else {},
        stream_id=int(row["stream_id"]),
    )


class AccountDataStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def current_position(self) -> int:
        """The account data stream's latest committed position."""
        return await current_position(self._db, ACCOUNT_DATA_STREAM)

    async def set_account_data(
        self, user_id: str, room_id: str | None, data_type: str, content: JsonDict
    ) -> int:
        """Set the content of one type (global when ``room_id`` is None); return its position."""
        text = orjson.dumps(content).decode()
        async with self._db.transaction() as txn:
            position = await next_position(txn, ACCOUNT_DATA_STREAM)
            await _upsert(txn, user_id, room_id or "", data_type, text=text, position=position)
        return position

    async def get_account_data(
        self, user_id: str, room_id: str | None, data_type: str
    ) -> JsonDict | None:
        row = await self._db.fetchrow(
            "SELECT room_id, type, content, stream_id FROM account_data"
            " WHERE user_id = $1 AND room_id = $2 AND type = $3",
            user_id,
            room_id or "",
            data_type,
        )
        return None if row is None else _record(row).content

    async def get_changes(
        self, user_id: str, after: int | None, upto: int
    ) -> list[AccountDataRecord]:
        """The user's entries changed in ``(after, upto]`` (all up to ``upto`` for None)."""
        rows = await self._db.fetch(
            "SELECT room_id, type, content, stream_id FROM account_data"
            " WHERE user_id = $1 AND stream_id > $2 AND stream_id <= $3"
            " ORDER BY stream_id",
            user_id,
            after if after is not None else -1,
            upto,
        )
        return [_record(row) for row in rows]

    async def get_tags(self, user_id: str, room_id: str) -> JsonDict:
        """The room's tags: ``{tag: {"order": ...}}`` (empty when there are none)."""
        content = await self.get_account_data(user_id, room_id, TAG_TYPE)
        tags = content.get("tags") if content is not None else None
        return dict(tags) if isinstance(tags, dict) else {}

    async def set_tag(self, user_id: str, room_id: str, tag: str, value: JsonDict) -> int:
        """Add or replace one tag; return the new position."""

        def change(tags: JsonDict) -> bool:
            tags[tag] = value
            return True

        position = await self._change_tags(user_id, room_id, change)
        assert position is not None
        return position

    async def remove_tag(self, user_id: str, room_id: str, tag: str) -> int | None:
        """Remove one tag; return the new position (None when the tag was not there)."""

        def change(tags: JsonDict) -> bool:
            return tags.pop(tag, None) is not None

        return await self._change_tags(user_id, room_id, change)

    async def _change_tags(
        self, user_id: str, room_id: str, change: Callable[[JsonDict], bool]
    ) -> int | None:
        try:
            return await self._change_tags_txn(user_id, room_id, change)
        except _UnchangedError:
            return None

    async def _change_tags_txn(
        self, user_id: str, room_id: str, change: Callable[[JsonDict], bool]
    ) -> int:
        async with self._db.transaction() as txn:
            # The position first: its counter lock serialises every account data writer, so
            # this read-modify-write cannot lose a concurrent tag change.
            position = await next_position(txn, ACCOUNT_DATA_STREAM)
            text = await txn.fetchval(
                "SELECT content FROM account_data"
                " WHERE user_id = $1 AND room_id = $2 AND type = $3",
                user_id,
                room_id,
                TAG_TYPE,
            )
            content: Any = orjson.loads(text) if text is not None else {}
            if not isinstance(content, dict):
                content = {}
            tags = content.get("tags")
            tags = dict(tags) if isinstance(tags, dict) else {}
            if not change(tags):
                # Nothing changed: roll back, so the position is not used.
                raise _UnchangedError
            content = {**content, "tags": tags}
            await _upsert(
                txn,
                user_id,
                room_id,
                TAG_TYPE,
                text=orjson.dumps(content).decode(),
                position=position,
            )
        return position


class _UnchangedError(Exception):
    """Raised inside a transaction to roll it back when nothing changed."""


async def _upsert(
    txn: Transaction, user_id: str, room_id: str, data_type: str, *, text: str, position: int
) -> None:
    await txn.execute(
        "INSERT INTO account_data (user_id, room_id, type, content, stream_id)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, room_id, type)"
        " DO UPDATE SET content = excluded.content, stream_id = excluded.stream_id",
        user_id,
        room_id,
        data_type,
        text,
        position,
    )
