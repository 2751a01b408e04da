"""Inbound federation (spec: Server-Server API, "Checks performed on receipt of a PDU",
"Transactions", "Server Access Control Lists (ACLs)"): adversarial PDUs through the
transaction handler over a real database, with real signatures of a fake remote server."""

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import pytest

from myelin.core.errors import SignatureError
from myelin.core.event_signing import load_event, required_signers, verify_event_signature
from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion
from myelin.core.signing import SigningKey, VerifyKey
from myelin.services.events import EventTemplate, build_event
from myelin.services.federation.edus import EduHandler
from myelin.services.federation.membership import FederatedMembership
from myelin.services.federation.receiver import PduReceiver
from myelin.services.federation.serving import RoomEventServer
from myelin.services.federation.transactions import TransactionHandler
from myelin.services.rooms import CreateRoomRequest
from myelin.storage import Database
from myelin.storage.federation_rooms import ReceivedTransactionStore
from tests.services.test_events_support import ALICE, SERVER, SIGNING_KEY, Services, make_services

REMOTE = "remote.test"
BOB = f"@bob:{REMOTE}"
REMOTE_KEY = SigningKey.from_seed("r1", bytes(range(1, 33)))
FORGER_KEY = SigningKey.from_seed("r1", bytes(range(2, 34)))


class Keys:
    """Known verify keys per server; real Ed25519 checks of the required signatures."""

    def __init__(self) -> None:
        self.keys: dict[str, VerifyKey] = {
            SERVER: SIGNING_KEY.verify_key,
            REMOTE: REMOTE_KEY.verify_key,
        }

    async def verify_event_signatures(
        self, pdu: Mapping[str, Any], room_version: RoomVersion
    ) -> None:
        for server in required_signers(pdu, room_version):
            key = self.keys.get(server)
            if key is None:
                raise SignatureError(f"no key for {server}")
            verify_event_signature(pdu, server, key, room_version)


class RemoteServer:
    """The remote side: the events it has, served for get_missing_events, /state, /event_auth."""

    def __init__(self) -> None:
        self.events: dict[str, EventView] = {}
        self.requests: list[str] = []
        self.state_before: dict[str, list[str]] = {}
        self.hand_over_missing = True
        self.serve_state_ids = True

    async def get_json(
        self,
        destination: str,
        path: str,
        query: Mapping[str, str | Sequence[str]] | None = None,
        *,
        ignore_backoff: bool = False,
        timeout_s: float | None = None,
    ) -> Any:
        self.requests.append(path)
        if "/event_auth/" in path:
            event_id = path.rsplit("/", 1)[1].replace("%24", "$")
            return {"auth_chain": [e.json for e in self._auth_chain(event_id)]}
        if "/state_ids/" in path and self.serve_state_ids:
            assert query is not None
            ids = self.state_before[str(query["event_id"])]
            chain_ids = {a.event_id for i in ids for a in self._auth_chain(i)}
            return {"pdu_ids": ids, "auth_chain_ids": sorted(chain_ids)}
        if "/event/" in path:
            event_id = unquote(path.rsplit("/", 1)[1])
            return {"origin": REMOTE, "origin_server_ts": 1, "pdus": [self.events[event_id].json]}
        if "/state/" in path:
            assert query is not None
            ids = self.state_before[str(query["event_id"])]
            chain = {a.event_id: a for i in ids for a in self._auth_chain(i)}
            return {
                "pdus": [self.events[i].json for i in ids],
                "auth_chain": [e.json for e in chain.values()],
            }
        raise AssertionError(path)

    async def post_json(
        self,
        destination: str,
        path: str,
        body: Any,
        query: Mapping[str, str | Sequence[str]] | None = None,
        *,
        ignore_backoff: bool = False,
        timeout_s: float | None = None,
    ) -> Any:
        self.requests.append(path)
        assert "/get_missing_events/" in path
        if not self.hand_over_missing:
            return {"events": []}
        wanted: list[EventView] = []
        for latest in body["latest_events"]:
            for prev in self.events[latest].prev_event_ids:
                if prev in self.events and prev not in body["earliest_events"]:
                    wanted.append(self.events[prev])
        return {"events": [e.json for e in wanted]}

    def _auth_chain(self, event_id: str) -> list[EventView]:
        seen: dict[str, EventView] = {}
        frontier = list(self.events[event_id].auth_event_ids)
        while frontier:
            e = self.events[frontier.pop()]
            if e.event_id not in seen:
                seen[e.event_id] = e
                frontier.extend(e.auth_event_ids)
        return list(seen.values())


