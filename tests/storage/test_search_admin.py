"""SearchStore (the full-text index written on persist), account locks/suspensions and OpenID
tokens, on both engines."""

from myelin.storage import Database, make_stores
from myelin.storage.account_status import AccountStatusStore, OpenIdTokenStore
from myelin.storage.search import SearchStore, search_words
from tests.storage.helpers import ROOM, make_event

OTHER = "!other:example.org"
BODY = ["content.body"]
ALL_KEYS = ["content.body", "content.name", "content.topic"]


async def test_index_and_search(database: Database) -> None:
    events = make_stores(database).events
    search = SearchStore(database)
    await events.persist_event(
        make_event("$1", content={"body": "Hello wonderful world"}, depth=1), received_ts=1
    )
    await events.persist_event(
        make_event("$2", content={"body": "the world is round, world!"}, depth=2), received_ts=2
    )
    await events.persist_event(make_event("$3", content={"body": 42}, depth=3), received_ts=3)
    await events.persist_event(
        make_event("$4", "m.room.name", state_key="", content={"name": "World cafe"}, depth=4),
        received_ts=4,
    )
    await events.persist_event(
        make_event("$5", content={"body": "world elsewhere"}, room_id=OTHER, depth=5),
        received_ts=5,
    )
    await events.persist_event(
        make_event("$6", content={"body": "rejected world"}, depth=6),
        received_ts=6,
        rejected_reason="auth",
    )
    words = search_words("WORLD")
    assert words == ["world"]
    recent = await search.search(words, [ROOM], BODY, order_by_rank=False, limit=10)
    assert [h.event_id for h in recent] == ["$2", "$1"]
    assert await search.count(words, [ROOM], BODY) == 2
    every_key = await search.search(words, [ROOM, OTHER], ALL_KEYS, order_by_rank=False, limit=10)
    assert [h.event_id for h in every_key] == ["$5", "$4", "$2", "$1"]
    # Prefix matching, every word required, case-insensitive.
    hits = await search.search(search_words("wond WOR"), [ROOM], BODY, order_by_rank=True, limit=5)
    assert [h.event_id for h in hits] == ["$1"]
    assert await search.search(["nothing"], [ROOM], BODY, order_by_rank=True, limit=5) == []
    # By rank: the body saying "world" twice ranks first on both engines.
    ranked = await search.search(words, [ROOM], BODY, order_by_rank=True, limit=5)
    assert [h.event_id for h in ranked] == ["$2", "$1"]
    assert ranked[0].rank >= ranked[1].rank
    # Paging: below a stream position, or with an offset.
    page = await search.search(words, [ROOM], BODY, order_by_rank=False, limit=1)
    rest = await search.search(
        words, [ROOM], BODY, order_by_rank=False, limit=5, before=page[0].stream_ordering
    )
    assert [h.event_id for h in rest] == ["$1"]
    second = await search.search(words, [ROOM], BODY, order_by_rank=True, limit=5, offset=1)
    assert [h.event_id for h in second] == ["$1"]
    # Hostile terms are only words.
    assert search_words('" OR * NEAR( -x:') == ["or", "near", "x"]
    assert await search.search(search_words('"x*'), [ROOM], BODY, order_by_rank=True, limit=5) == []


async def test_account_status_and_openid(database: Database) -> None:
    stores = make_stores(database)
    await stores.users.create_user("@a:example.org", None, admin=False, created_ts=1)
    statuses = AccountStatusStore(database)
    status = await statuses.get_status("@a:example.org")
    assert status is not None and not status.locked and not status.suspended
    assert await statuses.get_status("@nobody:example.org") is None
    assert await statuses.set_locked("@a:example.org", True)
    assert await statuses.set_suspended("@a:example.org", True)
    status = await statuses.get_status("@a:example.org")
    assert status is not None and status.locked and status.suspended
    assert not await statuses.set_locked("@nobody:example.org", True)
    tokens = OpenIdTokenStore(database)
    await tokens.add_token("tok", "@a:example.org", expires_ts=1000)
    assert await tokens.get_user("tok", now_ms=999) == "@a:example.org"
    assert await tokens.get_user("tok", now_ms=1000) is None
    assert await tokens.get_user("other", now_ms=0) is None
    assert await tokens.delete_expired(1000) == 1
    assert await tokens.get_user("tok", now_ms=0) is None
