"""End-to-end encryption keys (spec: Client-Server API, "End-to-End Encryption": uploading
keys, one-time and fallback keys, cross-signing).

Key objects are stored as the JSON text uploaded. One-time keys are claimed atomically: a
claim deletes the key it returns in the same statement, so no key is ever handed out twice,
even under concurrent claims (ENGINE DIFFERENCE: PostgreSQL skips rows another claim has
locked with ``FOR UPDATE SKIP LOCKED``; SQLite serialises every write anyway).
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from myelin.core.canonical_json import encode_canonical_json
from myelin.storage.database import Database, Transaction, chunks, in_list

JsonDict = dict[str, Any]


def _dump(value: Any) -> str:
    return encode_canonical_json(value).decode("utf-8")


def _load(text: str) -> Any:
    return json.loads(text)


@dataclass(frozen=True)
class OneTimeKey:
    algorithm: str
    key_id: str
    key: Any


@dataclass(frozen=True)
class Signature:
    """A signature uploaded with /keys/signatures/upload."""

    target_user_id: str
    target_key: str
    signer_user_id: str
    signer_key_id: str
    signature: str


class E2EKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # Device keys

    async def get_device_keys(self, user_id: str, device_id: str) -> JsonDict | None:
        text = await self._db.fetchval(
            "SELECT key_json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
        )
        return None if text is None else dict(_load(text))

    async def get_devices_with_keys(
        self, user_ids: Sequence[str]
    ) -> dict[str, dict[str, JsonDict | None]]:
        """user -> device -> its device keys (None when it uploaded none), for existing devices."""
        found: dict[str, dict[str, JsonDict | None]] = {}
        for part in chunks(list(user_ids)):
            rows = await self._db.fetch(
                "SELECT d.user_id, d.device_id, k.key_json FROM devices d"
                " LEFT JOIN e2e_device_keys k"
                " ON k.user_id = d.user_id AND k.device_id = d.device_id"
                f" WHERE d.user_id IN ({in_list(1, len(part))})",
                *part,
            )
            for row in rows:
                text = row["key_json"]
                found.setdefault(row["user_id"], {})[row["device_id"]] = (
                    None if text is None else dict(_load(text))
                )
        return found

    async def set_device_keys(self, user_id: str, device_id: str, keys: JsonDict) -> None:
        await self._db.execute(
            "INSERT INTO e2e_device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json",
            user_id,
            device_id,
            _dump(keys),
        )

    # One-time keys

    async def get_one_time_keys(
        self, user_id: str, device_id: str, key_ids: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Any]:
        """The stored keys among (algorithm, key_id) pairs."""
        wanted = set(key_ids)
        if not wanted:
            return {}
        rows = await self._db.fetch(
            "SELECT algorithm, key_id, key_json FROM e2e_one_time_keys"
            " WHERE user_id = $1 AND device_id = $2",
            user_id,
            device_id,
        )
        return {
            (row["algorithm"], row["key_id"]): _load(row["key_json"])
            for row in rows
            if (row["algorithm"], row["key_id"]) in wanted
        }

    async def add_one_time_keys(
        self, user_id: str, device_id: str, keys: Sequence[OneTimeKey], uploaded_ts: int
    ) -> None:
        """Add keys; ones already stored (same algorithm and ID) are left as they are."""
        await self._db.run_in_transaction(
            lambda txn: txn.executemany(
                "INSERT INTO e2e_one_time_keys"
                " (user_id, device_id, algorithm, key_id, key_json, uploaded_ts)"
                " VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING",
                [
                    (user_id, device_id, k.algorithm, k.key_id, _dump(k.key), uploaded_ts)
                    for k in keys
                ],
            )
        )

    async def count_one_time_keys(self, user_id: str, device_id: str) -> dict[str, int]:
        rows = await self._db.fetch(
            "SELECT algorithm, COUNT(*) AS n FROM e2e_one_time_keys"
            " WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm",
            user_id,
            device_id,
        )
        return {row["algorithm"]: int(row["n"]) for row in rows}

    async def claim_one_time_key(
        self, user_id: str, device_id: str, algorithm: str
    ) -> OneTimeKey | None:
        """Remove and return the device's oldest one-time key of ``algorithm``, else its
        fallback key of that algorithm (marked used, not removed), else None."""

        async def claim(txn: Transaction) -> OneTimeKey | None:
            # ENGINE DIFFERENCE: row locks exist on PostgreSQL only; SQLite's single writer
            # already makes this transaction exclusive.
            lock = " FOR UPDATE SKIP LOCKED" if self._db.engine == "postgres" else ""
            row = await txn.fetchrow(
                "DELETE FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2"
                " AND algorithm = $3 AND key_id = ("
                " SELECT key_id FROM e2e_one_time_keys"
                " WHERE user_id = $1 AND device_id = $2 AND algorithm = $3"
                f" ORDER BY uploaded_ts, key_id LIMIT 1{lock})"
                " RETURNING key_id, key_json",
                user_id,
                device_id,
                algorithm,
            )
            if row is not None:
                return OneTimeKey(algorithm, row["key_id"], _load(row["key_json"]))
            row = await txn.fetchrow(
                "UPDATE e2e_fallback_keys SET used = TRUE"
                " WHERE user_id = $1 AND device_id = $2 AND algorithm = $3"
                " RETURNING key_id, key_json",
                user_id,
                device_id,
                algorithm,
            )
            if row is not None:
                return OneTimeKey(algorithm, row["key_id"], _load(row["key_json"]))
            return None

        return await self._db.run_in_transaction(claim)

    # Fallback keys

    async def get_fallback_key(
        self, user_id: str, device_id: str, algorithm: str
    ) -> tuple[str, Any, bool] | None:
        """(key_id, key, used) of the device's fallback key of ``algorithm``."""
        row = await self._db.fetchrow(
            "SELECT key_id, key_json, used FROM e2e_fallback_keys"
            " WHERE user_id = $1 AND device_id = $2 AND algorithm = $3",
            user_id,
            device_id,
            algorithm,
        )
        if row is None:
            return None
        return row["key_id"], _load(row["key_json"]), bool(row["used"])

    async def set_fallback_keys(
        self, user_id: str, device_id: str, keys: Sequence[OneTimeKey]
    ) -> None:
        """Store one fallback key per algorithm, replacing the previous one. Re-uploading the
        same key keeps its used flag (as Synapse does); a new key is unused."""

        async def store(txn: Transaction) -> None:
            for key in keys:
                text = _dump(key.key)
                await txn.execute(
                    "INSERT INTO e2e_fallback_keys"
                    " (user_id, device_id, algorithm, key_id, key_json, used)"
                    " VALUES ($1, $2, $3, $4, $5, FALSE)"
                    " ON CONFLICT (user_id, device_id, algorithm) DO UPDATE"
                    " SET key_id = excluded.key_id, key_json = excluded.key_json,"
                    " used = CASE WHEN e2e_fallback_keys.key_id = excluded.key_id"
                    " AND e2e_fallback_keys.key_json = excluded.key_json"
                    " THEN e2e_fallback_keys.used ELSE FALSE END",
                    user_id,
                    device_id,
                    key.algorithm,
                    key.key_id,
                    text,
                )

        await self._db.run_in_transaction(store)

    async def unused_fallback_key_types(self, user_id: str, device_id: str) -> list[str]:
        rows = await self._db.fetch(
            "SELECT algorithm FROM e2e_fallback_keys"
            " WHERE user_id = $1 AND device_id = $2 AND NOT used ORDER BY algorithm",
            user_id,
            device_id,
        )
        return [row["algorithm"] for row in rows]

    # Cross-signing keys and signatures

    async def get_cross_signing_keys(self, user_id: str) -> dict[str, JsonDict]:
        """key type ('master', 'self_signing', 'user_signing') -> the key as uploaded."""
        rows = await self._db.fetch(
            "SELECT key_type, key_json FROM e2e_cross_signing_keys WHERE user_id = $1", user_id
        )
        return {row["key_type"]: dict(_load(row["key_json"])) for row in rows}

    async def set_cross_signing_keys(
        self, user_id: str, keys: Mapping[str, tuple[str, JsonDict]]
    ) -> None:
        """Replace keys: key type -> (public key, key object)."""

        async def store(txn: Transaction) -> None:
            for key_type, (public_key, key) in keys.items():
                await txn.execute(
                    "INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, key_type) DO UPDATE"
                    " SET public_key = excluded.public_key, key_json = excluded.key_json",
                    user_id,
                    key_type,
                    public_key,
                    _dump(key),
                )

        await self._db.run_in_transaction(store)

    async def add_signatures(self, signatures: Sequence[Signature]) -> None:
        if not signatures:
            return
        await self._db.run_in_transaction(
            lambda txn: txn.executemany(
                "INSERT INTO e2e_signatures"
                " (target_user_id, target_key, signer_user_id, signer_key_id, signature)"
                " VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (target_user_id, target_key, signer_user_id, signer_key_id)"
                " DO UPDATE SET signature = excluded.signature",
                [
                    (
                        s.target_user_id,
                        s.target_key,
                        s.signer_user_id,
                        s.signer_key_id,
                        s.signature,
                    )
                    for s in signatures
                ],
            )
        )

    async def get_signatures(self, target_user_ids: Sequence[str]) -> list[Signature]:
        found: list[Signature] = []
        for part in chunks(list(target_user_ids)):
            rows = await self._db.fetch(
                "SELECT target_user_id, target_key, signer_user_id, signer_key_id, signature"
                f" FROM e2e_signatures WHERE target_user_id IN ({in_list(1, len(part))})",
                *part,
            )
            found.extend(
                Signature(
                    row["target_user_id"],
                    row["target_key"],
                    row["signer_user_id"],
                    row["signer_key_id"],
                    row["signature"],
                )
                for row in rows
            )
        return found

    # Devices going away

    async def delete_device_keys(self, user_id: str, device_ids: Sequence[str]) -> None:
        """Delete every key of these devices and the signatures made on them."""

        async def delete(txn: Transaction) -> None:
            for part in chunks(list(device_ids)):
                ids = in_list(2, len(part))
                for table in ("e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys"):
                    await txn.execute(
                        f"DELETE FROM {table} WHERE user_id = $1 AND device_id IN ({ids})",
                        user_id,
                        *part,
                    )
                await txn.execute(
                    "DELETE FROM e2e_signatures WHERE target_user_id = $1"
                    f" AND target_key IN ({ids})",
                    user_id,
                    *part,
                )

        await self._db.run_in_transaction(delete)
