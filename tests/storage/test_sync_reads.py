"""The combined reads behind an incremental /sync (Client-Server API, "Syncing"): a user's
member events and the rooms with new events in one statement, and an event list's redactions
and related parents in one statement; each must equal the separate reads (both engines)."""

from myelin.storage import Database, make_stores
from tests.storage.helpers import ROOM, make_event, member

ALICE = "@alice:example.org"
OTHER = "!other:example.org"


async def test_changes_between_equals_the_separate_reads(database: Database) -> None:
    stores = make_stores(database)
    events, sync = stores.events, stores.sync
    await events.persist_event(member("$j1", ALICE, "join", depth=1), received_ts=1)
    await events.persist_event(make_event("$m1", depth=2), received_ts=2)
    await events.persist_event(
        member("$j2", ALICE, "invite", room_id=OTHER, depth=1), received_ts=3
    )
    await events.persist_event(make_event("$hidden", depth=3), received_ts=4, rejected_reason="x")
    await events.persist_event(make_event("$m2", room_id=OTHER, depth=2), received_ts=5)
    top = await events.get_max_stream_ordering()
    for after in range(0, top + 1):
        for rooms in ([], [ROOM], [ROOM, OTHER], ["!none:x", OTHER]):
            members, changed = await sync.changes_between(ALICE, rooms, after, top)
            assert members == await sync.member_events_between(ALICE, after, top)
            assert changed == (
                await sync.rooms_changed_between(rooms, after, top) if rooms else set()
            )
    # More rooms than one statement takes: the rooms past the first 500 are read as well.
    many = [f"!r{i}:x" for i in range(600)] + [OTHER]
    members, changed = await sync.changes_between(ALICE, many, 0, top)
    assert changed == {OTHER} and [m.event_id for m in members] == ["$j1", "$j2"]
    assert (await sync.changes_between(ALICE, [ROOM], top, top)) == ([], set())


async def test_event_links_equal_the_separate_reads(database: Database) -> None:
    stores = make_stores(database)
    events, relations = stores.events, stores.relations
    await events.persist_event(make_event("$a", depth=1), received_ts=1)
    await events.persist_event(make_event("$b", depth=2), received_ts=2)
    await events.persist_event(make_event("$plain", depth=3), received_ts=3)
    for index, (event_id, target) in enumerate([("$r2", "$a"), ("$r1", "$a"), ("$r3", "$b")]):
        redaction = make_event(event_id, "m.room.redaction", depth=4 + index, content={})
        redaction.json["redacts"] = target  # type: ignore[index]
        await events.persist_event(redaction, received_ts=4 + index)
    edit = {"body": "x", "m.relates_to": {"rel_type": "m.replace", "event_id": "$b"}}
    await events.persist_event(make_event("$e", depth=8, content=edit), received_ts=8)
    ids = ["$a", "$b", "$plain", "$unknown"]
    redactions, related = await relations.get_event_links(ids)
    assert redactions == await relations.get_redactions_of(ids)
    assert redactions == {"$a": ["$r2", "$r1"], "$b": ["$r3"]}
    assert related == await relations.get_related_parents(ids) == {"$b"}
    assert await relations.get_event_links([]) == ({}, set())
