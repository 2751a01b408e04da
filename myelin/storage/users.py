"""User accounts and profiles (spec: Client-Server API, "Account registration and management"
and "Profiles").
"""

from dataclasses import dataclass

from myelin.storage.caches import caches_of
from myelin.storage.database import Database, Row
from myelin.storage.errors import UserExistsError


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    password_hash: str | None
    admin: bool
    deactivated: bool
    created_ts: int
    is_guest: bool = False
    user_type: str | None = None
    appservice_id: str | None = None


@dataclass(frozen=True)
class ProfileRecord:
    displayname: str | None
    avatar_url: str | None


_USER_COLUMNS = (
    "user_id, password_hash, admin, deactivated, created_ts, is_guest, user_type, appservice_id"
)


def _user(row: Row) -> UserRecord:
    return UserRecord(
        user_id=row["user_id"],
        password_hash=row["password_hash"],
        admin=bool(row["admin"]),
        deactivated=bool(row["deactivated"]),
        created_ts=int(row["created_ts"]),
        is_guest=bool(row["is_guest"]),
        user_type=row["user_type"],
        appservice_id=row["appservice_id"],
    )


class UserStore:
    """Local user accounts."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._caches = caches_of(db)

    async def create_user(
        self,
        user_id: str,
        password_hash: str | None,
        *,
        admin: bool,
        created_ts: int,
        is_guest: bool = False,
        user_type: str | None = None,
        appservice_id: str | None = None,
        displayname: str | None = None,
    ) -> None:
        """Register ``user_id`` (with its profile's ``displayname``); raises
        ``UserExistsError`` if it is taken."""
        count = await self._db.execute(
            "INSERT INTO users (user_id, password_hash, admin, deactivated, is_guest,"
            " user_type, appservice_id, created_ts, displayname)"
            " VALUES ($1, $2, $3, FALSE, $4, $5, $6, $7, $8)"
            " ON CONFLICT (user_id) DO NOTHING",
            user_id,
            password_hash,
            admin,
            is_guest,
            user_type,
            appservice_id,
            created_ts,
            displayname,
        )
        if count == 0:
            raise UserExistsError(f"user {user_id} already exists")

    async def get_user(self, user_id: str) -> UserRecord | None:
        """The account (cached: every write below forgets it; unknown users are not cached)."""
        cached = self._caches.users.get(user_id)
        if isinstance(cached, UserRecord):
            return cached
        generation = self._caches.users.generation
        row = await self._db.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = $1", user_id
        )
        if row is None:
            return None
        record = _user(row)
        # Not when a write happened while this read ran: the row may have changed by now.
        self._caches.users.put_unless_forgotten(generation, user_id, record)
        return record

    async def count_users(self) -> int:
        return int(await self._db.fetchval("SELECT COUNT(*) FROM users"))

    async def list_users(self, *, limit: int = 100, after: str = "") -> list[UserRecord]:
        """Users ordered by ID, starting after ``after`` (for paging)."""
        rows = await self._db.fetch(
            f"SELECT {_USER_COLUMNS} FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2",
            after,
            limit,
        )
        return [_user(row) for row in rows]

    async def set_password_hash(self, user_id: str, password_hash: str | None) -> bool:
        count = await self._db.execute(
            "UPDATE users SET password_hash = $2 WHERE user_id = $1", user_id, password_hash
        )
        self._caches.forget_user(user_id)
        return count > 0

    async def set_admin(self, user_id: str, admin: bool) -> bool:
        count = await self._db.execute(
            "UPDATE users SET admin = $2 WHERE user_id = $1", user_id, admin
        )
        self._caches.forget_user(user_id)
        return count > 0

    async def deactivate_user(self, user_id: str) -> bool:
        """Mark the account deactivated and forget its password, devices and tokens."""
        async with self._db.transaction() as txn:
            count = await txn.execute(
                "UPDATE users SET deactivated = TRUE, password_hash = NULL WHERE user_id = $1",
                user_id,
            )
            # Tokens without a device go explicitly; the rest cascade from their device.
            await txn.execute("DELETE FROM access_tokens WHERE user_id = $1", user_id)
            await txn.execute("DELETE FROM devices WHERE user_id = $1", user_id)
        self._caches.forget_tokens()
        self._caches.forget_user(user_id)
        return count > 0

    async def get_profile(self, user_id: str) -> ProfileRecord | None:
        row = await self._db.fetchrow(
            "SELECT displayname, avatar_url FROM users WHERE user_id = $1", user_id
        )
        return None if row is None else ProfileRecord(row["displayname"], row["avatar_url"])

    async def set_displayname(self, user_id: str, displayname: str | None) -> bool:
        count = await self._db.execute(
            "UPDATE users SET displayname = $2 WHERE user_id = $1", user_id, displayname
        )
        return count > 0

    async def set_avatar_url(self, user_id: str, avatar_url: str | None) -> bool:
        count = await self._db.execute(
            "UPDATE users SET avatar_url = $2 WHERE user_id = $1", user_id, avatar_url
        )
        return count > 0