class Harness:
    def __init__(self, services: Services, remote: RemoteServer, handler: TransactionHandler):
        self.services = services
        self.remote = remote
        self.handler = handler
        self.txn = 0

    async def send(self, *pdus: Mapping[str, Any], edus: Sequence[Any] = ()) -> dict[str, Any]:
        self.txn += 1
        body = {"origin": REMOTE, "origin_server_ts": 1, "pdus": list(pdus), "edus": list(edus)}
        return await self.handler.on_send(REMOTE, str(self.txn), body)

    async def remote_event(
        self,
        room_id: str,
        template: EventTemplate,
        prevs: Sequence[str],
        auth: Sequence[str],
        key: SigningKey = REMOTE_KEY,
    ) -> EventView:
        """An event built and signed by the remote server (and known to it)."""
        stored = await self.services.stores.events.get_events([*prevs, *auth])
        views = {**{i: EventView(s.json(), i, self.version) for i, s in stored.items()}}
        views.update({i: e for i, e in self.remote.events.items() if i in [*prevs, *auth]})
        event = build_event(
            self.version,
            room_id,
            template,
            prev_events=[views[p] for p in prevs],
            auth_events=[views[a] for a in auth],
            origin_server_ts=self.services.clock.now_ms(),
            server_name=REMOTE,
            signing_key=key,
        )
        self.remote.events[event.event_id] = event
        return event

    @property
    def version(self) -> RoomVersion:
        return self._version

    async def setup_room(self) -> str:
        created = await self.services.rooms.create_room(
            ALICE, CreateRoomRequest(preset="public_chat")
        )
        self._version = created.room_version
        for e in created.events:
            self.remote.events[e.event.event_id] = e.event
        return created.room_id

    async def state_id(self, room_id: str, key: tuple[str, str]) -> str:
        state = await self.services.stores.state.get_current_state(room_id)
        return state[key]

    async def join_bob(self, room_id: str) -> EventView:
        """Bob (remote) joins: auth create, join rules, power levels."""
        extremities = await self.services.stores.events.get_forward_extremities(room_id)
        auth = [
            await self.state_id(room_id, ("m.room.create", "")),
            await self.state_id(room_id, ("m.room.join_rules", "")),
            await self.state_id(room_id, ("m.room.power_levels", "")),
        ]
        join = await self.remote_event(
            room_id,
            EventTemplate("m.room.member", BOB, {"membership": "join"}, state_key=BOB),
            extremities,
            auth,
        )
        response = await self.send(join.json)
        assert response == {"pdus": {join.event_id: {}}}
        return join

    async def message_auth(self, room_id: str, member_event: str) -> list[str]:
        return [
            await self.state_id(room_id, ("m.room.create", "")),
            await self.state_id(room_id, ("m.room.power_levels", "")),
            member_event,
        ]


@pytest.fixture
async def harness(database: Database) -> Harness:
    return make_harness(database)


def make_harness(database: Database) -> Harness:
    """The services over ``database`` receiving from a fake remote server."""
    services = make_services(database)
    remote = RemoteServer()
    receiver = PduReceiver(
        server_name=SERVER,
        client=remote,
        keys=Keys(),
        writer=services.writer,
        events=services.stores.events,
    )

    async def allow(room_id: str, origin: str) -> bool:
        return True

    handler = TransactionHandler(
        receiver=receiver,
        edus=EduHandler(allow),
        rooms=services.stores.rooms,
        state=services.stores.state,
        events=services.stores.events,
        received=ReceivedTransactionStore(database),
        clock=services.clock,
    )
    return Harness(services, remote, handler)


