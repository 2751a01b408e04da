"""Persisted presence (spec: Client-Server API, "Presence").

The last state each user set, with its position in the ``presence`` stream (what ``/sync``
pages by), so that presence survives restarts and sync tokens stay valid.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from myelin.storage.database import Database, Row, chunks, in_list
from myelin.storage.streams import current_position, next_position

PRESENCE_STREAM = "presence"


@dataclass(frozen=True)
class PresenceRecord:
    user_id: str
    state: str
    status_msg: str | None
    last_active_ts: int
    currently_active: bool
    stream_id: int


_COLUMNS = "user_id, state, status_msg, last_active_ts, currently_active, stream_id"


def _record(row: Row) -> PresenceRecord:
    return PresenceRecord(
        user_id=row["user_id"],
        state=row["state"],
        status_msg=row["status_msg"],
        last_active_ts=int(row["last_active_ts"]),
        currently_active=bool(row["currently_active"]),
        stream_id=int(row["stream_id"]),
    )


class PresenceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def current_position(self) -> int:
        return await current_position(self._db, PRESENCE_STREAM)

    async def set_presence(
        self,
        user_id: str,
        state: str,
        status_msg: str | None,
        *,
        last_active_ts: int,
        currently_active: bool,
    ) -> int:
        """Record the user's presence; return its new stream position."""
        async with self._db.transaction() as txn:
            position = await next_position(txn, PRESENCE_STREAM)
            await txn.execute(
                f"INSERT INTO presence ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state,"
                " status_msg = EXCLUDED.status_msg, last_active_ts = EXCLUDED.last_active_ts,"
                " currently_active = EXCLUDED.currently_active, stream_id = EXCLUDED.stream_id",
                user_id,
                state,
                status_msg,
                last_active_ts,
                currently_active,
                position,
            )
            return position

    async def get_presence(self, user_id: str) -> PresenceRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM presence WHERE user_id = $1", user_id
        )
        return None if row is None else _record(row)

    async def get_presence_changes(
        self, user_ids: Sequence[str], after: int = 0, upto: int | None = None
    ) -> list[PresenceRecord]:
        """The presence of ``user_ids`` changed in ``(after, upto]``, in stream order."""
        found: list[PresenceRecord] = []
        limit = upto if upto is not None else 2**62
        for part in chunks(list(dict.fromkeys(user_ids))):
            rows = await self._db.fetch(
                f"SELECT {_COLUMNS} FROM presence WHERE stream_id > $1 AND stream_id <= $2"
                f" AND user_id IN ({in_list(3, len(part))})",
                after,
                limit,
                *part,
            )
            found.extend(_record(row) for row in rows)
        found.sort(key=lambda record: record.stream_id)
        return found
