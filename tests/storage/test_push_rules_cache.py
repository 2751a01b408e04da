"""The per-user cache of push rule texts (spec: Client-Server API, "Push Rules": the rules are
read for every member at every event) never serves a stale text."""

import json

import pytest

from myelin.core.push import RuleKind, UserPushRules, put_rule
from myelin.storage import Database, make_stores
from myelin.storage.caches import caches_of
from myelin.storage.database import Row

ALICE = "@alice:example.org"
BOB = "@bob:example.org"


def _changed() -> UserPushRules:
    return put_rule(UserPushRules(), RuleKind.CONTENT, "r", {"pattern": "cake", "actions": []})


async def test_texts_are_cached_and_every_write_forgets_them(database: Database) -> None:
    store = make_stores(database).push_rules
    assert await store.get_push_rules_texts([ALICE, BOB]) == {}  # "no changes" cached too
    await database.execute(
        "INSERT INTO push_rules (user_id, rules_json, updated_ts) VALUES ($1, '{}', 1)", BOB
    )
    assert await store.get_push_rules_texts([ALICE, BOB]) == {}  # served from the cache
    await store.set_push_rules(ALICE, _changed(), now_ms=2)
    texts = await store.get_push_rules_texts([ALICE, BOB])
    assert UserPushRules.from_json(json.loads(texts[ALICE])) == _changed()
    assert BOB not in texts
    await store.set_push_rules(ALICE, UserPushRules(), now_ms=3)
    texts = await store.get_push_rules_texts([ALICE])
    assert UserPushRules.from_json(json.loads(texts[ALICE])) == UserPushRules()


async def test_a_read_racing_a_write_is_not_kept(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_stores(database).push_rules
    caches = caches_of(database)
    real_fetch = database.fetch
    writes: list[None] = []

    async def fetch_then_write(sql: str, *args: object) -> list[Row]:
        rows = await real_fetch(sql, *args)  # the old text (none)
        if not writes:
            writes.append(None)
            await store.set_push_rules(ALICE, _changed(), now_ms=1)
        return rows

    monkeypatch.setattr(database, "fetch", fetch_then_write)
    assert await store.get_push_rules_texts([ALICE]) == {}
    monkeypatch.undo()
    assert caches.push_rules.get(ALICE) is None
    assert ALICE in await store.get_push_rules_texts([ALICE])