async def test_remote_join_and_message_are_accepted(harness: Harness) -> None:
    room_id = await harness.setup_room()
    join = await harness.join_bob(room_id)
    assert await harness.services.events.current_membership(room_id, BOB) == "join"
    message = await harness.remote_event(
        room_id,
        EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "hi"}),
        [join.event_id],
        await harness.message_auth(room_id, join.event_id),
    )
    assert await harness.send(message.json) == {"pdus": {message.event_id: {}}}
    stored = await harness.services.stores.events.get_event(message.event_id)
    assert stored is not None and not stored.outlier and stored.rejected_reason is None
    extremities = await harness.services.stores.events.get_forward_extremities(room_id)
    assert extremities == [message.event_id]


async def test_forged_signature_is_dropped(harness: Harness) -> None:
    room_id = await harness.setup_room()
    extremities = await harness.services.stores.events.get_forward_extremities(room_id)
    forged = await harness.remote_event(
        room_id,
        EventTemplate("m.room.member", BOB, {"membership": "join"}, state_key=BOB),
        extremities,
        [
            await harness.state_id(room_id, ("m.room.create", "")),
            await harness.state_id(room_id, ("m.room.join_rules", "")),
            await harness.state_id(room_id, ("m.room.power_levels", "")),
        ],
        key=FORGER_KEY,
    )
    assert await harness.send(forged.json) == {"pdus": {}}
    assert await harness.services.stores.events.get_event(forged.event_id) is None
    assert await harness.services.events.current_membership(room_id, BOB) is None


async def test_bad_content_hash_is_processed_redacted(harness: Harness) -> None:
    room_id = await harness.setup_room()
    join = await harness.join_bob(room_id)
    message = await harness.remote_event(
        room_id,
        EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "original"}),
        [join.event_id],
        await harness.message_auth(room_id, join.event_id),
    )
    tampered = dict(message.json)
    tampered["content"] = {"msgtype": "m.text", "body": "tampered"}
    # The signature covers the redacted form only: it still checks; the hash does not.
    assert load_event(tampered, harness.version).event_id == message.event_id
    assert await harness.send(tampered) == {"pdus": {message.event_id: {}}}
    stored = await harness.services.stores.events.get_event(message.event_id)
    assert stored is not None and stored.json()["content"] == {}


async def test_event_failing_auth_is_rejected(harness: Harness) -> None:
    room_id = await harness.setup_room()
    # Bob never joined: his message fails the auth rules against its own auth events.
    extremities = await harness.services.stores.events.get_forward_extremities(room_id)
    message = await harness.remote_event(
        room_id,
        EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "intruder"}),
        extremities,
        [
            await harness.state_id(room_id, ("m.room.create", "")),
            await harness.state_id(room_id, ("m.room.power_levels", "")),
        ],
    )
    response = await harness.send(message.json)
    assert "error" in response["pdus"][message.event_id]
    stored = await harness.services.stores.events.get_event(message.event_id)
    assert stored is not None and stored.rejected_reason is not None
    assert message.event_id not in await harness.services.stores.events.get_forward_extremities(
        room_id
    )


async def test_soft_fail_against_current_state(harness: Harness) -> None:
    room_id = await harness.setup_room()
    join = await harness.join_bob(room_id)
    # Alice bans Bob; Bob's server, not having seen it, sends a message on his join.
    await harness.services.events.update_membership(ALICE, BOB, room_id, "ban")
    message = await harness.remote_event(
        room_id,
        EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "after ban"}),
        [join.event_id],
        await harness.message_auth(room_id, join.event_id),
    )
    response = await harness.send(message.json)
    assert response == {"pdus": {message.event_id: {}}}  # accepted at its position
    stored = await harness.services.stores.events.get_event(message.event_id)
    assert stored is not None and stored.soft_failed and stored.rejected_reason is None
    extremities = await harness.services.stores.events.get_forward_extremities(room_id)
    assert message.event_id not in extremities
    timeline = await harness.services.stores.events.get_room_events(room_id, limit=100)
    assert message.event_id not in [e.event_id for e in timeline]


