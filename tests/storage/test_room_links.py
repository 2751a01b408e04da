"""RelationStore and RoomReadStore: relations and redactions recorded on persist, threads,
transaction IDs, forgotten rooms, member history and timestamp lookups (both engines)."""

from myelin.storage import Database, make_stores
from tests.storage.helpers import ROOM, make_event, member


def _rel(rel_type: str, target: str, **extra: object) -> dict[str, object]:
    return {"body": "x", "m.relates_to": {"rel_type": rel_type, "event_id": target}, **extra}


async def test_relations_recorded_on_persist(database: Database) -> None:
    stores = make_stores(database)
    events, relations = stores.events, stores.relations
    await events.persist_event(make_event("$root", depth=1), received_ts=1)
    await events.persist_event(
        make_event("$t1", content=_rel("m.thread", "$root"), depth=2), received_ts=2
    )
    await events.persist_event(
        make_event("$t2", content=_rel("m.thread", "$root"), sender="@bob:x", depth=3),
        received_ts=3,
    )
    await events.persist_event(
        make_event("$e1", content=_rel("m.replace", "$root"), depth=4), received_ts=4
    )
    # Rejected children and malformed relations are not served.
    await events.persist_event(
        make_event("$bad", content=_rel("m.thread", "$root"), depth=5),
        received_ts=5,
        rejected_reason="no",
    )
    await events.persist_event(
        make_event("$odd", content={"m.relates_to": {"rel_type": 5, "event_id": "$root"}}),
        received_ts=6,
    )
    children = await relations.get_children("$root")
    assert [c.event_id for c in children] == ["$e1", "$t2", "$t1"]
    assert [c.event_id for c in await relations.get_children("$root", rel_type="m.thread")] == [
        "$t2",
        "$t1",
    ]
    page = await relations.get_children("$root", limit=1, newest_first=False)
    assert [c.event_id for c in page] == ["$t1"]
    after = await relations.get_children("$root", after=page[0].stream_ordering, limit=5)
    assert [c.event_id for c in after] == ["$e1", "$t2"]
    summaries = await relations.get_thread_summaries(["$root", "$t1"])
    assert list(summaries) == ["$root"]
    assert summaries["$root"].count == 2 and summaries["$root"].latest_event_id == "$t2"
    assert await relations.get_thread_participants(["$root"], "@bob:x") == {"$root"}
    assert await relations.get_thread_participants(["$root"], "@carol:x") == set()
    threads = await relations.get_threads(ROOM)
    assert [t.root_id for t in threads] == ["$root"]
    assert await relations.get_threads(ROOM, participant="@carol:x") == []
    by_parent = await relations.get_children_of_many(["$root"], "m.replace")
    assert [c.event_id for c in by_parent["$root"]] == ["$e1"]


async def test_redactions_recorded_on_persist(database: Database) -> None:
    stores = make_stores(database)
    await stores.events.persist_event(make_event("$a", depth=1), received_ts=1)
    redaction = make_event("$r", "m.room.redaction", depth=2, content={"reason": "x"})
    redaction.json["redacts"] = "$a"  # type: ignore[index]
    await stores.events.persist_event(redaction, received_ts=2)
    assert await stores.relations.get_redactions_of(["$a", "$b"]) == {"$a": ["$r"]}


async def test_transaction_ids(database: Database) -> None:
    reads = make_stores(database).room_reads
    assert await reads.get_txn_event("@a:x", "DEV", "t1") is None
    first = await reads.store_txn_event(
        "@a:x", "DEV", "t1", room_id=ROOM, event_id="$1", created_ts=1
    )
    again = await reads.store_txn_event(
        "@a:x", "DEV", "t1", room_id=ROOM, event_id="$2", created_ts=2
    )
    assert first.event_id == again.event_id == "$1"
    assert await reads.get_txn_ids("@a:x", "DEV", ["$1", "$2"]) == {"$1": "t1"}
    assert await reads.get_txn_ids("@a:x", "OTHER", ["$1"]) == {}


async def test_forgotten_members_and_timestamps(database: Database) -> None:
    stores = make_stores(database)
    reads = stores.room_reads
    assert not await reads.is_forgotten("@a:x", ROOM)
    await reads.forget_room("@a:x", ROOM)
    await reads.forget_room("@a:x", ROOM)
    assert await reads.is_forgotten("@a:x", ROOM)
    await reads.unforget_room("@a:x", ROOM)
    assert not await reads.is_forgotten("@a:x", ROOM)
    await stores.events.persist_event(member("$j", "@alice:example.org", "join"), received_ts=1)
    await stores.events.persist_event(make_event("$m", depth=5), received_ts=1)
    history = await reads.get_member_event_ids(ROOM, "@alice:example.org")
    assert [event_id for event_id, _ in history] == ["$j"]
    # make_event timestamps are 1_700_000_000_000 + depth.
    found = await reads.event_at_timestamp(ROOM, 1_700_000_000_003, forwards=True)
    assert found is not None and found.event_id == "$m"
    found = await reads.event_at_timestamp(ROOM, 1_700_000_000_003, forwards=False)
    assert found is not None and found.event_id == "$j"
    assert await reads.event_at_timestamp(ROOM, 1_800_000_000_000, forwards=True) is None
