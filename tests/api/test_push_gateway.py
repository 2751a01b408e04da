"""Push notifications delivered to a push gateway over HTTP (spec: Push Gateway API,
``POST /_matrix/push/v1/notify``; Client-Server API, "Push Notifications").

A real homeserver talks HTTP to a real aiohttp push gateway on 127.0.0.1 (allowed through
``ip_range_whitelist``; the default blacklist refuses loopback). Backoff sleeps go through the
test clock, which moves on when slept on, so nothing here waits for real.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from myelin.app import Homeserver, listener_app, open_homeserver
from myelin.config import ListenerConfig
from myelin.config.homeserver import ListenerResourceConfig
from myelin.services.push_gateway.pusher import GIVE_UP_MS
from tests.api.account_support import SHARED_SECRET, V3, login
from tests.api.conftest import FakeClock, MakeConfig
from tests.api.openapi import request_schema, validate, validate_response
from tests.api.room_support import User, new_user

NOTIFY_PATH = "/_matrix/push/v1/notify"
LOOPBACK = ["127.0.0.1/32"]
WAIT_S = 5.0


class Gateway:
    """A push gateway: records every request; answers from ``answers`` (status, body) in
    turn, then 200 with no rejected pushkeys."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, Any]] = []
        self.delivered: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.url = ""

    async def notify(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        status, answer = self.answers.pop(0) if self.answers else (200, {"rejected": []})
        if status == 200:
            await self.delivered.put(body)
        return web.json_response(answer, status=status)

    async def next(self) -> dict[str, Any]:
        """The next notification answered 200, checked against the spec's request schema."""
        body = await asyncio.wait_for(self.delivered.get(), WAIT_S)
        validate(body, request_schema("push-gateway/push_notifier.yaml", "/notify", "post"))
        return body

    async def nothing_more(self) -> None:
        await asyncio.sleep(0.2)
        assert self.delivered.empty(), self.delivered.get_nowait()


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway()
    app = web.Application()
    app.router.add_post(NOTIFY_PATH, gw.notify)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    gw.url = f"http://127.0.0.1:{server.port}{NOTIFY_PATH}"
    yield gw
    await server.close()


Start = Callable[..., Awaitable[tuple[Homeserver, TestClient[Any, Any]]]]


@pytest.fixture
async def start(make_config: MakeConfig, clock: FakeClock) -> AsyncIterator[Start]:
    """Open a homeserver (registration open, loopback push gateways allowed unless
    overridden) and serve its client API on 127.0.0.1; closed afterwards. Called again, it
    opens another homeserver on the same database (a restart)."""
    opened: list[tuple[Homeserver, TestClient[Any, Any]]] = []

    async def open_one(**overrides: Any) -> tuple[Homeserver, TestClient[Any, Any]]:
        config: dict[str, Any] = {
            "enable_registration": True,
            "registration_shared_secret": SHARED_SECRET,
            "ratelimiting": {"enabled": False},
            "ip_range_whitelist": LOOPBACK,
            **overrides,
        }
        hs = await open_homeserver(make_config(**config), clock=clock)
        listener = ListenerConfig(port=8008, resources=(ListenerResourceConfig(names=("client",)),))
        client: TestClient[Any, Any] = TestClient(
            TestServer(listener_app(hs, listener), host="127.0.0.1")
        )
        await client.start_server()
        opened.append((hs, client))
        return hs, client

    yield open_one
    for hs, client in opened:
        await client.close()
        await hs.close()


def pusher_body(url: str, pushkey: str = "key-alice", **data: Any) -> dict[str, Any]:
    return {
        "pushkey": pushkey,
        "kind": "http",
        "app_id": "org.example.app",
        "app_display_name": "App",
        "device_display_name": "Phone",
        "lang": "en",
        "data": {"url": url, **data},
    }


async def set_pusher(user: User, url: str, pushkey: str = "key-alice", **data: Any) -> None:
    body = await user.request("POST", f"{V3}/pushers/set", json=pusher_body(url, pushkey, **data))
    validate_response(body, "client-server/pusher.yaml", "/pushers/set", "post", 200)


async def room_of_two(alice: User, bob: User, **create: Any) -> str:
    room_id = await bob.create_room(**create)
    await bob.invite(room_id, alice.user_id)
    await alice.join(room_id)
    return room_id


async def wait_until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("condition not reached")


async def test_a_message_reaches_the_gateway_with_the_spec_fields(
    start: Start, gateway: Gateway
) -> None:
    _, client = await start()
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    carol = await new_user(client, "carol")  # no pusher: never notified through the gateway
    room_id = await room_of_two(alice, bob, name="Tea", room_alias_name="tea")
    await set_pusher(alice, gateway.url, extra="kept")
    # Alice's own message notifies nobody through her pusher.
    await alice.send(room_id, "from me")
    event_id = await bob.send(room_id, "hello Alice")
    body = await gateway.next()
    notification = dict(body["notification"])
    device = notification.pop("devices")
    assert notification == {
        "event_id": event_id,
        "room_id": room_id,
        "type": "m.room.message",
        "sender": bob.user_id,
        "sender_display_name": "bob",
        "room_name": "Tea",
        "room_alias": "#tea:test.example",
        # A room of two: .m.rule.room_one_to_one sets a sound, so the priority is high.
        "prio": "high",
        "content": {"msgtype": "m.text", "body": "hello Alice"},
        "counts": {"unread": 1},
    }
    assert device == [
        {
            "app_id": "org.example.app",
            "pushkey": "key-alice",
            "pushkey_ts": 1_700_000_000,
            "data": {"extra": "kept"},  # data minus url
            "tweaks": {"sound": "default"},
        }
    ]
    # An invite: user_is_target, membership; the unread count adds the invite's room.
    other = await bob.create_room()
    invite = await bob.invite(other, alice.user_id)
    assert invite == {}
    body = await gateway.next()
    notification = body["notification"]
    assert notification["type"] == "m.room.member"
    assert notification["user_is_target"] is True
    assert notification["membership"] == "invite"
    assert notification["counts"] == {"unread": 2}
    # Carol joins Bob's room and is messaged: no pusher, no request; Alice's is a room of
    # three now (.m.rule.message: no sound, so low priority).
    await bob.invite(room_id, carol.user_id)
    await carol.join(room_id)
    await bob.send(room_id, "hello both")
    body = await gateway.next()
    assert body["notification"]["prio"] == "low"
    assert "tweaks" not in body["notification"]["devices"][0]
    await gateway.nothing_more()
    assert all(
        d["pushkey"] == "key-alice" for r in gateway.requests for d in r["notification"]["devices"]
    )


async def test_event_id_only_format(start: Start, gateway: Gateway) -> None:
    _, client = await start()
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await room_of_two(alice, bob)
    await set_pusher(alice, gateway.url, format="event_id_only")
    event_id = await bob.send(room_id, "secret")
    body = await gateway.next()
    assert body == {
        "notification": {
            "event_id": event_id,
            "room_id": room_id,
            "prio": "high",
            "counts": {"unread": 1},
            "devices": [
                {
                    "app_id": "org.example.app",
                    "pushkey": "key-alice",
                    "pushkey_ts": 1_700_000_000,
                    "data": {"format": "event_id_only"},
                }
            ],
        }
    }


async def test_a_read_receipt_sends_the_lower_unread_count(start: Start, gateway: Gateway) -> None:
    _, client = await start()
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await room_of_two(alice, bob)
    await set_pusher(alice, gateway.url)
    event_id = await bob.send(room_id, "read me")
    assert (await gateway.next())["notification"]["counts"] == {"unread": 1}
    await alice.request(
        "POST", f"{V3}/rooms/{quote(room_id)}/receipt/m.read/{quote(event_id)}", json={}
    )
    badge = await gateway.next()
    assert badge == {
        "notification": {
            "counts": {"unread": 0},
            "devices": [
                {
                    "app_id": "org.example.app",
                    "pushkey": "key-alice",
                    "pushkey_ts": 1_700_000_000,
                    "data": {},
                }
            ],
        }
    }
    # The same count again is not sent.
    await alice.request(
        "POST", f"{V3}/rooms/{quote(room_id)}/receipt/m.read.private/{quote(event_id)}", json={}
    )
    await gateway.nothing_more()


async def test_rejected_pushkey_deletes_the_pusher(start: Start, gateway: Gateway) -> None:
    _, client = await start()
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await room_of_two(alice, bob)
    await set_pusher(alice, gateway.url)
    gateway.answers.append((200, {"rejected": ["key-alice"]}))
    await bob.send(room_id, "first")
    await gateway.next()

    async def no_pushers() -> bool:
        listed = await alice.request("GET", f"{V3}/pushers")
        return bool(listed["pushers"] == [])

    await wait_until(no_pushers)
    await bob.send(room_id, "second")
    await gateway.nothing_more()
    assert len(gateway.requests) == 1


async def test_a_failing_gateway_is_retried_with_backoff(
    start: Start, gateway: Gateway, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    _, client = await start()
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await room_of_two(alice, bob)
    await set_pusher(alice, gateway.url)
    gateway.answers += [(500, {}), (503, {}), (502, {})]
    before = clock.now
    with caplog.at_level(logging.DEBUG, logger="myelin.services.push_gateway"):
        first = await bob.send(room_id, "first")
        second = await bob.send(room_id, "second")
        delivered = [(await gateway.next())["notification"]["event_id"] for _ in range(2)]
    # Three failures, then the notification, in stream order; backoff 1 s, 2 s, 4 s.
    assert delivered == [first, second]
    assert [r["notification"]["event_id"] for r in gateway.requests] == [first] * 4 + [second]
    assert clock.now - before == 7_000
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "retrying with backoff" in warnings[0].getMessage()
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_a_notification_is_given_up_after_a_day(
    start: Start, gateway: Gateway, clock: FakeClock
) -> None:
    hs, client = await start()
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await room_of_two(alice, bob)
    await set_pusher(alice, gateway.url)
    gateway.answers += [(500, {})] * 10_000
    before = clock.now
    assert hs.pusher_pool is not None
    (pusher,) = hs.pusher_pool.pushers_of(alice.user_id)
    position = pusher.last_stream_ordering
    lost = await bob.send(room_id, "lost")

    async def given_up() -> bool:
        return pusher.last_stream_ordering > position and clock.now - before >= GIVE_UP_MS

    await wait_until(given_up)
    # Backoff doubled up to an hour: far fewer than one attempt a second.
    assert 20 < len(gateway.requests) < 60
    assert {r["notification"]["event_id"] for r in gateway.requests} == {lost}
    gateway.answers.clear()
    kept = await bob.send(room_id, "kept")
    assert (await gateway.next())["notification"]["event_id"] == kept


async def test_undelivered_notifications_are_caught_up_after_a_restart(
    start: Start, gateway: Gateway
) -> None:
    hs, client = await start()
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await room_of_two(alice, bob)
    await set_pusher(alice, gateway.url)
    assert hs.pusher_pool is not None
    (pusher,) = hs.pusher_pool.pushers_of(alice.user_id)
    position = pusher.last_stream_ordering
    delivered = await bob.send(room_id, "delivered")
    assert (await gateway.next())["notification"]["event_id"] == delivered

    async def recorded() -> bool:
        (stored,) = await hs.stores.pushers.get_pushers(alice.user_id)
        return stored.last_stream_ordering > position

    await wait_until(recorded)
    # The pushers stop (the process going down) before the next message is delivered.
    await hs.pusher_pool.close()
    missed = await bob.send(room_id, "missed")
    await gateway.nothing_more()
    await start()  # the same database
    body = await gateway.next()
    assert body["notification"]["event_id"] == missed
    assert body["notification"]["content"] == {"msgtype": "m.text", "body": "missed"}
    await gateway.nothing_more()


async def test_blocked_addresses_are_never_contacted(
    start: Start, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    # Without the whitelist, the default ip_range_blacklist refuses loopback.
    hs, client = await start(ip_range_whitelist=[])
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await room_of_two(alice, bob)
    await set_pusher(alice, gateway.url)
    await set_pusher(alice, gateway.url.replace("127.0.0.1", "localhost"), pushkey="key-2")
    assert hs.pusher_pool is not None
    pushers = hs.pusher_pool.pushers_of(alice.user_id)
    positions = [p.last_stream_ordering for p in pushers]
    with caplog.at_level(logging.WARNING, logger="myelin.services.push_gateway"):
        await bob.send(room_id, "hello")

        async def given_up() -> bool:
            return all(
                p.last_stream_ordering > at for p, at in zip(pushers, positions, strict=True)
            )

        await wait_until(given_up)
    assert gateway.requests == []
    messages = [r.getMessage() for r in caplog.records]
    assert sum("blocked by ip_range_blacklist" in m for m in messages) == 2


async def test_a_device_takes_its_pushers_along(start: Start, gateway: Gateway) -> None:
    _, client = await start()
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await room_of_two(alice, bob)
    phone = User(client, await login(client, "alice"))
    await set_pusher(phone, gateway.url, pushkey="key-phone")
    await set_pusher(alice, gateway.url)
    await phone.request("POST", f"{V3}/logout", json={})
    listed = await alice.request("GET", f"{V3}/pushers")
    assert [p["pushkey"] for p in listed["pushers"]] == ["key-alice"]
    await bob.send(room_id, "hello")
    body = await gateway.next()
    assert [d["pushkey"] for d in body["notification"]["devices"]] == ["key-alice"]
    await gateway.nothing_more()


async def test_push_disabled_sends_nothing(start: Start, gateway: Gateway) -> None:
    hs, client = await start(push={"enabled": False})
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await room_of_two(alice, bob)
    await set_pusher(alice, gateway.url)
    await bob.send(room_id, "hello")
    await gateway.nothing_more()
    assert hs.pusher_pool is None and gateway.requests == []


def test_loopback_gateway_in_tests_only(tmp_path: Path) -> None:
    """The default configuration refuses loopback gateways (the tests allow them)."""
    from myelin.config import parse_config

    config = parse_config({"server_name": "test.example"}, tmp_path)
    assert "127.0.0.0/8" in config.ip_range_blacklist
    assert config.ip_range_whitelist == ()
