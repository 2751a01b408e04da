"""The interop scenario driven by matrix-nio (test harness; Client-Server API: registration,
login, profiles, rooms, /sync, typing, receipts, read markers, /messages, relations).

``run(base_url, tag)`` plays the scenario described in ``facts.py`` with two ``AsyncClient``s and
returns the facts it observed and the steps that failed. A step the server answers with an error
fails with the step's name and nio's error response; a wait that does not come true within
``WAIT_SECONDS`` fails with what was seen instead.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nio import (
    AsyncClient,
    AsyncClientConfig,
    FullyReadEvent,
    JoinedMembersResponse,
    JoinResponse,
    LoginResponse,
    MessageDirection,
    ProfileGetResponse,
    ProfileSetDisplayNameResponse,
    ReceiptEvent,
    RegisterResponse,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomInviteResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomReadMarkersResponse,
    RoomSendResponse,
    RoomTypingResponse,
    SyncResponse,
    TypingNoticeEvent,
    UpdateReceiptMarkerResponse,
)

from tests.interop import facts
from tests.interop.facts import ALICE, BOB, username, who

PASSWORD = "interop password 1"
WAIT_SECONDS = 20.0
SYNC_TIMEOUT_MS = 1000
MAX_PAGES = 10

T = TypeVar("T")


class ScenarioError(AssertionError):
    """A scenario step failed; the message names the step and what the server answered."""


def ok(step: str, response: object, expected: type[T]) -> T:
    """``response`` if it is the success type, else ``ScenarioError`` with nio's error."""
    if not isinstance(response, expected):
        detail = getattr(response, "transport_response", None)
        status = getattr(detail, "status", "?")
        raise ScenarioError(f"{step}: HTTP {status}: {response}")
    return response


def _config() -> AsyncClientConfig:
    return AsyncClientConfig(
        encryption_enabled=False,
        store_sync_tokens=False,
        max_limit_exceeded=0,
        max_timeouts=1,
        request_timeout=30,
    )


