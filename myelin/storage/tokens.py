"""Access and refresh tokens (spec: Client-Server API, "Client Authentication", including
"Refreshing access tokens").

Tokens are stored only as their SHA-256 (hex): a leaked database does not hand out working
tokens. Lookups hash the presented token and find the row by that hash.
"""

import hashlib
from dataclasses import dataclass

from myelin.storage.caches import caches_of
from myelin.storage.database import Database, Row, Transaction


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AccessTokenRecord:
    user_id: str
    device_id: str | None
    created_ts: int
    expires_ts: int | None
    refresh_token_hash: str | None

    def expired(self, now_ms: int) -> bool:
        return self.expires_ts is not None and now_ms >= self.expires_ts


@dataclass(frozen=True)
class RefreshTokenRecord:
    user_id: str
    device_id: str
    created_ts: int
    expires_ts: int | None

    def expired(self, now_ms: int) -> bool:
        return self.expires_ts is not None and now_ms >= self.expires_ts


def _access(row: Row) -> AccessTokenRecord:
    return AccessTokenRecord(
        user_id=row["user_id"],
        device_id=row["device_id"],
        created_ts=int(row["created_ts"]),
        expires_ts=row["expires_ts"],
        refresh_token_hash=row["refresh_token_hash"],
    )


async def _insert_access(
    txn: Transaction | Database,
    token: str,
    *,
    user_id: str,
    device_id: str | None,
    created_ts: int,
    expires_ts: int | None,
    refresh_token_hash: str | None,
) -> None:
    await txn.execute(
        "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, expires_ts,"
        " refresh_token_hash) VALUES ($1, $2, $3, $4, $5, $6)",
        hash_token(token),
        user_id,
        device_id,
        created_ts,
        expires_ts,
        refresh_token_hash,
    )


async def _insert_refresh(
    txn: Transaction,
    token: str,
    *,
    user_id: str,
    device_id: str,
    created_ts: int,
    expires_ts: int | None,
) -> None:
    await txn.execute(
        "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts, expires_ts)"
        " VALUES ($1, $2, $3, $4, $5)",
        hash_token(token),
        user_id,
        device_id,
        created_ts,
        expires_ts,
    )


class AccessTokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._caches = caches_of(db)

    async def add_access_token(
        self,
        token: str,
        *,
        user_id: str,
        device_id: str | None,
        created_ts: int,
        expires_ts: int | None = None,
    ) -> None:
        """Store (the hash of) a new access token; the device, if any, must exist."""
        await _insert_access(
            self._db,
            token,
            user_id=user_id,
            device_id=device_id,
            created_ts=created_ts,
            expires_ts=expires_ts,
            refresh_token_hash=None,
        )

    async def add_token_pair(
        self,
        access_token: str,
        refresh_token: str,
        *,
        user_id: str,
        device_id: str,
        created_ts: int,
        access_expires_ts: int | None,
        refresh_expires_ts: int | None = None,
    ) -> None:
        """Store an access token together with the refresh token that can replace it."""
        async with self._db.transaction() as txn:
            await _insert_refresh(
                txn,
                refresh_token,
                user_id=user_id,
                device_id=device_id,
                created_ts=created_ts,
                expires_ts=refresh_expires_ts,
            )
            await _insert_access(
                txn,
                access_token,
                user_id=user_id,
                device_id=device_id,
                created_ts=created_ts,
                expires_ts=access_expires_ts,
                refresh_token_hash=hash_token(refresh_token),
            )

    async def get_access_token(self, token: str) -> AccessTokenRecord | None:
        """The record of the token (expired or not: check ``expired``), or None."""
        token_hash = hash_token(token)
        cached = self._caches.access_tokens.get(token_hash)
        if isinstance(cached, AccessTokenRecord):
            return cached
        generation = self._caches.access_tokens.generation
        row = await self._db.fetchrow(
            "SELECT user_id, device_id, created_ts, expires_ts, refresh_token_hash"
            " FROM access_tokens WHERE token_hash = $1",
            token_hash,
        )
        if row is None:
            return None
        record = _access(row)
        # Not when a deletion happened while this read ran: the row may be gone by now.
        self._caches.access_tokens.put_unless_forgotten(generation, token_hash, record)
        return record

    async def touch_access_token(self, token: str, ts: int) -> None:
        await self._db.execute(
            "UPDATE access_tokens SET last_used_ts = $2 WHERE token_hash = $1",
            hash_token(token),
            ts,
        )

    async def delete_access_token(self, token: str) -> bool:
        """Log the token out; its refresh token, if any, goes with it."""
        async with self._db.transaction() as txn:
            row = await txn.fetchrow(
                "DELETE FROM access_tokens WHERE token_hash = $1 RETURNING refresh_token_hash",
                hash_token(token),
            )
            if row is not None and row[0] is not None:
                await txn.execute("DELETE FROM refresh_tokens WHERE token_hash = $1", row[0])
        self._caches.forget_tokens()
        return row is not None

    async def delete_access_tokens_for_user(
        self, user_id: str, *, except_device_id: str | None = None
    ) -> int:
        """Log out every session of the user, except those of one device if given."""
        async with self._db.transaction() as txn:
            if except_device_id is None:
                count = await txn.execute("DELETE FROM access_tokens WHERE user_id = $1", user_id)
                await txn.execute("DELETE FROM refresh_tokens WHERE user_id = $1", user_id)
            else:
                count = await txn.execute(
                    "DELETE FROM access_tokens WHERE user_id = $1"
                    " AND (device_id IS NULL OR device_id <> $2)",
                    user_id,
                    except_device_id,
                )
                await txn.execute(
                    "DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id <> $2",
                    user_id,
                    except_device_id,
                )
        self._caches.forget_tokens()
        return count

    async def get_refresh_token(self, token: str) -> RefreshTokenRecord | None:
        row = await self._db.fetchrow(
            "SELECT user_id, device_id, created_ts, expires_ts FROM refresh_tokens"
            " WHERE token_hash = $1",
            hash_token(token),
        )
        if row is None:
            return None
        return RefreshTokenRecord(
            row["user_id"], row["device_id"], int(row["created_ts"]), row["expires_ts"]
        )

    async def refresh(
        self,
        old_refresh_token: str,
        new_access_token: str,
        new_refresh_token: str,
        *,
        now_ts: int,
        access_expires_ts: int | None,
        refresh_expires_ts: int | None = None,
    ) -> RefreshTokenRecord | None:
        """Exchange a refresh token for a new pair, atomically.

        The old refresh token and the access tokens issued with it are deleted. Returns the old
        token's record, or None (and changes nothing) if it is unknown or expired.
        """
        old_hash = hash_token(old_refresh_token)
        async with self._db.transaction() as txn:
            row = await txn.fetchrow(
                "SELECT user_id, device_id, created_ts, expires_ts FROM refresh_tokens"
                " WHERE token_hash = $1",
                old_hash,
            )
            if row is None:
                return None
            old = RefreshTokenRecord(
                row["user_id"], row["device_id"], int(row["created_ts"]), row["expires_ts"]
            )
            if old.expired(now_ts):
                return None
            # Cascades to the access tokens issued with it. A concurrent refresh of the same
            # token waits on this row and then finds nothing to delete.
            if await txn.execute("DELETE FROM refresh_tokens WHERE token_hash = $1", old_hash) == 0:
                return None
            await _insert_refresh(
                txn,
                new_refresh_token,
                user_id=old.user_id,
                device_id=old.device_id,
                created_ts=now_ts,
                expires_ts=refresh_expires_ts,
            )
            await _insert_access(
                txn,
                new_access_token,
                user_id=old.user_id,
                device_id=old.device_id,
                created_ts=now_ts,
                expires_ts=access_expires_ts,
                refresh_token_hash=hash_token(new_refresh_token),
            )
        self._caches.forget_tokens()
        return old
