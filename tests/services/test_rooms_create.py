"""Room creation through the write path, on both database engines: every room version and
preset, the spec's order of initial events, and the request's options."""

from typing import Any

import pytest

from myelin.core.event_signing import verify_event_signature
from myelin.core.hashes import check_content_hash
from myelin.core.room_versions import KNOWN_ROOM_VERSIONS, get_room_version
from myelin.services.errors import MatrixError
from myelin.services.rooms import CreateRoomRequest, InitialStateEvent
from myelin.storage import Database
from tests.services.test_events_support import (
    ALICE,
    BOB,
    CAROL,
    SERVER,
    SIGNING_KEY,
    check_every_event_authorized,
    current_state_content,
    make_services,
)

VERSIONS = sorted(KNOWN_ROOM_VERSIONS, key=int)
PRESETS = ["private_chat", "trusted_private_chat", "public_chat"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("preset", PRESETS)
async def test_create_room_every_version_and_preset(
    database: Database, version: str, preset: str
) -> None:
    services = make_services(database)
    request = CreateRoomRequest(
        room_version=version,
        preset=preset,
        name="The room",
        topic="About things",
        invite=[BOB],
        room_alias_name="things",
    )
    created = await services.rooms.create_room(ALICE, request)
    room_version = get_room_version(version)
    room_id = created.room_id

    events = await check_every_event_authorized(services, room_id)
    # The spec's order: create, creator join, power levels, canonical alias, preset events,
    # (initial_state), name, topic, invites.
    assert [(e.type, e.state_key) for e in events] == [
        ("m.room.create", ""),
        ("m.room.member", ALICE),
        ("m.room.power_levels", ""),
        ("m.room.canonical_alias", ""),
        ("m.room.join_rules", ""),
        ("m.room.history_visibility", ""),
        ("m.room.guest_access", ""),
        ("m.room.name", ""),
        ("m.room.topic", ""),
        ("m.room.member", BOB),
    ]
    assert [w.event.event_id for w in created.events] == [e.event_id for e in events]
    orderings = [w.stream_ordering for w in created.events]
    assert orderings == sorted(orderings) and len(set(orderings)) == len(orderings)
    # A chain: each event's prev is the one before, depth counts up, one forward extremity.
    for i, event in enumerate(events):
        assert event.prev_event_ids == ([] if i == 0 else [events[i - 1].event_id])
        assert event.depth == i + 1
        assert check_content_hash(event.json, strict=room_version.strict_canonicaljson)
        verify_event_signature(event.json, SERVER, SIGNING_KEY.verify_key, room_version)
        assert event.room_id == room_id
    assert await services.stores.events.get_forward_extremities(room_id) == [events[-1].event_id]

    create = events[0]
    if room_version.room_id_is_create_event_id:
        assert "room_id" not in create.json
        assert room_id == "!" + create.event_id[1:]
        assert all(create.event_id not in e.auth_event_ids for e in events)
        assert "creator" not in create.content
    else:
        assert room_id.endswith(":" + SERVER)
        assert all(create.event_id in e.auth_event_ids for e in events[1:])
    assert create.content["room_version"] == version
    if room_version.creator_is_sender:
        assert "creator" not in create.content
    else:
        assert create.content["creator"] == ALICE
    if room_version.event_id_format.value == "v1":
        assert all(e.event_id.endswith(":" + SERVER) for e in events)
        assert "origin" in create.json
    if room_version.redaction.value == "v11":
        assert "origin" not in create.json

    state = await current_state_content(services, room_id)
    expected_rules = {"private_chat": "invite", "trusted_private_chat": "invite"}
    assert state[("m.room.join_rules", "")] == {"join_rule": expected_rules.get(preset, "public")}
    assert state[("m.room.history_visibility", "")] == {"history_visibility": "shared"}
    assert state[("m.room.guest_access", "")] == {
        "guest_access": "forbidden" if preset == "public_chat" else "can_join"
    }
    assert state[("m.room.name", "")] == {"name": "The room"}
    assert state[("m.room.topic", "")]["topic"] == "About things"
    assert state[("m.room.canonical_alias", "")] == {"alias": f"#things:{SERVER}"}
    assert state[("m.room.member", ALICE)] == {"membership": "join"}
    assert state[("m.room.member", BOB)] == {"membership": "invite"}
    assert len(state) == 10

    power = state[("m.room.power_levels", "")]
    if room_version.privileged_creators:
        assert power["users"] == {}
        assert power["events"]["m.room.tombstone"] > power["state_default"]
        if preset == "trusted_private_chat":
            assert create.content["additional_creators"] == [BOB]
        else:
            assert "additional_creators" not in create.content
    else:
        expected_users = {ALICE: 100}
        if preset == "trusted_private_chat":
            expected_users[BOB] = 100
        assert power["users"] == expected_users

    record = await services.stores.rooms.get_room(room_id)
    assert record is not None
    assert (record.room_version, record.creator) == (version, ALICE)
    alias = await services.stores.rooms.get_alias(f"#things:{SERVER}")
    assert alias is not None and alias.room_id == room_id


async def test_default_version_is_11_and_visibility_picks_the_preset(database: Database) -> None:
    services = make_services(database)
    created = await services.rooms.create_room(ALICE, CreateRoomRequest(visibility="public"))
    assert created.room_version.identifier == "11"
    state = await current_state_content(services, created.room_id)
    assert state[("m.room.join_rules", "")] == {"join_rule": "public"}
    assert state[("m.room.power_levels", "")]["invite"] == 50
    record = await services.stores.rooms.get_room(created.room_id)
    assert record is not None and record.is_public

    private = await services.rooms.create_room(ALICE, CreateRoomRequest())
    state = await current_state_content(services, private.room_id)
    assert state[("m.room.join_rules", "")] == {"join_rule": "invite"}
    record = await services.stores.rooms.get_room(private.room_id)
    assert record is not None and not record.is_public
    # Without name, topic, alias or invites: create, join, PL and the three preset events.
    assert len(state) == 6


async def test_initial_state_overrides_preset_and_name_overrides_initial_state(
    database: Database,
) -> None:
    services = make_services(database)
    request = CreateRoomRequest(
        preset="private_chat",
        name="Named",
        initial_state=[
            InitialStateEvent("m.room.join_rules", {"join_rule": "public"}),
            InitialStateEvent("m.room.name", {"name": "ignored"}),
            InitialStateEvent("m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"}),
            InitialStateEvent("org.example.custom", {"x": 1}, state_key="k"),
        ],
    )
    created = await services.rooms.create_room(ALICE, request)
    events = await check_every_event_authorized(services, created.room_id)
    assert [(e.type, e.state_key) for e in events] == [
        ("m.room.create", ""),
        ("m.room.member", ALICE),
        ("m.room.power_levels", ""),
        ("m.room.history_visibility", ""),
        ("m.room.guest_access", ""),
        ("m.room.join_rules", ""),
        ("m.room.encryption", ""),
        ("org.example.custom", "k"),
        ("m.room.name", ""),
    ]
    state = await current_state_content(services, created.room_id)
    assert state[("m.room.join_rules", "")] == {"join_rule": "public"}
    assert state[("m.room.name", "")] == {"name": "Named"}


