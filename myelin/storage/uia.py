"""User-interactive authentication sessions (spec: Client-Server API, "User-Interactive
Authentication API").

A session remembers the operation it was started for, the user it authenticates (for
authenticated endpoints) and the stages completed so far. Expired sessions are deleted by
``delete_expired``, which also hands back the "pending" use of any registration token the
session held.
"""

from dataclasses import dataclass

import orjson

from myelin.storage.database import Database, Row


@dataclass(frozen=True)
class UIASessionRecord:
    session_id: str
    method: str
    uri: str
    user_id: str | None
    completed: tuple[str, ...]
    registration_token: str | None
    created_ts: int
    last_used_ts: int


_COLUMNS = (
    "session_id, method, uri, user_id, completed, registration_token, created_ts, last_used_ts"
)


def _session(row: Row) -> UIASessionRecord:
    return UIASessionRecord(
        session_id=row["session_id"],
        method=row["method"],
        uri=row["uri"],
        user_id=row["user_id"],
        completed=tuple(orjson.loads(row["completed"])),
        registration_token=row["registration_token"],
        created_ts=int(row["created_ts"]),
        last_used_ts=int(row["last_used_ts"]),
    )


class UIASessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_session(
        self, session_id: str, *, method: str, uri: str, user_id: str | None, now_ts: int
    ) -> None:
        await self._db.execute(
            f"INSERT INTO uia_sessions ({_COLUMNS}) VALUES ($1, $2, $3, $4, '[]', NULL, $5, $5)",
            session_id,
            method,
            uri,
            user_id,
            now_ts,
        )

    async def get_session(self, session_id: str) -> UIASessionRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM uia_sessions WHERE session_id = $1", session_id
        )
        return None if row is None else _session(row)

    async def mark_completed(
        self, session_id: str, stage: str, *, now_ts: int, registration_token: str | None = None
    ) -> tuple[str, ...] | None:
        """Add ``stage`` to the session's completed stages; return them (empty if unknown).

        With ``registration_token``, the token's ``pending`` count goes up in the same
        transaction (one pending use per session), but only while the token is still valid
        (unexpired, uses left): otherwise nothing changes and None is returned. The check and
        the claim are one statement, so concurrent registrations cannot overuse a token.
        """
        async with self._db.transaction() as txn:
            row = await txn.fetchrow(
                "SELECT completed, registration_token FROM uia_sessions WHERE session_id = $1",
                session_id,
            )
            if row is None:
                return ()
            completed = list(orjson.loads(row["completed"]))
            if stage not in completed:
                completed.append(stage)
            token = row["registration_token"]
            if registration_token is not None and token is None:
                token = registration_token
                claimed = await txn.execute(
                    "UPDATE registration_tokens SET pending = pending + 1 WHERE token = $1"
                    " AND (uses_allowed IS NULL OR pending + completed < uses_allowed)"
                    " AND (expiry_time IS NULL OR expiry_time > $2)",
                    token,
                    now_ts,
                )
                if claimed == 0:
                    return None
            await txn.execute(
                "UPDATE uia_sessions SET completed = $2, registration_token = $3,"
                " last_used_ts = $4 WHERE session_id = $1",
                session_id,
                orjson.dumps(completed).decode(),
                token,
                now_ts,
            )
        return tuple(completed)

    async def touch(self, session_id: str, now_ts: int) -> None:
        await self._db.execute(
            "UPDATE uia_sessions SET last_used_ts = $2 WHERE session_id = $1", session_id, now_ts
        )

    async def delete_session(self, session_id: str, *, token_used: bool = False) -> None:
        """Forget a finished session.

        With ``token_used`` its registration token's pending use becomes a completed one;
        otherwise the pending use is given back.
        """
        async with self._db.transaction() as txn:
            row = await txn.fetchrow(
                "DELETE FROM uia_sessions WHERE session_id = $1 RETURNING registration_token",
                session_id,
            )
            if row is not None and row[0] is not None:
                if token_used:
                    await txn.execute(
                        "UPDATE registration_tokens SET pending = pending - 1,"
                        " completed = completed + 1 WHERE token = $1",
                        row[0],
                    )
                else:
                    await txn.execute(
                        "UPDATE registration_tokens SET pending = pending - 1 WHERE token = $1",
                        row[0],
                    )

    async def delete_expired(self, before_ts: int) -> int:
        """Delete sessions last used before ``before_ts``, giving back their pending tokens."""
        async with self._db.transaction() as txn:
            rows = await txn.fetch(
                "DELETE FROM uia_sessions WHERE last_used_ts < $1 RETURNING registration_token",
                before_ts,
            )
            for row in rows:
                if row[0] is not None:
                    await txn.execute(
                        "UPDATE registration_tokens SET pending = pending - 1 WHERE token = $1",
                        row[0],
                    )
        return len(rows)
