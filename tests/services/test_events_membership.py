"""Membership changes through the write path on both engines: invite, join, leave, kick, ban,
unban, and what the auth rules refuse."""

import pytest

from myelin.services.errors import MatrixError
from myelin.services.events import EventRejectedError, EventService, SequentialIds
from myelin.services.rooms import CreateRoomRequest, RoomService
from myelin.storage import Database
from tests.services.test_events_support import (
    ALICE,
    BOB,
    CAROL,
    SERVER,
    Services,
    check_every_event_authorized,
    make_services,
)


async def _membership(services: Services, room_id: str, user_id: str) -> str | None:
    return await services.events.current_membership(room_id, user_id)


@pytest.mark.parametrize("version", ["1", "7", "11", "12"])
async def test_invite_join_leave(database: Database, version: str) -> None:
    services = make_services(database)
    created = await services.rooms.create_room(
        ALICE, CreateRoomRequest(room_version=version, preset="private_chat")
    )
    room_id = created.room_id
    # Invite-only: Bob cannot join uninvited.
    with pytest.raises(EventRejectedError):
        await services.events.update_membership(BOB, BOB, room_id, "join")
    assert await _membership(services, room_id, BOB) is None

    await services.events.update_membership(ALICE, BOB, room_id, "invite", "come")
    assert await _membership(services, room_id, BOB) == "invite"
    assert await services.stores.state.get_rooms_for_user(BOB, "invite") == [room_id]
    written = await services.events.update_membership(BOB, BOB, room_id, "join")
    assert written.event.content == {"membership": "join"}
    assert await services.stores.state.get_room_members(room_id) == sorted([ALICE, BOB])
    await services.events.send_event(BOB, room_id, "m.room.message", {"body": "hello"})

    await services.events.update_membership(BOB, BOB, room_id, "leave", "bye")
    assert await _membership(services, room_id, BOB) == "leave"
    with pytest.raises(EventRejectedError):
        await services.events.send_event(BOB, room_id, "m.room.message", {"body": "again"})
    # Leaving does not let them back into an invite-only room.
    with pytest.raises(EventRejectedError):
        await services.events.update_membership(BOB, BOB, room_id, "join")
    await check_every_event_authorized(services, room_id)


async def test_kick_ban_unban(database: Database) -> None:
    services = make_services(database)
    room_id = (
        await services.rooms.create_room(ALICE, CreateRoomRequest(preset="public_chat"))
    ).room_id
    await services.events.update_membership(BOB, BOB, room_id, "join")
    await services.events.update_membership(CAROL, CAROL, room_id, "join")

    # Bob (power 0) may not kick or ban.
    with pytest.raises(EventRejectedError):
        await services.events.update_membership(BOB, CAROL, room_id, "kick")
    with pytest.raises(EventRejectedError):
        await services.events.update_membership(BOB, CAROL, room_id, "ban")

    kick = await services.events.update_membership(ALICE, CAROL, room_id, "kick", "spam")
    assert kick.event.content == {"membership": "leave", "reason": "spam"}
    assert kick.event.sender == ALICE and kick.event.state_key == CAROL
    assert await _membership(services, room_id, CAROL) == "leave"
    # Kicking someone who is not in the room is refused before the auth rules.
    with pytest.raises(MatrixError) as info:
        await services.events.update_membership(ALICE, CAROL, room_id, "kick")
    assert info.value.status == 403
    # A public room lets the kicked user back in.
    await services.events.update_membership(CAROL, CAROL, room_id, "join")

    await services.events.update_membership(ALICE, CAROL, room_id, "ban")
    assert await _membership(services, room_id, CAROL) == "ban"
    with pytest.raises(EventRejectedError):
        await services.events.update_membership(CAROL, CAROL, room_id, "join")
    with pytest.raises(MatrixError) as info:
        await services.events.update_membership(ALICE, BOB, room_id, "unban")
    assert info.value.status == 403  # Bob is not banned

    await services.events.update_membership(ALICE, CAROL, room_id, "unban")
    assert await _membership(services, room_id, CAROL) == "leave"
    await services.events.update_membership(CAROL, CAROL, room_id, "join")
    assert await _membership(services, room_id, CAROL) == "join"
    await check_every_event_authorized(services, room_id)


async def test_invalid_membership_requests(database: Database) -> None:
    services = make_services(database)
    room_id = (await services.rooms.create_room(ALICE, CreateRoomRequest())).room_id
    for sender, target, action in [
        (ALICE, BOB, "dance"),
        (ALICE, BOB, "join"),
        (ALICE, BOB, "leave"),
        (ALICE, ALICE, "kick"),
        (ALICE, ALICE, "invite"),
    ]:
        with pytest.raises(MatrixError) as info:
            await services.events.update_membership(sender, target, room_id, action)
        assert (info.value.status, info.value.errcode) == (400, "M_INVALID_PARAM")
    with pytest.raises(MatrixError) as info:
        await services.events.update_membership(ALICE, "@bob:other.example", room_id, "invite")
    assert info.value.status == 403
    with pytest.raises(MatrixError) as info:
        await services.events.update_membership(BOB, BOB, "!unknown:example.org", "join")
    assert info.value.status == 404


async def test_invite_with_is_direct_and_non_member_cannot_invite(database: Database) -> None:
    services = make_services(database)
    room_id = (await services.rooms.create_room(ALICE, CreateRoomRequest())).room_id
    written = await services.events.update_membership(
        ALICE, BOB, room_id, "invite", extra_content={"is_direct": True}
    )
    assert written.event.content == {"membership": "invite", "is_direct": True}
    # Carol is not in the room: she may not invite.
    with pytest.raises(EventRejectedError):
        await services.events.update_membership(
            CAROL, CAROL.replace("carol", "dan"), room_id, "invite"
        )


async def test_joins_carry_the_profile(database: Database) -> None:
    services = make_services(database)
    users = services.stores.users
    for user in (ALICE, BOB):
        await users.create_user(user, None, admin=False, created_ts=1)
    await users.set_displayname(ALICE, "Alice")
    await users.set_displayname(BOB, "Bob")
    services.events = EventService(
        server_name=SERVER,
        writer=services.writer,
        rooms=services.stores.rooms,
        state=services.stores.state,
        events=services.stores.events,
        profiles=users,
    )
    services.rooms = RoomService(
        server_name=SERVER,
        writer=services.writer,
        rooms=services.stores.rooms,
        clock=services.clock,
        ids=SequentialIds("p"),
        profiles=users,
    )
    room_id = (
        await services.rooms.create_room(ALICE, CreateRoomRequest(preset="public_chat"))
    ).room_id
    events = await check_every_event_authorized(services, room_id)
    assert events[1].content == {"displayname": "Alice", "membership": "join"}
    written = await services.events.update_membership(BOB, BOB, room_id, "join")
    assert written.event.content == {"displayname": "Bob", "membership": "join"}
    # Other memberships carry no profile.
    left = await services.events.update_membership(BOB, BOB, room_id, "leave")
    assert left.event.content == {"membership": "leave"}
