"""Push rules and pushers (spec: Client-Server API, "Push Rules: API" and "Pushers").

A user's push rules are stored as what they changed from the server defaults (the JSON form of
``myelin.core.push.UserPushRules``); pushers one row per (user, app_id, pushkey).
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from myelin.core.push import UserPushRules
from myelin.storage.caches import caches_of
from myelin.storage.database import Database, Row, chunks, in_list


class PushRuleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_push_rules(self, user_id: str) -> UserPushRules:
        """The user's changes (empty for a user who changed nothing)."""
        text = await self._db.fetchval(
            "SELECT rules_json FROM push_rules WHERE user_id = $1", user_id
        )
        return UserPushRules() if text is None else UserPushRules.from_json(json.loads(text))

    async def get_push_rules_for_users(self, user_ids: Sequence[str]) -> dict[str, UserPushRules]:
        """The changes of each of ``user_ids``; users who changed nothing are left out."""
        found: dict[str, UserPushRules] = {}
        for part in chunks(list(dict.fromkeys(user_ids))):
            rows = await self._db.fetch(
                "SELECT user_id, rules_json FROM push_rules"
                f" WHERE user_id IN ({in_list(1, len(part))})",
                *part,
            )
            for row in rows:
                found[row["user_id"]] = UserPushRules.from_json(json.loads(row["rules_json"]))
        return found

    async def get_push_rules_texts(self, user_ids: Sequence[str]) -> dict[str, str]:
        """The stored JSON text of each of ``user_ids``' changes (left out: no changes), for
        callers that cache what they derive from it keyed by the text.

        Read at every event for the room's members: cached per user (see ``DatabaseCaches``).
        """
        caches = caches_of(self._db)
        cache = caches.push_rules
        found: dict[str, str] = {}
        wanted: list[str] = []
        for user_id in dict.fromkeys(user_ids):
            cached = cache.get(user_id)
            if cached is None:
                wanted.append(user_id)
            elif cached:  # "": the user changed nothing
                found[user_id] = cached
        generation = cache.generation
        for part in chunks(wanted):
            rows = await self._db.fetch(
                "SELECT user_id, rules_json FROM push_rules"
                f" WHERE user_id IN ({in_list(1, len(part))})",
                *part,
            )
            found.update((row["user_id"], row["rules_json"]) for row in rows)
        # A write that committed while we read may have been missed: keep nothing then.
        for user_id in wanted:
            cache.put_unless_forgotten(generation, user_id, found.get(user_id, ""))
        return found

    async def set_push_rules(self, user_id: str, rules: UserPushRules, *, now_ms: int) -> None:
        try:
            await self._db.execute(
                "INSERT INTO push_rules (user_id, rules_json, updated_ts) VALUES ($1, $2, $3)"
                " ON CONFLICT (user_id) DO UPDATE SET rules_json = EXCLUDED.rules_json,"
                " updated_ts = EXCLUDED.updated_ts",
                user_id,
                json.dumps(rules.to_json(), separators=(",", ":")),
                now_ms,
            )
        finally:
            # Committed (one statement), or failed when it may have committed all the same:
            # forget what readers may have cached before.
            caches_of(self._db).push_rules.forget(user_id)


@dataclass(frozen=True)
class PusherRecord:
    user_id: str
    app_id: str
    pushkey: str
    kind: str
    app_display_name: str
    device_display_name: str
    profile_tag: str | None
    lang: str
    data: Mapping[str, Any]
    device_id: str | None
    created_ts: int


_PUSHER_COLUMNS = (
    "user_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang,"
    " data, device_id, created_ts"
)


def _pusher(row: Row) -> PusherRecord:
    data = json.loads(row["data"])
    return PusherRecord(
        user_id=row["user_id"],
        app_id=row["app_id"],
        pushkey=row["pushkey"],
        kind=row["kind"],
        app_display_name=row["app_display_name"],
        device_display_name=row["device_display_name"],
        profile_tag=row["profile_tag"],
        lang=row["lang"],
        data=data if isinstance(data, dict) else {},
        device_id=row["device_id"],
        created_ts=int(row["created_ts"]),
    )


class PusherStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_pushers(self, user_id: str) -> list[PusherRecord]:
        rows = await self._db.fetch(
            f"SELECT {_PUSHER_COLUMNS} FROM pushers WHERE user_id = $1"
            " ORDER BY created_ts, app_id, pushkey",
            user_id,
        )
        return [_pusher(row) for row in rows]

    async def set_pusher(self, pusher: PusherRecord, *, append: bool) -> None:
        """Create or update the pusher; without ``append``, pushers with the same app_id and
        pushkey of other users are deleted. An update keeps the creation time."""
        async with self._db.transaction() as txn:
            if not append:
                await txn.execute(
                    "DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3",
                    pusher.app_id,
                    pusher.pushkey,
                    pusher.user_id,
                )
            await txn.execute(
                f"INSERT INTO pushers ({_PUSHER_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                " ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET kind = EXCLUDED.kind,"
                " app_display_name = EXCLUDED.app_display_name,"
                " device_display_name = EXCLUDED.device_display_name,"
                " profile_tag = EXCLUDED.profile_tag, lang = EXCLUDED.lang,"
                " data = EXCLUDED.data, device_id = EXCLUDED.device_id",
                pusher.user_id,
                pusher.app_id,
                pusher.pushkey,
                pusher.kind,
                pusher.app_display_name,
                pusher.device_display_name,
                pusher.profile_tag,
                pusher.lang,
                json.dumps(pusher.data, separators=(",", ":")),
                pusher.device_id,
                pusher.created_ts,
            )

    async def delete_pusher(self, user_id: str, app_id: str, pushkey: str) -> bool:
        count = await self._db.execute(
            "DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3",
            user_id,
            app_id,
            pushkey,
        )
        return count > 0

    async def delete_pushers_of_device(self, user_id: str, device_id: str) -> int:
        """Pushers go with the device (and access token) that made them."""
        return await self._db.execute(
            "DELETE FROM pushers WHERE user_id = $1 AND device_id = $2", user_id, device_id
        )
