"""Receipts, presence, push rules, pushers, push actions, reports and user directory stores
(both engines)."""

from myelin.core.push import RuleKind, UserPushRules, put_rule
from myelin.storage import Database, NewStateGroup, make_stores
from myelin.storage.push_actions import Counts, PushActionRow
from myelin.storage.reports import ReportRecord
from tests.storage.helpers import ROOM, make_event, make_pusher, member

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
OTHER = "!other:example.org"


async def test_receipts_move_forward_only(database: Database) -> None:
    store = make_stores(database).receipts
    assert await store.current_position() == 0
    first = await store.insert_receipt(
        ROOM, "m.read", ALICE, None, "$a", event_stream_ordering=5, ts=10
    )
    assert first == 1
    assert (
        await store.insert_receipt(
            ROOM, "m.read", ALICE, None, "$old", event_stream_ordering=4, ts=11
        )
        is None
    )
    second = await store.insert_receipt(
        ROOM, "m.read", ALICE, "main", "$b", event_stream_ordering=3, ts=12
    )
    assert second == 2
    third = await store.insert_receipt(
        OTHER, "m.read.private", BOB, None, "$c", event_stream_ordering=9, ts=13
    )
    assert third == 3
    assert await store.current_position() == 3
    records = await store.get_receipts([ROOM, OTHER])
    assert [(r.event_id, r.thread_id, r.stream_id) for r in records] == [
        ("$a", None, 1),
        ("$b", "main", 2),
        ("$c", None, 3),
    ]
    assert [r.event_id for r in await store.get_receipts([ROOM], after=1, upto=3)] == ["$b"]
    assert [r.event_id for r in await store.get_receipts([ROOM, OTHER], after=0, upto=1)] == ["$a"]
    mine = await store.get_user_receipts(ALICE, ROOM)
    assert {(r.receipt_type, r.thread_id, r.ts) for r in mine} == {
        ("m.read", None, 10),
        ("m.read", "main", 12),
    }


async def test_presence(database: Database) -> None:
    store = make_stores(database).presence
    assert await store.get_presence(ALICE) is None
    p1 = await store.set_presence(ALICE, "online", "hi", last_active_ts=100, currently_active=True)
    p2 = await store.set_presence(
        BOB, "unavailable", None, last_active_ts=50, currently_active=False
    )
    p3 = await store.set_presence(
        ALICE, "offline", None, last_active_ts=200, currently_active=False
    )
    assert (p1, p2, p3) == (1, 2, 3)
    record = await store.get_presence(ALICE)
    assert record is not None
    assert (record.state, record.status_msg, record.last_active_ts, record.stream_id) == (
        "offline",
        None,
        200,
        3,
    )
    changes = await store.get_presence_changes([ALICE, BOB], after=1)
    assert [(c.user_id, c.stream_id) for c in changes] == [(BOB, 2), (ALICE, 3)]
    assert [c.user_id for c in await store.get_presence_changes([ALICE, BOB], 0, 2)] == [BOB]
    assert await store.current_position() == 3


async def test_push_rules(database: Database) -> None:
    store = make_stores(database).push_rules
    assert await store.get_push_rules(ALICE) == UserPushRules()
    changed = put_rule(
        UserPushRules(), RuleKind.CONTENT, "cake", {"pattern": "cake*", "actions": ["notify"]}
    )
    await store.set_push_rules(ALICE, changed, now_ms=1)
    assert await store.get_push_rules(ALICE) == changed
    both = await store.get_push_rules_for_users([ALICE, BOB])
    assert list(both) == [ALICE]
    await store.set_push_rules(ALICE, UserPushRules(), now_ms=2)
    assert await store.get_push_rules(ALICE) == UserPushRules()


async def test_pushers(database: Database) -> None:
    store = make_stores(database).pushers
    await store.set_pusher(make_pusher(ALICE, "k1"), append=False)
    await store.set_pusher(make_pusher(BOB, "k1"), append=True)
    assert [p.pushkey for p in await store.get_pushers(ALICE)] == ["k1"]
    # Not appending removes other users' pushers with the same app_id and pushkey.
    await store.set_pusher(make_pusher(BOB, "k1", lang="de", created_ts=5), append=False)
    assert await store.get_pushers(ALICE) == []
    (bob,) = await store.get_pushers(BOB)
    assert bob.lang == "de" and bob.created_ts == 1  # an update keeps the creation time
    assert bob.data == {"url": "https://push.example.org/_matrix/push/v1/notify"}
    assert await store.delete_pusher(BOB, "org.example.app", "k1")
    assert not await store.delete_pusher(BOB, "org.example.app", "k1")
    await store.set_pusher(make_pusher(BOB, "k2"), append=False)
    assert await store.delete_pushers_of_device(BOB, "DEV") == 1


