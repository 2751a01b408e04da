"""Content reports (spec: Client-Server API, "Reporting content"): reports of events, rooms and
users, kept for the server's admins.
"""

from dataclasses import dataclass

from myelin.storage.database import Database


@dataclass(frozen=True)
class ReportRecord:
    report_id: str
    user_id: str
    room_id: str | None
    event_id: str | None
    target_user_id: str | None
    reason: str | None
    score: int | None
    received_ts: int


class ReportStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_report(self, report: ReportRecord) -> None:
        await self._db.execute(
            "INSERT INTO content_reports (report_id, user_id, room_id, event_id, target_user_id,"
            " reason, score, received_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            report.report_id,
            report.user_id,
            report.room_id,
            report.event_id,
            report.target_user_id,
            report.reason,
            report.score,
            report.received_ts,
        )

    async def list_reports(self, *, limit: int = 100) -> list[ReportRecord]:
        """The latest reports, newest first (for admins)."""
        rows = await self._db.fetch(
            "SELECT report_id, user_id, room_id, event_id, target_user_id, reason, score,"
            " received_ts FROM content_reports ORDER BY received_ts DESC, report_id LIMIT $1",
            limit,
        )
        return [
            ReportRecord(
                report_id=row["report_id"],
                user_id=row["user_id"],
                room_id=row["room_id"],
                event_id=row["event_id"],
                target_user_id=row["target_user_id"],
                reason=row["reason"],
                score=None if row["score"] is None else int(row["score"]),
                received_ts=int(row["received_ts"]),
            )
            for row in rows
        ]
