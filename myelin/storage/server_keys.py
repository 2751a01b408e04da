"""Remote servers' signing keys and destination backoff (spec: Server-Server API, "Retrieving
server keys"; backoff is server internals).

``ServerKeyStore`` caches the keys of other servers, each with the ``valid_until_ts`` of the
response it came from (current keys) or its ``expired_ts`` (old keys), and the latest signed key
response of each server, which a notary serves again. ``DestinationStore`` persists the backoff
of each destination as three integers (failure time, retry time, interval).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from myelin.storage.database import Database, Row


@dataclass(frozen=True)
class StoredServerKey:
    server_name: str
    key_id: str
    verify_key: str  # unpadded base64
    valid_until_ts: int
    expired_ts: int | None
    fetched_ts: int


@dataclass(frozen=True)
class NewServerKey:
    key_id: str
    verify_key: str
    expired_ts: int | None = None


@dataclass(frozen=True)
class StoredKeyResponse:
    key_json: str
    valid_until_ts: int
    fetched_ts: int


def _key(row: Row) -> StoredServerKey:
    expired = row["expired_ts"]
    return StoredServerKey(
        server_name=row["server_name"],
        key_id=row["key_id"],
        verify_key=row["verify_key"],
        valid_until_ts=int(row["valid_until_ts"]),
        expired_ts=None if expired is None else int(expired),
        fetched_ts=int(row["fetched_ts"]),
    )


class ServerKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def store_key_response(
        self,
        server_name: str,
        *,
        key_json: str,
        valid_until_ts: int,
        keys: Sequence[NewServerKey],
        fetched_ts: int,
    ) -> None:
        """Record a verified key response and the keys it holds.

        A current key's ``valid_until_ts`` never goes backwards (an older response arriving
        late through a notary must not shorten what a newer one said); an old key keeps the
        first ``expired_ts`` seen.
        """
        async with self._db.transaction() as txn:
            for key in keys:
                await txn.execute(
                    "INSERT INTO server_signing_keys (server_name, key_id, verify_key,"
                    " valid_until_ts, expired_ts, fetched_ts) VALUES ($1, $2, $3, $4, $5, $6)"
                    " ON CONFLICT (server_name, key_id) DO UPDATE SET"
                    " verify_key = excluded.verify_key,"
                    " valid_until_ts = CASE WHEN excluded.valid_until_ts"
                    " > server_signing_keys.valid_until_ts THEN excluded.valid_until_ts"
                    " ELSE server_signing_keys.valid_until_ts END,"
                    " expired_ts = COALESCE(server_signing_keys.expired_ts, excluded.expired_ts),"
                    " fetched_ts = excluded.fetched_ts",
                    server_name,
                    key.key_id,
                    key.verify_key,
                    valid_until_ts,
                    key.expired_ts,
                    fetched_ts,
                )
            await txn.execute(
                "INSERT INTO server_key_responses (server_name, key_json, valid_until_ts,"
                " fetched_ts) VALUES ($1, $2, $3, $4) ON CONFLICT (server_name) DO UPDATE SET"
                " key_json = excluded.key_json, valid_until_ts = excluded.valid_until_ts,"
                " fetched_ts = excluded.fetched_ts"
                " WHERE excluded.valid_until_ts >= server_key_responses.valid_until_ts",
                server_name,
                key_json,
                valid_until_ts,
                fetched_ts,
            )

    async def get_server_keys(self, server_name: str) -> dict[str, StoredServerKey]:
        """Every cached key of ``server_name`` by key ID."""
        rows = await self._db.fetch(
            "SELECT server_name, key_id, verify_key, valid_until_ts, expired_ts, fetched_ts"
            " FROM server_signing_keys WHERE server_name = $1",
            server_name,
        )
        return {row["key_id"]: _key(row) for row in rows}

    async def get_key_response(self, server_name: str) -> StoredKeyResponse | None:
        """The latest verified key response of ``server_name`` as received."""
        row = await self._db.fetchrow(
            "SELECT key_json, valid_until_ts, fetched_ts FROM server_key_responses"
            " WHERE server_name = $1",
            server_name,
        )
        if row is None:
            return None
        return StoredKeyResponse(
            row["key_json"], int(row["valid_until_ts"]), int(row["fetched_ts"])
        )


class DestinationStore:
    """The backoff state of destinations (see ``myelin.federation.backoff``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_backoff(self, destination: str) -> tuple[int, int, int] | None:
        """``(failure_ts, retry_after_ts, retry_interval_ms)``, or None when it is up."""
        row = await self._db.fetchrow(
            "SELECT failure_ts, retry_after_ts, retry_interval_ms FROM destination_backoff"
            " WHERE destination = $1",
            destination,
        )
        if row is None:
            return None
        return int(row["failure_ts"]), int(row["retry_after_ts"]), int(row["retry_interval_ms"])

    async def set_backoff(
        self, destination: str, failure_ts: int, retry_after_ts: int, retry_interval_ms: int
    ) -> None:
        await self._db.execute(
            "INSERT INTO destination_backoff (destination, failure_ts, retry_after_ts,"
            " retry_interval_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (destination) DO UPDATE"
            " SET failure_ts = excluded.failure_ts, retry_after_ts = excluded.retry_after_ts,"
            " retry_interval_ms = excluded.retry_interval_ms",
            destination,
            failure_ts,
            retry_after_ts,
            retry_interval_ms,
        )

    async def clear_backoff(self, destination: str) -> None:
        await self._db.execute(
            "DELETE FROM destination_backoff WHERE destination = $1", destination
        )

    async def backed_off_destinations(self, now_ms: int) -> list[str]:
        """Destinations still waiting at ``now_ms`` (for the outbound queue)."""
        rows = await self._db.fetch(
            "SELECT destination FROM destination_backoff WHERE retry_after_ts > $1"
            " ORDER BY destination",
            now_ms,
        )
        return [row["destination"] for row in rows]
