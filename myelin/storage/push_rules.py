"""Push rules and pushers (spec: Client-Server API, "Push Rules: API" and "Pushers").

A user's push rules are stored as what they changed from the server defaults (the JSON form of
``myelin.core.push.UserPushRules``); pushers one row per (user, app_id, pushkey), with their
delivery state (the position in the events stream delivered up to, and since when the push
gateway has been failing).
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from myelin.core.push import UserPushRules
from myelin.storage.caches import caches_of
from myelin.storage.database import Database, Row, chunks, in_list
from myelin.storage.streams import current_position


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
    # Delivery state, kept by the store (ignored by ``set_pusher``): the events stream position
    # delivered up to, and the start of the current failure streak (None: not failing).
    last_stream_ordering: int = 0
    failing_since: int | None = None


_PUSHER_COLUMNS = (
    "user_id, app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang,"
    " data, device_id, created_ts"
)
_SELECTED = f"{_PUSHER_COLUMNS}, last_stream_ordering, failing_since"


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
        last_stream_ordering=int(row["last_stream_ordering"]),
        failing_since=None if row["failing_since"] is None else int(row["failing_since"]),
    )


class PusherStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_pushers(self, user_id: str) -> list[PusherRecord]:
        rows = await self._db.fetch(
            f"SELECT {_SELECTED} FROM pushers WHERE user_id = $1"
            " ORDER BY created_ts, app_id, pushkey",
            user_id,
        )
        return [_pusher(row) for row in rows]

    async def get_pushers_of_kind(self, kind: str) -> list[PusherRecord]:
        """Every user's pushers of ``kind`` (the delivery workers started with the server)."""
        rows = await self._db.fetch(
            f"SELECT {_SELECTED} FROM pushers WHERE kind = $1"
            " ORDER BY user_id, created_ts, app_id, pushkey",
            kind,
        )
        return [_pusher(row) for row in rows]

    async def set_pusher_delivered(
        self, user_id: str, app_id: str, pushkey: str, stream_ordering: int
    ) -> bool:
        """Record delivery (or giving up) up to ``stream_ordering``, ending a failure streak;
        False when the pusher is gone. The position never moves back."""
        count = await self._db.execute(
            "UPDATE pushers SET last_stream_ordering = CASE WHEN last_stream_ordering < $4"
            " THEN $4 ELSE last_stream_ordering END, failing_since = NULL"
            " WHERE user_id = $1 AND app_id = $2 AND pushkey = $3",
            user_id,
            app_id,
            pushkey,
            stream_ordering,
        )
        return count > 0

    async def set_pusher_failing_since(
        self, user_id: str, app_id: str, pushkey: str, failing_since: int | None
    ) -> None:
        await self._db.execute(
            "UPDATE pushers SET failing_since = $4"
            " WHERE user_id = $1 AND app_id = $2 AND pushkey = $3",
            user_id,
            app_id,
            pushkey,
            failing_since,
        )

    async def set_pusher(self, pusher: PusherRecord, *, append: bool) -> None:
        """Create or update the pusher; without ``append``, pushers with the same app_id and
        pushkey of other users are deleted. An update keeps the creation time and the delivery
        state; a new pusher is delivered what comes after the events stream's current
        position."""
        async with self._db.transaction() as txn:
            position = await current_position(txn)
            if not append:
                await txn.execute(
                    "DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3",
                    pusher.app_id,
                    pusher.pushkey,
                    pusher.user_id,
                )
            await txn.execute(
                f"INSERT INTO pushers ({_PUSHER_COLUMNS}, last_stream_ordering)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
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
                position,
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
