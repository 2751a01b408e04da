"""Account locks and suspensions, and OpenID tokens (spec: Client-Server API, "Account
locking", "Account suspension" and "OpenID").

Locks and suspensions are two columns of ``users`` (migration 12). OpenID tokens are stored as
the hex SHA-256 of the token with their expiry, like access tokens.
"""

from dataclasses import dataclass

from myelin.storage.caches import caches_of
from myelin.storage.database import Database
from myelin.storage.tokens import hash_token


@dataclass(frozen=True)
class AccountStatus:
    """Whether an account is locked and whether it is suspended."""

    locked: bool
    suspended: bool


class AccountStatusStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._caches = caches_of(db)

    async def get_status(self, user_id: str) -> AccountStatus | None:
        """The account's status; None when there is no such local account (cached: read on
        every request; the setters below forget it)."""
        cached = self._caches.account_statuses.get(user_id)
        if isinstance(cached, AccountStatus):
            return cached
        generation = self._caches.account_statuses.generation
        row = await self._db.fetchrow(
            "SELECT locked, suspended FROM users WHERE user_id = $1", user_id
        )
        if row is None:
            return None
        status = AccountStatus(bool(row["locked"]), bool(row["suspended"]))
        self._caches.account_statuses.put_unless_forgotten(generation, user_id, status)
        return status

    async def set_locked(self, user_id: str, locked: bool) -> bool:
        """Lock or unlock the account; False when there is no such account."""
        changed = await self._db.execute(
            "UPDATE users SET locked = $2 WHERE user_id = $1", user_id, locked
        )
        self._caches.forget_user(user_id)
        return changed > 0

    async def set_suspended(self, user_id: str, suspended: bool) -> bool:
        """Suspend or unsuspend the account; False when there is no such account."""
        changed = await self._db.execute(
            "UPDATE users SET suspended = $2 WHERE user_id = $1", user_id, suspended
        )
        self._caches.forget_user(user_id)
        return changed > 0


class OpenIdTokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_token(self, token: str, user_id: str, expires_ts: int) -> None:
        await self._db.execute(
            "INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)",
            hash_token(token),
            user_id,
            expires_ts,
        )

    async def get_user(self, token: str, now_ms: int) -> str | None:
        """The user the token was issued to, while it has not expired."""
        row = await self._db.fetchrow(
            "SELECT user_id FROM openid_tokens WHERE token_hash = $1 AND expires_ts > $2",
            hash_token(token),
            now_ms,
        )
        return None if row is None else str(row["user_id"])

    async def delete_expired(self, now_ms: int) -> int:
        """Forget expired tokens; return how many."""
        return await self._db.execute("DELETE FROM openid_tokens WHERE expires_ts <= $1", now_ms)