async def test_retried_transaction_is_not_processed_again(harness: Harness) -> None:
    room_id = await harness.setup_room()
    extremities = await harness.services.stores.events.get_forward_extremities(room_id)
    join = await harness.remote_event(
        room_id,
        EventTemplate("m.room.member", BOB, {"membership": "join"}, state_key=BOB),
        extremities,
        [
            await harness.state_id(room_id, ("m.room.create", "")),
            await harness.state_id(room_id, ("m.room.join_rules", "")),
            await harness.state_id(room_id, ("m.room.power_levels", "")),
        ],
    )
    body = {"origin": REMOTE, "origin_server_ts": 1, "pdus": [join.json]}
    first = await harness.handler.on_send(REMOTE, "same", body)
    # Leave the room behind Bob's back: a reprocessed join would be "already known" anyway,
    # so check the stored response is replayed even for a different body.
    second = await harness.handler.on_send(REMOTE, "same", {"pdus": []})
    assert first == second == {"pdus": {join.event_id: {}}}


async def test_missing_prev_events_are_fetched(harness: Harness) -> None:
    room_id = await harness.setup_room()
    join = await harness.join_bob(room_id)
    auth = await harness.message_auth(room_id, join.event_id)
    first = await harness.remote_event(
        room_id, EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "1"}),
        [join.event_id], auth,
    )  # fmt: skip
    second = await harness.remote_event(
        room_id, EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "2"}),
        [first.event_id], auth,
    )  # fmt: skip
    assert await harness.send(second.json) == {"pdus": {second.event_id: {}}}
    assert any("get_missing_events" in r for r in harness.remote.requests)
    stored = await harness.services.stores.events.get_events([first.event_id, second.event_id])
    assert all(not s.outlier and s.rejected_reason is None for s in stored.values())
    assert len(stored) == 2
    assert await harness.services.stores.events.get_forward_extremities(room_id) == [
        second.event_id
    ]


@pytest.mark.parametrize("serve_state_ids", [True, False])
async def test_gap_filled_with_state_and_auth_chain(
    harness: Harness, serve_state_ids: bool
) -> None:
    room_id = await harness.setup_room()
    join = await harness.join_bob(room_id)
    auth = await harness.message_auth(room_id, join.event_id)
    # A state event get_missing_events will not hand over: Bob's new display name.
    rename = await harness.remote_event(
        room_id,
        EventTemplate(
            "m.room.member", BOB, {"membership": "join", "displayname": "Bob"}, state_key=BOB
        ),
        [join.event_id],
        [*auth, await harness.state_id(room_id, ("m.room.join_rules", ""))],
    )
    # And one outside the next event's auth chain: another remote user joins.
    carol = f"@carol:{REMOTE}"
    carol_join = await harness.remote_event(
        room_id,
        EventTemplate("m.room.member", carol, {"membership": "join"}, state_key=carol),
        [rename.event_id],
        [*auth[:2], await harness.state_id(room_id, ("m.room.join_rules", ""))],
    )
    after = await harness.remote_event(
        room_id, EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "3"}),
        [carol_join.event_id], [*auth[:2], rename.event_id],
    )  # fmt: skip
    state = await harness.services.stores.state.get_current_state(room_id)
    state[("m.room.member", BOB)] = rename.event_id
    state[("m.room.member", carol)] = carol_join.event_id
    harness.remote.state_before[after.event_id] = list(state.values())

    harness.remote.hand_over_missing = False
    harness.remote.serve_state_ids = serve_state_ids
    harness.remote.requests.clear()
    assert await harness.send(after.json) == {"pdus": {after.event_id: {}}}
    kinds = [r.split("/")[4] for r in harness.remote.requests]
    if serve_state_ids:
        # The auth chain (with the rename), the state's IDs, then only the one event still
        # not held (Carol's join): no /state.
        assert kinds == ["event_auth", "get_missing_events", "state_ids", "event"]
        assert unquote(harness.remote.requests[3].rsplit("/", 1)[1]) == carol_join.event_id
    else:
        # /state_ids failed: the whole state with /state.
        assert kinds == ["event_auth", "get_missing_events", "state_ids", "state"]
    ids = [rename.event_id, carol_join.event_id, after.event_id]
    stored = await harness.services.stores.events.get_events(ids)
    assert stored[rename.event_id].outlier and stored[carol_join.event_id].outlier
    assert not stored[after.event_id].outlier
    current = await harness.services.stores.state.get_current_state(room_id)
    assert current[("m.room.member", BOB)] == rename.event_id
    assert current[("m.room.member", carol)] == carol_join.event_id


