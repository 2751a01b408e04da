"""The full-text index of room events (spec: Client-Server API, "Server Side Search").

``index_event_txn`` runs in the transaction that persists an event and indexes the keys the
spec searches: ``content.body`` of ``m.room.message``, ``content.name`` of ``m.room.name`` and
``content.topic`` of ``m.room.topic``. ``SearchStore.search`` finds the events matching every
word of a search term (prefix matches, case-insensitive), newest first or by rank, restricted
to given rooms and keys. Rejected, soft-failed and outlier events are left out when reading.

ENGINE DIFFERENCE (the only places): SQLite uses an FTS5 table (``bm25`` for the rank, smaller
is better, so the rank returned is its negation); PostgreSQL a ``tsvector`` column with a GIN
index (``ts_rank``). Both parse the term the same way: words of letters and digits, each
matched as a prefix, all required.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from myelin.core.events import EventView
from myelin.storage.database import Database, Engine, Transaction, in_list

# The searchable keys and the event type whose content holds each.
SEARCH_KEYS: dict[str, tuple[str, str]] = {
    "content.body": ("m.room.message", "body"),
    "content.name": ("m.room.name", "name"),
    "content.topic": ("m.room.topic", "topic"),
}

_WORD = re.compile(r"\w+", re.UNICODE)
_VISIBLE_E = "e.outlier = FALSE AND e.rejected_reason IS NULL AND e.soft_failed = FALSE"
# Search terms are bounded: more words than this are ignored.
MAX_TERMS = 16


def search_words(term: str) -> list[str]:
    """The lower-cased words of a search term, in order, without repeats."""
    words = [w.lower() for w in _WORD.findall(term)]
    return list(dict.fromkeys(words))[:MAX_TERMS]


def searchable_values(event: EventView) -> list[tuple[str, str]]:
    """``(key, text)`` for each searchable key the event has (a non-empty string)."""
    found = []
    for key, (event_type, field) in SEARCH_KEYS.items():
        if event.type != event_type:
            continue
        value = event.content.get(field)
        if isinstance(value, str) and value.strip():
            found.append((key, value))
    return found


async def index_event_txn(txn: Transaction, engine: Engine, event: EventView) -> None:
    """Index ``event`` inside the transaction that persists it."""
    for key, value in searchable_values(event):
        if engine == "sqlite":
            await txn.execute(
                "INSERT INTO event_search (value, event_id, room_id, key) VALUES ($1, $2, $3, $4)",
                value,
                event.event_id,
                event.room_id,
                key,
            )
        else:
            await txn.execute(
                "INSERT INTO event_search (event_id, room_id, key, vector)"
                " VALUES ($1, $2, $3, to_tsvector('simple', $4)) ON CONFLICT DO NOTHING",
                event.event_id,
                event.room_id,
                key,
                value,
            )


@dataclass(frozen=True)
class SearchHit:
    event_id: str
    room_id: str
    stream_ordering: int
    rank: float


class SearchStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _match(self, words: Sequence[str], first: int) -> tuple[str, list[Any]]:
        """The match condition on ``s`` and its parameters (ENGINE DIFFERENCE)."""
        if self._db.engine == "sqlite":
            query = " AND ".join(f'"{w}"*' for w in words)
            return f"event_search MATCH ${first}", [query]
        query = " & ".join(f"{w}:*" for w in words)
        return f"s.vector @@ to_tsquery('simple', ${first})", [query]

    def _rank(self, first: int) -> str:
        """The rank expression, larger is better (ENGINE DIFFERENCE)."""
        if self._db.engine == "sqlite":
            return "-bm25(event_search)"
        return f"ts_rank(s.vector, to_tsquery('simple', ${first}))"

    def _where(
        self, words: Sequence[str], room_ids: Sequence[str], keys: Sequence[str]
    ) -> tuple[str, list[Any]]:
        match, args = self._match(words, 1)
        rooms = in_list(len(args) + 1, len(room_ids))
        args += list(room_ids)
        key_list = in_list(len(args) + 1, len(keys))
        args += list(keys)
        where = f"{match} AND s.room_id IN ({rooms}) AND s.key IN ({key_list}) AND {_VISIBLE_E}"
        return where, args

    async def search(
        self,
        words: Sequence[str],
        room_ids: Sequence[str],
        keys: Sequence[str],
        *,
        order_by_rank: bool,
        limit: int,
        before: int | None = None,
        offset: int = 0,
    ) -> list[SearchHit]:
        """Up to ``limit`` matching events: by rank (then newest first), skipping ``offset``,
        or newest first below stream position ``before``. An event matching on several keys
        appears once."""
        if not words or not room_ids or not keys:
            return []
        where, args = self._where(words, room_ids, keys)
        rank = self._rank(1)
        if before is not None:
            args.append(before)
            where += f" AND e.stream_ordering < ${len(args)}"
        order = "rank DESC, e.stream_ordering DESC" if order_by_rank else "e.stream_ordering DESC"
        args += [limit, offset]
        rows = await self._db.fetch(
            f"SELECT s.event_id, s.room_id, e.stream_ordering, {rank} AS rank"
            " FROM event_search s JOIN events e ON e.event_id = s.event_id"
            f" WHERE {where} ORDER BY {order} LIMIT ${len(args) - 1} OFFSET ${len(args)}",
            *args,
        )
        hits: dict[str, SearchHit] = {}
        for row in rows:
            event_id = str(row["event_id"])
            if event_id not in hits:
                hits[event_id] = SearchHit(
                    event_id, str(row["room_id"]), int(row["stream_ordering"]), float(row["rank"])
                )
        return list(hits.values())

    async def count(
        self, words: Sequence[str], room_ids: Sequence[str], keys: Sequence[str]
    ) -> int:
        """How many events match (before visibility checks: the spec's approximate count)."""
        if not words or not room_ids or not keys:
            return 0
        where, args = self._where(words, room_ids, keys)
        value = await self._db.fetchval(
            "SELECT COUNT(DISTINCT s.event_id) FROM event_search s"
            f" JOIN events e ON e.event_id = s.event_id WHERE {where}",
            *args,
        )
        return int(value or 0)
