"""Event relationships and redactions by target (spec: Client-Server API, "Forming
relationships between events", "Aggregations of child events", "Threading" and "Redactions").

``record_event_links_txn`` runs inside the transaction that persists an event and records, from
the event's JSON alone, the relationship it forms (``content.m.relates_to`` with ``rel_type``
and ``event_id``) and the event a redaction redacts. Rejected, soft-failed and outlier events
keep their rows; every read joins ``events`` and leaves them out, so the hot path stays one or
two inserts. Whether a redaction applies is decided when the redacted event is served.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from myelin.core.events import EventView
from myelin.storage.database import Database, Row, Transaction, chunks, in_list

# A timeline event: not an outlier, not rejected, not soft-failed.
_VISIBLE_E = "e.outlier = FALSE AND e.rejected_reason IS NULL AND e.soft_failed = FALSE"


def relation_of(event: EventView) -> tuple[str, str] | None:
    """``(rel_type, event_id)`` of the relationship ``event`` forms, if it forms one."""
    relates_to = event.content.get("m.relates_to")
    if not isinstance(relates_to, dict):
        return None
    rel_type, target = relates_to.get("rel_type"), relates_to.get("event_id")
    if not isinstance(rel_type, str) or not isinstance(target, str) or not rel_type or not target:
        return None
    return rel_type, target


async def record_event_links_txn(txn: Transaction, event: EventView) -> None:
    """Record the relationship ``event`` forms and the event it redacts, if any."""
    relation = relation_of(event)
    if relation is not None:
        await txn.execute(
            "INSERT INTO event_relations (event_id, room_id, relates_to_id, rel_type)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            event.event_id,
            event.room_id,
            relation[1],
            relation[0],
        )
    if event.type == "m.room.redaction":
        redacts = event.redacts
        if redacts is not None:
            await txn.execute(
                "INSERT INTO redactions (event_id, redacts) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                event.event_id,
                redacts,
            )


@dataclass(frozen=True)
class RelatedEvent:
    """A child event: its ID, type, sender and stream position."""

    event_id: str
    type: str
    sender: str
    stream_ordering: int
    origin_server_ts: int


@dataclass(frozen=True)
class ThreadSummary:
    """A thread root's aggregation: how many events, the latest, who took part."""

    root_id: str
    count: int
    latest_event_id: str
    latest_stream_ordering: int


def _related(row: Row) -> RelatedEvent:
    return RelatedEvent(
        row["event_id"],
        row["type"],
        row["sender"],
        int(row["stream_ordering"]),
        int(row["origin_server_ts"]),
    )


class RelationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_children(
        self,
        parent_id: str,
        *,
        rel_type: str | None = None,
        event_type: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
        newest_first: bool = True,
    ) -> list[RelatedEvent]:
        """Visible events relating to ``parent_id``, by stream order, within the bounds."""
        clauses = ["r.relates_to_id = $1", _VISIBLE_E]
        args: list[object] = [parent_id]
        for column, value in (("r.rel_type", rel_type), ("e.type", event_type)):
            if value is not None:
                args.append(value)
                clauses.append(f"{column} = ${len(args)}")
        if before is not None:
            args.append(before)
            clauses.append(f"e.stream_ordering < ${len(args)}")
        if after is not None:
            args.append(after)
            clauses.append(f"e.stream_ordering > ${len(args)}")
        args.append(limit)
        order = "DESC" if newest_first else "ASC"
        rows = await self._db.fetch(
            "SELECT e.event_id, e.type, e.sender, e.stream_ordering, e.origin_server_ts"
            " FROM event_relations r JOIN events e ON e.event_id = r.event_id"
            f" WHERE {' AND '.join(clauses)}"
            f" ORDER BY e.stream_ordering {order} LIMIT ${len(args)}",
            *args,
        )
        return [_related(row) for row in rows]

    async def get_related_parents(self, parent_ids: Sequence[str]) -> set[str]:
        """The ``parent_ids`` that some event relates to (of any ``rel_type``, visible or
        not): a superset of those with aggregations, read from the index alone."""
        found: set[str] = set()
        for part in chunks(list(dict.fromkeys(parent_ids))):
            rows = await self._db.fetch(
                "SELECT DISTINCT relates_to_id FROM event_relations"
                f" WHERE relates_to_id IN ({in_list(1, len(part))})",
                *part,
            )
            found.update(row["relates_to_id"] for row in rows)
        return found

    async def get_children_of_many(
        self, parent_ids: Sequence[str], rel_type: str
    ) -> dict[str, list[RelatedEvent]]:
        """For each parent, its visible children of ``rel_type``, oldest first."""
        found: dict[str, list[RelatedEvent]] = {}
        for part in chunks(list(dict.fromkeys(parent_ids))):
            rows = await self._db.fetch(
                "SELECT r.relates_to_id, e.event_id, e.type, e.sender, e.stream_ordering,"
                " e.origin_server_ts FROM event_relations r JOIN events e"
                " ON e.event_id = r.event_id"
                f" WHERE r.rel_type = $1 AND {_VISIBLE_E}"
                f" AND r.relates_to_id IN ({in_list(2, len(part))})"
                " ORDER BY e.stream_ordering",
                rel_type,
                *part,
            )
            for row in rows:
                found.setdefault(row["relates_to_id"], []).append(_related(row))
        return found

    async def get_thread_summaries(self, root_ids: Sequence[str]) -> dict[str, ThreadSummary]:
        """Count and latest event of the threads rooted at ``root_ids`` (those with any)."""
        found: dict[str, ThreadSummary] = {}
        for part in chunks(list(dict.fromkeys(root_ids))):
            rows = await self._db.fetch(
                "SELECT r.relates_to_id, COUNT(*) AS n, MAX(e.stream_ordering) AS latest"
                " FROM event_relations r JOIN events e ON e.event_id = r.event_id"
                f" WHERE r.rel_type = 'm.thread' AND {_VISIBLE_E}"
                f" AND r.relates_to_id IN ({in_list(1, len(part))})"
                " GROUP BY r.relates_to_id",
                *part,
            )
            latest = {int(row["latest"]): row for row in rows}
            if not latest:
                continue
            ids = await self._db.fetch(
                "SELECT event_id, stream_ordering FROM events"
                f" WHERE stream_ordering IN ({in_list(1, len(latest))})",
                *latest,
            )
            for id_row in ids:
                row = latest[int(id_row["stream_ordering"])]
                found[row["relates_to_id"]] = ThreadSummary(
                    row["relates_to_id"], int(row["n"]), id_row["event_id"], int(row["latest"])
                )
        return found

    async def get_thread_participants(self, root_ids: Sequence[str], user_id: str) -> set[str]:
        """The roots among ``root_ids`` with a visible thread event sent by ``user_id``."""
        found: set[str] = set()
        for part in chunks(list(dict.fromkeys(root_ids))):
            rows = await self._db.fetch(
                "SELECT DISTINCT r.relates_to_id FROM event_relations r JOIN events e"
                " ON e.event_id = r.event_id"
                f" WHERE r.rel_type = 'm.thread' AND e.sender = $1 AND {_VISIBLE_E}"
                f" AND r.relates_to_id IN ({in_list(2, len(part))})",
                user_id,
                *part,
            )
            found.update(row["relates_to_id"] for row in rows)
        return found

    async def get_threads(
        self,
        room_id: str,
        *,
        participant: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[ThreadSummary]:
        """The room's threads, most recently active first; with ``participant``, only those
        whose root or a thread event they sent. ``before`` bounds the latest activity."""
        args: list[object] = [room_id]
        having = ""
        if before is not None:
            args.append(before)
            having = f" HAVING MAX(e.stream_ordering) < ${len(args)}"
        rows = await self._db.fetch(
            "SELECT r.relates_to_id, COUNT(*) AS n, MAX(e.stream_ordering) AS latest"
            " FROM event_relations r JOIN events e ON e.event_id = r.event_id"
            f" WHERE r.room_id = $1 AND r.rel_type = 'm.thread' AND {_VISIBLE_E}"
            f" GROUP BY r.relates_to_id{having} ORDER BY latest DESC",
            *args,
        )
        summaries = [
            ThreadSummary(row["relates_to_id"], int(row["n"]), "", int(row["latest"]))
            for row in rows
        ]
        if participant is not None and summaries:
            roots = [s.root_id for s in summaries]
            took_part = await self.get_thread_participants(roots, participant)
            for part in chunks(roots):
                sent = await self._db.fetch(
                    "SELECT event_id FROM events WHERE sender = $1"
                    f" AND event_id IN ({in_list(2, len(part))})",
                    participant,
                    *part,
                )
                took_part.update(row["event_id"] for row in sent)
            summaries = [s for s in summaries if s.root_id in took_part]
        return summaries[:limit]

    async def get_event_links(
        self, event_ids: Sequence[str]
    ) -> tuple[dict[str, list[str]], set[str]]:
        """``get_redactions_of(event_ids)`` and ``get_related_parents(event_ids)`` in one
        read."""
        redactions: dict[str, list[str]] = {}
        related: set[str] = set()
        for part in chunks(list(dict.fromkeys(event_ids))):
            targets = in_list(1, len(part))
            rows = await self._db.fetch(
                "SELECT r.redacts AS target, r.event_id AS redaction, e.stream_ordering AS pos"
                f" FROM redactions r JOIN events e ON e.event_id = r.event_id WHERE {_VISIBLE_E}"
                f" AND r.redacts IN ({targets})"
                " UNION ALL SELECT DISTINCT relates_to_id, CAST(NULL AS TEXT), CAST(NULL AS BIGINT)"
                " FROM event_relations"
                f" WHERE relates_to_id IN ({targets})",
                *part,
            )
            found = sorted(
                (int(row["pos"]), row["target"], row["redaction"])
                for row in rows
                if row["redaction"] is not None
            )
            for _, target, redaction in found:
                redactions.setdefault(target, []).append(redaction)
            related.update(row["target"] for row in rows if row["redaction"] is None)
        return redactions, related

    async def get_redactions_of(self, event_ids: Sequence[str]) -> dict[str, list[str]]:
        """For each of ``event_ids``, the visible redaction events that target it, oldest
        first."""
        found: dict[str, list[str]] = {}
        for part in chunks(list(dict.fromkeys(event_ids))):
            rows = await self._db.fetch(
                "SELECT r.redacts, r.event_id FROM redactions r JOIN events e"
                f" ON e.event_id = r.event_id WHERE {_VISIBLE_E}"
                f" AND r.redacts IN ({in_list(1, len(part))}) ORDER BY e.stream_ordering",
                *part,
            )
            for row in rows:
                found.setdefault(row["redacts"], []).append(row["event_id"])
        return found
