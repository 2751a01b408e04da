"""Extended profile fields (spec: Client-Server API, "Profiles", v1.16 custom fields).

``displayname`` and ``avatar_url`` live in the users table (``UserStore``); every other field
is a row here holding the field's value as JSON text.
"""

from typing import Any

import orjson

from myelin.storage.database import Database


class ProfileFieldStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_fields(self, user_id: str) -> dict[str, Any]:
        rows = await self._db.fetch(
            "SELECT field_name, value_json FROM profile_fields WHERE user_id = $1"
            " ORDER BY field_name",
            user_id,
        )
        return {row["field_name"]: orjson.loads(row["value_json"]) for row in rows}

    async def set_field(self, user_id: str, name: str, value: Any) -> None:
        await self._db.execute(
            "INSERT INTO profile_fields (user_id, field_name, value_json) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id, field_name) DO UPDATE SET value_json = EXCLUDED.value_json",
            user_id,
            name,
            orjson.dumps(value).decode(),
        )

    async def delete_field(self, user_id: str, name: str) -> bool:
        count = await self._db.execute(
            "DELETE FROM profile_fields WHERE user_id = $1 AND field_name = $2", user_id, name
        )
        return count > 0

    async def delete_all(self, user_id: str) -> int:
        return await self._db.execute("DELETE FROM profile_fields WHERE user_id = $1", user_id)