async def test_push_action_counts_and_receipts(database: Database) -> None:
    stores = make_stores(database)
    actions, receipts = stores.push_actions, stores.receipts
    notify = PushActionRow(ALICE, ["notify"], True, False)
    highlight = PushActionRow(ALICE, ["notify", {"set_tweak": "highlight"}], True, True)
    await actions.add_push_actions(
        "$1", ROOM, [notify], thread_id="main", stream_ordering=1, ts=100
    )
    await actions.add_push_actions(
        "$2", ROOM, [highlight], thread_id="main", stream_ordering=2, ts=101
    )
    await actions.add_push_actions(
        "$3", ROOM, [notify], thread_id="$root", stream_ordering=3, ts=102
    )
    await actions.add_push_actions(
        "$4", OTHER, [notify], thread_id="main", stream_ordering=4, ts=103
    )
    await actions.add_push_actions("$5", ROOM, [], thread_id="main", stream_ordering=5, ts=104)
    counts = await actions.get_unread_counts(ALICE, [ROOM, OTHER, "!none:x"])
    assert counts[ROOM].main == Counts(2, 1)
    assert counts[ROOM].threads == {"$root": Counts(1, 0)}
    assert counts[ROOM].total() == Counts(3, 1)
    assert counts[OTHER].main == Counts(1, 0)
    assert counts["!none:x"].total() == Counts(0, 0)
    # A receipt in the main timeline leaves the thread alone.
    await receipts.insert_receipt(
        ROOM, "m.read", ALICE, "main", "$1", event_stream_ordering=1, ts=1
    )
    counts = await actions.get_unread_counts(ALICE, [ROOM])
    assert counts[ROOM].main == Counts(1, 1) and counts[ROOM].threads == {"$root": Counts(1, 0)}
    # A private threaded receipt clears its thread.
    await receipts.insert_receipt(
        ROOM, "m.read.private", ALICE, "$root", "$3", event_stream_ordering=3, ts=2
    )
    counts = await actions.get_unread_counts(ALICE, [ROOM])
    assert counts[ROOM].threads == {}
    # Another user's receipt does nothing for Alice; an unthreaded one clears everything.
    await receipts.insert_receipt(ROOM, "m.read", BOB, None, "$5", event_stream_ordering=5, ts=3)
    assert (await actions.get_unread_counts(ALICE, [ROOM]))[ROOM].total() == Counts(1, 1)
    await receipts.insert_receipt(ROOM, "m.read", ALICE, None, "$2", event_stream_ordering=2, ts=4)
    assert (await actions.get_unread_counts(ALICE, [ROOM]))[ROOM].total() == Counts(0, 0)

    listed = await actions.get_notifications(ALICE, before=None, limit=10, only_highlight=False)
    assert [(n.event_id, n.read) for n in listed] == [
        ("$4", False),
        ("$3", True),
        ("$2", True),
        ("$1", True),
    ]
    assert listed[2].actions == ["notify", {"set_tweak": "highlight"}] and listed[2].highlight
    page = await actions.get_notifications(ALICE, before=3, limit=1, only_highlight=False)
    assert [n.event_id for n in page] == ["$2"]
    only = await actions.get_notifications(ALICE, before=None, limit=10, only_highlight=True)
    assert [n.event_id for n in only] == ["$2"]


async def test_reports(database: Database) -> None:
    store = make_stores(database).reports
    await store.add_report(ReportRecord("r1", ALICE, ROOM, "$e", None, "bad", None, 5))
    await store.add_report(ReportRecord("r2", ALICE, None, None, BOB, "", None, 6))
    reports = await store.list_reports()
    assert [(r.report_id, r.target_user_id, r.event_id) for r in reports] == [
        ("r2", BOB, None),
        ("r1", None, "$e"),
    ]


async def test_user_directory_queries(database: Database) -> None:
    stores = make_stores(database)
    events, directory = stores.events, stores.user_directory
    create = make_event("$create", "m.room.create", state_key="", content={"creator": ALICE})
    alice = member("$alice", ALICE, "join", prev=["$create"], depth=2)
    bob = make_event(
        "$bob",
        "m.room.member",
        state_key=BOB,
        sender=BOB,
        content={"membership": "join", "displayname": "Bobby", "avatar_url": "mxc://x/y"},
        prev=["$alice"],
        depth=3,
    )
    rules = make_event(
        "$rules",
        "m.room.join_rules",
        state_key="",
        content={"join_rule": "public"},
        prev=["$bob"],
        depth=4,
    )
    state: dict[tuple[str, str], str] = {}
    for event in (create, alice, bob, rules):
        assert event.state_pair is not None
        state[event.state_pair] = event.event_id
        await events.persist_event(
            event,
            received_ts=1,
            state_after=NewStateGroup(None, dict(state)),
            set_current_state=True,
        )
    assert await directory.share_a_room(ALICE, BOB)
    assert not await directory.share_a_room(ALICE, "@carol:example.org")
    assert await directory.users_sharing_rooms(ALICE) == [ALICE, BOB]
    assert await directory.visible_rooms() == [ROOM]
    assert await directory.rooms_of(BOB) == [ROOM]
    profiles = {p.user_id: p for p in await directory.joined_member_profiles([ROOM])}
    assert profiles[BOB].display_name == "Bobby" and profiles[BOB].avatar_url == "mxc://x/y"
    assert profiles[ALICE].display_name is None