async def test_power_level_override_and_creation_content(database: Database) -> None:
    services = make_services(database)
    request = CreateRoomRequest(
        room_version="10",
        creation_content={"m.federate": False, "creator": "@mallory:evil.example"},
        power_level_content_override={"users_default": 10, "events": {"m.room.name": 0}},
    )
    created = await services.rooms.create_room(ALICE, request)
    events = await check_every_event_authorized(services, created.room_id)
    assert events[0].content == {"m.federate": False, "creator": ALICE, "room_version": "10"}
    power = events[2].content
    assert power["users_default"] == 10
    assert power["events"] == {"m.room.name": 0}  # replaced, not merged
    assert power["users"] == {ALICE: 100}


async def test_v12_additional_creators(database: Database) -> None:
    services = make_services(database)
    request = CreateRoomRequest(
        room_version="12",
        preset="trusted_private_chat",
        invite=[BOB],
        creation_content={"additional_creators": [CAROL, BOB]},
    )
    created = await services.rooms.create_room(ALICE, request)
    events = await check_every_event_authorized(services, created.room_id)
    assert events[0].content["additional_creators"] == [CAROL, BOB]
    assert events[2].content["users"] == {}


@pytest.mark.parametrize(
    ("request_args", "errcode"),
    [
        ({"room_version": "99"}, "M_UNSUPPORTED_ROOM_VERSION"),
        ({"preset": "party"}, "M_INVALID_PARAM"),
        ({"visibility": "hidden"}, "M_INVALID_PARAM"),
        ({"invite": ["not-a-user"]}, "M_INVALID_PARAM"),
        ({"invite": [ALICE]}, "M_INVALID_PARAM"),
        ({"room_alias_name": "a:b"}, "M_INVALID_PARAM"),
        ({"room_alias_name": "has space"}, "M_INVALID_PARAM"),
        ({"initial_state": [InitialStateEvent("m.room.create", {})]}, "M_INVALID_PARAM"),
        (
            {"room_version": "12", "creation_content": {"additional_creators": "x"}},
            "M_INVALID_PARAM",
        ),
        (
            {"room_version": "12", "power_level_content_override": {"users": {ALICE: 100}}},
            "M_INVALID_ROOM_STATE",
        ),
        (
            # The creator gives up the power to set the name before setting it.
            {"power_level_content_override": {"users": {}}, "name": "x"},
            "M_INVALID_ROOM_STATE",
        ),
    ],
)
async def test_invalid_requests_create_nothing(
    database: Database, request_args: dict[str, Any], errcode: str
) -> None:
    services = make_services(database)
    with pytest.raises(MatrixError) as info:
        await services.rooms.create_room(ALICE, CreateRoomRequest(**request_args))
    assert info.value.errcode == errcode
    assert info.value.status == 400
    assert await services.stores.events.get_max_stream_ordering() == 0
    assert await services.stores.rooms.list_public_rooms() == []


async def test_alias_in_use(database: Database) -> None:
    services = make_services(database)
    await services.rooms.create_room(ALICE, CreateRoomRequest(room_alias_name="taken"))
    before = await services.stores.events.get_max_stream_ordering()
    with pytest.raises(MatrixError) as info:
        await services.rooms.create_room(BOB, CreateRoomRequest(room_alias_name="taken"))
    assert (info.value.status, info.value.errcode) == (400, "M_ROOM_IN_USE")
    assert await services.stores.events.get_max_stream_ordering() == before


async def test_is_direct_invites_and_remote_invites(database: Database) -> None:
    services = make_services(database)
    created = await services.rooms.create_room(
        ALICE, CreateRoomRequest(invite=[BOB, CAROL], is_direct=True)
    )
    state = await current_state_content(services, created.room_id)
    assert state[("m.room.member", BOB)] == {"membership": "invite", "is_direct": True}
    assert state[("m.room.member", CAROL)] == {"membership": "invite", "is_direct": True}
    with pytest.raises(MatrixError) as info:
        await services.rooms.create_room(ALICE, CreateRoomRequest(invite=["@dan:other.example"]))
    assert info.value.status == 403
