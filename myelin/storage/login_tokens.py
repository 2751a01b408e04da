"""Short-lived, single-use login tokens (spec: Client-Server API, "Login" with
``m.login.token`` and ``POST /login/get_token``).

Stored hashed like access tokens; consuming a token deletes it, so it works once.
"""

from myelin.storage.database import Database
from myelin.storage.tokens import hash_token


class LoginTokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_login_token(self, token: str, *, user_id: str, expires_ts: int) -> None:
        await self._db.execute(
            "INSERT INTO login_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)",
            hash_token(token),
            user_id,
            expires_ts,
        )

    async def consume_login_token(self, token: str, now_ts: int) -> str | None:
        """The user the token logs in, deleting it; None if unknown, used or expired."""
        # Statements that write go through a transaction (the SQLite writer connection).
        async with self._db.transaction() as txn:
            row = await txn.fetchrow(
                "DELETE FROM login_tokens WHERE token_hash = $1 RETURNING user_id, expires_ts",
                hash_token(token),
            )
        if row is None or int(row["expires_ts"]) <= now_ts:
            return None
        return str(row["user_id"])

    async def delete_expired(self, now_ts: int) -> int:
        return await self._db.execute("DELETE FROM login_tokens WHERE expires_ts <= $1", now_ts)
