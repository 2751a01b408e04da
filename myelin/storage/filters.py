"""Stored user filters (spec: Client-Server API, "Filtering": ``POST /user/{userId}/filter`` and
``GET /user/{userId}/filter/{filterId}``).

Filter IDs are small integers counted per user (0, 1, 2, ...) served as decimal strings.
Uploading a filter identical (same JSON text) to one the user already has returns its ID
instead of storing it again, as Synapse does, so clients that upload a filter at every start
do not grow the table.
"""

from myelin.storage.database import Database

# How often allocating an ID is retried when a concurrent upload took the same one. Each round
# one of the competing uploads wins, so an upload may lose as many rounds as there are uploads
# racing it (five was too few: 8 concurrent uploads of one user failed now and then on
# PostgreSQL).
_ATTEMPTS = 100


class FilterStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_filter(self, user_id: str, filter_json: str) -> int:
        """Store ``filter_json`` (already validated) for ``user_id``; return its ID."""
        for _ in range(_ATTEMPTS):
            async with self._db.transaction() as txn:
                existing = await txn.fetchval(
                    "SELECT filter_id FROM user_filters WHERE user_id = $1 AND filter_json = $2"
                    " ORDER BY filter_id LIMIT 1",
                    user_id,
                    filter_json,
                )
                if existing is not None:
                    return int(existing)
                new_id = await txn.fetchval(
                    "INSERT INTO user_filters (user_id, filter_id, filter_json)"
                    " SELECT $1, COALESCE(MAX(filter_id), -1) + 1, $2 FROM user_filters"
                    " WHERE user_id = $1"
                    " ON CONFLICT (user_id, filter_id) DO NOTHING RETURNING filter_id",
                    user_id,
                    filter_json,
                )
            if new_id is not None:
                return int(new_id)
        raise RuntimeError(f"could not allocate a filter ID for {user_id}")

    async def get_filter(self, user_id: str, filter_id: int) -> str | None:
        """The JSON text of the user's filter ``filter_id``; None if there is none."""
        value = await self._db.fetchval(
            "SELECT filter_json FROM user_filters WHERE user_id = $1 AND filter_id = $2",
            user_id,
            filter_id,
        )
        return None if value is None else str(value)