class Syncer:
    """One user's view of one room, accumulated from successive ``/sync`` responses."""

    def __init__(self, client: AsyncClient, name: str) -> None:
        self.client = client
        self.name = name
        self.since: str | None = None
        self.invites: set[str] = set()
        self.invite_state: dict[str, list[dict[str, Any]]] = {}
        self.timeline: list[dict[str, Any]] = []
        self.state: list[dict[str, Any]] = []
        self.typing: dict[str, list[str]] = {}
        self.receipts: list[tuple[str, str, str]] = []  # (event ID, type, user)
        self.fully_read: dict[str, str] = {}

    async def sync_once(self) -> None:
        response = ok(
            f"{self.name}: GET /sync",
            await self.client.sync(timeout=SYNC_TIMEOUT_MS, since=self.since),
            SyncResponse,
        )
        self.since = response.next_batch
        self.invites.update(response.rooms.invite)
        for room_id, invited in response.rooms.invite.items():
            self.invite_state[room_id] = [getattr(e, "source", {}) for e in invited.invite_state]
        for room_id, info in response.rooms.join.items():
            self.invites.discard(room_id)
            self.state += [{**e.source, "room_id": room_id} for e in info.state]
            self.timeline += [{**e.source, "room_id": room_id} for e in info.timeline.events]
            for event in info.ephemeral:
                if isinstance(event, TypingNoticeEvent):
                    self.typing[room_id] = list(event.users)
                elif isinstance(event, ReceiptEvent):
                    self.receipts += [
                        (r.event_id, r.receipt_type, r.user_id) for r in event.receipts
                    ]
            for event in info.account_data:
                if isinstance(event, FullyReadEvent):
                    self.fully_read[room_id] = event.event_id

    async def until(self, what: str, condition: Callable[[], bool]) -> None:
        """Sync until ``condition()`` holds; ``ScenarioError`` after ``WAIT_SECONDS``."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise ScenarioError(
                    f"{self.name}: never saw {what} through /sync within {WAIT_SECONDS:.0f} s;"
                    f" timeline types {[e.get('type') for e in self.timeline]},"
                    f" typing {self.typing}, receipts {self.receipts}, invites {self.invites}"
                )
            await self.sync_once()

    def has_event(self, event_id: str) -> bool:
        return any(e.get("event_id") == event_id for e in self.timeline)

    def member_content(self, room_id: str, user_id: str) -> dict[str, Any]:
        """The latest ``m.room.member`` content of ``user_id`` seen (state, then timeline)."""
        latest: dict[str, Any] = {}
        for event in [*self.state, *self.timeline]:
            if (
                event.get("room_id") == room_id
                and event.get("type") == "m.room.member"
                and event.get("state_key") == user_id
            ):
                latest = event.get("content", {})
        return latest


def _messages(events: list[dict[str, Any]], tag: str) -> list[list[str]]:
    """``[sender, body]`` of the plain messages (no relation) among ``events``."""
    return [
        [who(e["sender"], tag), e["content"].get("body")]
        for e in events
        if e.get("type") == "m.room.message" and "m.relates_to" not in e.get("content", {})
    ]


async def _register_and_login(base_url: str, name: str, tag: str) -> tuple[AsyncClient, str]:
    """Register ``name`` (nio's dummy-auth registration) and log in anew with the password."""
    registering = AsyncClient(base_url, config=_config())
    try:
        registered = ok(
            f"{name}: POST /register",
            await registering.register(username(name, tag), PASSWORD, "nio register"),
            RegisterResponse,
        )
    finally:
        await registering.close()
    client = AsyncClient(base_url, user=username(name, tag), config=_config())
    ok(f"{name}: POST /login", await client.login(PASSWORD, "nio login"), LoginResponse)
    return client, registered.user_id


@dataclass
class Party:
    """One user of the scenario: the logged-in client, the user ID, the view from /sync."""

    client: AsyncClient
    user_id: str
    view: Syncer


@dataclass
class Context:
    """What the phases after the message exchange share."""

    alice: Party
    bob: Party
    tag: str
    observed: dict[str, Any]
    room: str = ""
    ids: dict[str, str] = field(default_factory=dict)  # body -> event ID

    def body_of(self, event_id: str) -> str | None:
        return next((body for body, known in self.ids.items() if known == event_id), None)


async def run(base_url: str, tag: str) -> tuple[dict[str, Any], list[str]]:
    """Play the scenario against the homeserver at ``base_url``: the facts observed, failures.

    The phases after the message exchange (typing, receipts, history, relations, profiles) are
    independent: each one that fails is recorded and the next is still played. A failure before
    them (registration, login, the room, the exchange) ends the run.
    """
    observed: dict[str, Any] = {}
    failures: list[str] = []
    clients: list[AsyncClient] = []
    try:
        a, a_id = await _register_and_login(base_url, ALICE, tag)
        clients.append(a)
        b, b_id = await _register_and_login(base_url, BOB, tag)
        clients.append(b)
        observed["registered"] = [who(a_id, tag), who(b_id, tag)]
        observed["logged_in"] = [who(a.user_id, tag), who(b.user_id, tag)]
        context = Context(
            Party(a, a_id, Syncer(a, ALICE)), Party(b, b_id, Syncer(b, BOB)), tag, observed
        )
        await _room_and_messages(context)
        for phase in (_fresh_login, _typing, _receipts, _history, _relations, _profiles):
            try:
                await phase(context)
            except ScenarioError as error:
                failures.append(str(error))
    except ScenarioError as error:
        failures.append(str(error))
    finally:
        for client in clients:
            await client.close()
    return observed, failures


async def _room_and_messages(context: Context) -> None:
    """Display names, the room, the invite and join, and four messages in turn."""
    a, b, b_id = context.alice.client, context.bob.client, context.bob.user_id
    sa, sb = context.alice.view, context.bob.view
    observed, tag = context.observed, context.tag
    await sa.sync_once()
    await sb.sync_once()
    ok(
        "alice: PUT displayname",
        await a.set_displayname(facts.ALICE_NAME),
        ProfileSetDisplayNameResponse,
    )
    ok(
        "bob: PUT displayname",
        await b.set_displayname(facts.BOB_NAME),
        ProfileSetDisplayNameResponse,
    )

    created = ok(
        "alice: POST /createRoom",
        await a.room_create(name="interop", preset=RoomPreset.private_chat),
        RoomCreateResponse,
    )
    room = context.room = created.room_id
    ok("alice: POST invite", await a.room_invite(room, b_id), RoomInviteResponse)
    await sb.until("the invite", lambda: room in sb.invites)
    observed["invite_seen_by_bob"] = True
    observed["invite_room_name"] = next(
        (
            e.get("content", {}).get("name")
            for e in sb.invite_state.get(room, [])
            if e.get("type") == "m.room.name"
        ),
        None,
    )
    ok("bob: POST join", await b.join(room), JoinResponse)
    await sa.until("bob's join", lambda: sa.member_content(room, b_id).get("membership") == "join")
    members = ok("alice: GET joined_members", await a.joined_members(room), JoinedMembersResponse)
    observed["joined_members"] = sorted(who(m.user_id, tag) for m in members.members)

    # Messages both ways, each waited for on the other side.
    ids = context.ids
    for sender, body in facts.EXCHANGE:
        client, other = (a, sb) if sender == ALICE else (b, sa)
        sent = ok(
            f"{sender}: PUT send m.room.message",
            await client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": body}),
            RoomSendResponse,
        )
        ids[body] = sent.event_id
        await _wait_for_event(other, body, sent.event_id)
    await sa.until("bob's last message", lambda: sa.has_event(ids["second from bob"]))
    await sb.until("its own last message", lambda: sb.has_event(ids["second from bob"]))
    observed["timeline_seen_by_alice"] = _messages(sa.timeline, tag)
    observed["timeline_seen_by_bob"] = _messages(sb.timeline, tag)


async def _wait_for_event(view: Syncer, body: str, event_id: str) -> None:
    await view.until(f"message {body!r}", lambda: view.has_event(event_id))


async def _fresh_login(context: Context) -> None:
    """B logs in on a second device; its first /sync (timeline limit 3) shows the room."""
    client = AsyncClient(
        context.alice.client.homeserver,
        user=username(BOB, context.tag),
        config=_config(),
    )
    try:
        ok("bob: POST /login (second device)", await client.login(PASSWORD, "nio 2"), LoginResponse)
        response = ok(
            "bob: GET /sync (second device, initial)",
            await client.sync(timeout=0, sync_filter={"room": {"timeline": {"limit": 3}}}),
            SyncResponse,
        )
    finally:
        await client.close()
    info = response.rooms.join.get(context.room)
    if info is None:
        raise ScenarioError(f"bob: the second device's initial /sync lacks {context.room}")
    events = [e.source for e in [*info.state, *info.timeline.events]]
    context.observed["fresh_login"] = {
        "timeline": _messages([e.source for e in info.timeline.events], context.tag),
        "limited": info.timeline.limited,
        "room_name": next(
            (e["content"].get("name") for e in events if e.get("type") == "m.room.name"), None
        ),
    }


async def _typing(context: Context) -> None:
    """A types, B sees it; A stops, B sees that."""
    a, a_id, sb, room = context.alice.client, context.alice.user_id, context.bob.view, context.room
    ok("alice: PUT typing true", await a.room_typing(room, True, 30_000), RoomTypingResponse)
    await sb.until("alice typing", lambda: a_id in sb.typing.get(room, []))
    context.observed["typing_seen_by_bob"] = [who(u, context.tag) for u in sb.typing[room]]
    ok("alice: PUT typing false", await a.room_typing(room, False), RoomTypingResponse)
    await sb.until("alice stop typing", lambda: sb.typing.get(room) == [])
    context.observed["typing_stopped_seen_by_bob"] = sb.typing[room]


async def _receipts(context: Context) -> None:
    """B's read receipt seen by A, then B's fully-read marker in B's room account data."""
    b, b_id, sa, sb = context.bob.client, context.bob.user_id, context.alice.view, context.bob.view
    room = context.room
    read = context.ids["second from alice"]
    ok("bob: POST receipt", await b.update_receipt_marker(room, read), UpdateReceiptMarkerResponse)
    await sa.until("bob's receipt", lambda: any(r[2] == b_id for r in sa.receipts))
    receipt = next(r for r in sa.receipts if r[2] == b_id)
    context.observed["receipt_seen_by_alice"] = {
        "user": who(receipt[2], context.tag),
        "type": receipt[1],
        "body": context.body_of(receipt[0]),
    }
    marker = context.ids["second from bob"]
    ok(
        "bob: POST read_markers",
        await b.room_read_markers(room, fully_read_event=marker),
        RoomReadMarkersResponse,
    )
    await sb.until("its fully-read marker", lambda: sb.fully_read.get(room) == marker)
    context.observed["fully_read_seen_by_bob"] = context.body_of(sb.fully_read[room])


async def _history(context: Context) -> None:
    """Paginate backwards from A's latest sync token, ``PAGE_SIZE`` events a page."""
    a, token = context.alice.client, context.alice.view.since
    seen: list[dict[str, Any]] = []
    for page in range(MAX_PAGES):
        response = ok(
            f"alice: GET /messages page {page}",
            await a.room_messages(
                context.room, start=token, direction=MessageDirection.back, limit=facts.PAGE_SIZE
            ),
            RoomMessagesResponse,
        )
        seen += [e.source for e in response.chunk]
        if not response.chunk or not response.end:
            break
        token = response.end
    context.observed["history_messages"] = _messages(seen, context.tag)
    context.observed["history_reached_create"] = any(e.get("type") == "m.room.create" for e in seen)


async def _relations(context: Context) -> None:
    """An edit by A and a reaction by B on A's first message, seen by the other side."""
    a, b, sa, sb = context.alice.client, context.bob.client, context.alice.view, context.bob.view
    room, tag, observed = context.room, context.tag, context.observed
    target = context.ids["hello from alice"]
    edit = ok(
        "alice: PUT send m.replace",
        await a.room_send(
            room,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": f"* {facts.EDITED_BODY}",
                "m.new_content": {"msgtype": "m.text", "body": facts.EDITED_BODY},
                "m.relates_to": {"rel_type": "m.replace", "event_id": target},
            },
        ),
        RoomSendResponse,
    )
    reaction = ok(
        "bob: PUT send m.reaction",
        await b.room_send(
            room,
            "m.reaction",
            {
                "m.relates_to": {
                    "rel_type": "m.annotation",
                    "event_id": target,
                    "key": facts.REACTION_KEY,
                }
            },
        ),
        RoomSendResponse,
    )
    await sb.until("alice's edit", lambda: sb.has_event(edit.event_id))
    seen_edit = next(e for e in sb.timeline if e.get("event_id") == edit.event_id)
    observed["edit_seen_by_bob"] = {
        "sender": who(seen_edit["sender"], tag),
        "target": context.body_of(seen_edit["content"]["m.relates_to"]["event_id"]),
        "body": seen_edit["content"].get("m.new_content", {}).get("body"),
    }
    await sa.until("bob's reaction", lambda: sa.has_event(reaction.event_id))
    seen_reaction = next(e for e in sa.timeline if e.get("event_id") == reaction.event_id)
    relates = seen_reaction["content"]["m.relates_to"]
    observed["reaction_seen_by_alice"] = {
        "sender": who(seen_reaction["sender"], tag),
        "target": context.body_of(relates["event_id"]),
        "key": relates.get("key"),
    }

    original = ok("alice: GET event", await a.room_get_event(room, target), RoomGetEventResponse)
    bundled = original.event.source.get("unsigned", {}).get("m.relations", {}).get("m.replace")
    observed["bundled_edit"] = (
        None
        if not isinstance(bundled, dict)
        else {
            "sender": who(bundled.get("sender", ""), tag),
            "body": bundled.get("content", {}).get("m.new_content", {}).get("body"),
        }
    )
    relations: list[list[str]] = []
    try:
        async for event in a.room_get_event_relations(room, target):
            content = event.source.get("content", {})
            rel = content.get("m.relates_to", {})
            label = rel.get("key") or content.get("m.new_content", {}).get("body")
            relations.append([rel.get("rel_type"), who(event.source["sender"], tag), label])
    except Exception as error:
        raise ScenarioError(f"alice: GET /relations: {error!r}") from error
    observed["relations"] = sorted(relations)


async def _profiles(context: Context) -> None:
    """B reads A's profile and membership name; A renames itself and B sees the new name."""
    a, a_id, b, sb = (
        context.alice.client,
        context.alice.user_id,
        context.bob.client,
        context.bob.view,
    )
    room = context.room
    profile = ok("bob: GET profile", await b.get_profile(a_id), ProfileGetResponse)
    context.observed["profile_seen_by_bob"] = profile.displayname
    context.observed["member_name_seen_by_bob"] = sb.member_content(room, a_id).get("displayname")
    ok(
        "alice: PUT displayname again",
        await a.set_displayname(facts.ALICE_RENAMED),
        ProfileSetDisplayNameResponse,
    )
    await sb.until(
        "alice's new name on her membership",
        lambda: sb.member_content(room, a_id).get("displayname") == facts.ALICE_RENAMED,
    )
    context.observed["renamed_member_seen_by_bob"] = sb.member_content(room, a_id).get(
        "displayname"
    )