async def test_server_acl_denies_pdus(harness: Harness) -> None:
    room_id = await harness.setup_room()
    join = await harness.join_bob(room_id)
    await harness.services.events.send_state_event(
        ALICE, room_id, "m.room.server_acl", "", {"allow": [SERVER], "deny": []}
    )
    message = await harness.remote_event(
        room_id,
        EventTemplate("m.room.message", BOB, {"msgtype": "m.text", "body": "denied"}),
        [join.event_id],
        await harness.message_auth(room_id, join.event_id),
    )
    # Ignored, with an error for its event ID in the response.
    assert await harness.send(message.json) == {
        "pdus": {message.event_id: {"error": "Server is banned by the room's ACL"}}
    }
    assert await harness.services.stores.events.get_event(message.event_id) is None


async def test_too_many_pdus_is_refused(harness: Harness) -> None:
    from myelin.services.errors import MatrixError

    with pytest.raises(MatrixError) as info:
        await harness.handler.on_send(REMOTE, "big", {"pdus": [{}] * 51})
    assert info.value.status == 400


# Joining Rooms (``send_join`` v2): the response names the state "state" (``/state`` calls it
# "pdus"), the create event in it; Synapse refuses a join without ("No create event in state").
async def test_send_join_answers_state_and_auth_chain(harness: Harness) -> None:
    services = harness.services
    room_id = await harness.setup_room()
    serving = RoomEventServer(
        server_name=SERVER,
        events=services.stores.events,
        state=services.stores.state,
        rooms=services.stores.rooms,
        clock=services.clock,
    )
    membership = FederatedMembership(
        server_name=SERVER,
        signing_key=SIGNING_KEY,
        writer=services.writer,
        receiver=PduReceiver(
            server_name=SERVER,
            client=harness.remote,
            keys=Keys(),
            writer=services.writer,
            events=services.stores.events,
        ),
        serving=serving,
        keys=Keys(),
        events=services.stores.events,
        state=services.stores.state,
    )
    answer = await membership.make_membership(
        REMOTE, room_id, BOB, "join", [harness.version.identifier]
    )
    template = answer["event"]
    join = await harness.remote_event(
        room_id,
        EventTemplate("m.room.member", BOB, template["content"], state_key=BOB),
        template["prev_events"],
        template["auth_events"],
    )
    response = await membership.send_membership(REMOTE, room_id, join.event_id, join.json, "join")
    assert "pdus" not in response
    state_types = {(e["type"], e["state_key"]) for e in response["state"]}
    assert ("m.room.create", "") in state_types
    assert ("m.room.member", BOB) not in state_types  # the state before the join
    assert response["event"]["state_key"] == BOB
    assert isinstance(response["auth_chain"], list)
    assert response["origin"] == SERVER
    assert sorted(response["servers_in_room"]) == sorted({SERVER, REMOTE})
