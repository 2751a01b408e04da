"""Registration tokens (spec: Client-Server API, "Token-authenticated registration"; managed
through Synapse's admin API shape: uses_allowed, pending, completed, expiry_time).
"""

from dataclasses import dataclass

from myelin.storage.database import Database, Row


@dataclass(frozen=True)
class RegistrationTokenRecord:
    token: str
    uses_allowed: int | None
    pending: int
    completed: int
    expiry_time: int | None

    def valid(self, now_ms: int) -> bool:
        """Whether the token may start another registration now."""
        if self.expiry_time is not None and self.expiry_time <= now_ms:
            return False
        return self.uses_allowed is None or self.pending + self.completed < self.uses_allowed


_COLUMNS = "token, uses_allowed, pending, completed, expiry_time"


def _token(row: Row) -> RegistrationTokenRecord:
    return RegistrationTokenRecord(
        token=row["token"],
        uses_allowed=row["uses_allowed"],
        pending=int(row["pending"]),
        completed=int(row["completed"]),
        expiry_time=row["expiry_time"],
    )


class RegistrationTokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_token(
        self, token: str, *, uses_allowed: int | None, expiry_time: int | None
    ) -> bool:
        """Add a token; False (and no change) if it exists."""
        count = await self._db.execute(
            "INSERT INTO registration_tokens (token, uses_allowed, expiry_time)"
            " VALUES ($1, $2, $3) ON CONFLICT (token) DO NOTHING",
            token,
            uses_allowed,
            expiry_time,
        )
        return count > 0

    async def get_token(self, token: str) -> RegistrationTokenRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM registration_tokens WHERE token = $1", token
        )
        return None if row is None else _token(row)

    async def list_tokens(self) -> list[RegistrationTokenRecord]:
        rows = await self._db.fetch(f"SELECT {_COLUMNS} FROM registration_tokens ORDER BY token")
        return [_token(row) for row in rows]

    async def update_token(
        self,
        token: str,
        *,
        uses_allowed: int | None,
        set_uses_allowed: bool,
        expiry_time: int | None,
        set_expiry_time: bool,
    ) -> RegistrationTokenRecord | None:
        """Change the given fields; the updated record, or None if the token is unknown."""
        async with self._db.transaction() as txn:
            if set_uses_allowed:
                await txn.execute(
                    "UPDATE registration_tokens SET uses_allowed = $2 WHERE token = $1",
                    token,
                    uses_allowed,
                )
            if set_expiry_time:
                await txn.execute(
                    "UPDATE registration_tokens SET expiry_time = $2 WHERE token = $1",
                    token,
                    expiry_time,
                )
            row = await txn.fetchrow(
                f"SELECT {_COLUMNS} FROM registration_tokens WHERE token = $1", token
            )
        return None if row is None else _token(row)

    async def delete_token(self, token: str) -> bool:
        count = await self._db.execute("DELETE FROM registration_tokens WHERE token = $1", token)
        return count > 0
