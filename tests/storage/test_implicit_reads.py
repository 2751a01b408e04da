"""Implicit reads in the unread counts (spec: Client-Server API, "Receiving notifications":
sending an event marks the earlier notifications as read), both engines."""

from myelin.storage import Database, make_stores
from myelin.storage.push_actions import Counts, PushActionRow
from tests.storage.helpers import ROOM

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
OTHER = "!other:example.org"


async def test_a_send_reads_its_thread_up_to_it(database: Database) -> None:
    actions = make_stores(database).push_actions
    notify = PushActionRow(ALICE, ["notify"], True, False)
    for ordering, room, thread in (
        (1, ROOM, "main"),
        (2, ROOM, "$root"),
        (3, ROOM, "main"),
        (4, OTHER, "main"),
    ):
        await actions.add_push_actions(
            f"${ordering}", room, [notify], thread_id=thread, stream_ordering=ordering, ts=ordering
        )
    # Alice sends in the main timeline after $1: $1 is read, $3 (later) and the thread not.
    await actions.add_push_actions(
        "$sent", ROOM, [], thread_id="main", stream_ordering=2, ts=0, read_by=ALICE
    )
    counts = await actions.get_unread_counts(ALICE, [ROOM, OTHER])
    assert counts[ROOM].main == Counts(1, 0)
    assert counts[ROOM].threads == {"$root": Counts(1, 0)}
    assert counts[OTHER].main == Counts(1, 0)
    # Bob's send reads nothing for Alice.
    await actions.add_push_actions(
        "$bob", ROOM, [], thread_id="main", stream_ordering=9, ts=0, read_by=BOB
    )
    assert (await actions.get_unread_counts(ALICE, [ROOM]))[ROOM].total() == Counts(2, 0)
    # A send in the thread reads the thread only; the position only moves forward.
    await actions.add_push_actions(
        "$t", ROOM, [], thread_id="$root", stream_ordering=5, ts=0, read_by=ALICE
    )
    await actions.add_push_actions(
        "$t0", ROOM, [], thread_id="$root", stream_ordering=1, ts=0, read_by=ALICE
    )
    counts = await actions.get_unread_counts(ALICE, [ROOM])
    assert counts[ROOM].main == Counts(1, 0) and counts[ROOM].threads == {}
    listed = await actions.get_notifications(ALICE, before=None, limit=10, only_highlight=False)
    assert [(n.event_id, n.read) for n in listed] == [
        ("$4", False),
        ("$3", False),
        ("$2", True),
        ("$1", True),
    ]
    # The event that carries both its notifications and its sender's read.
    await actions.add_push_actions(
        "$6", ROOM, [notify], thread_id="main", stream_ordering=6, ts=0, read_by=BOB
    )
    assert (await actions.get_unread_counts(ALICE, [ROOM]))[ROOM].main == Counts(2, 0)
    assert (await actions.get_unread_counts(BOB, [ROOM]))[ROOM].total() == Counts(0, 0)
