"""Messaging benchmark scenarios (Client-Server API: "Sending events to a room", "Syncing";
users from Synapse's shared-secret registration admin API, which both servers serve).

- ``send_throughput``: N users, each on its own keep-alive connection, send messages into one
  room as fast as the server acknowledges them: messages per second, per server CPU second, and
  the send latency percentiles.
- ``sync_wakeup``: a client long-polls ``/sync``; another sends a message; the time from the
  send request leaving to the ``/sync`` response carrying that event arriving, over many rounds.
- ``initial_sync_many_rooms``: a user in many rooms with a few messages each makes an initial
  ``/sync`` (a different filter each time, so that no response cache answers it).

Each scenario registers users and creates rooms of its own through the HTTP API, outside what
it measures. CPU is the server's process tree plus, on PostgreSQL, the database backends serving
it (``ServerHandle.cpu_seconds`` and ``database_cpu_seconds``).
"""

import asyncio
import hashlib
import hmac
import itertools
import json
import statistics
import time
import uuid
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

from bench.load import percentile
from bench.scenarios import SCENARIOS, BenchOptions, Figure, Scenario, memory_after_load
from bench.server import ServerHandle

V3 = "/_matrix/client/v3"
PASSWORD = "benchmark password"
REQUEST_TIMEOUT = 60.0
LONG_POLL_MS = 30_000
# How long a /sync long-poll gets to reach the server and park before the send goes out.
PARK_SECONDS = 0.05


class BenchError(Exception):
    """A set-up request failed: the scenario cannot measure anything."""


async def _call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: Any = None,
    params: dict[str, str] | None = None,
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with session.request(method, url, json=body, params=params, headers=headers) as response:
        data = await response.json(content_type=None)
        if response.status != 200:
            raise BenchError(f"{method} {url}: {response.status} {data}")
        return data


class User:
    """A registered user with a session of its own (one keep-alive connection)."""

    def __init__(self, base_url: str, user_id: str, token: str) -> None:
        self.base_url = base_url
        self.user_id = user_id
        self.token = token
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=4),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )
        self._txn = itertools.count()

    async def call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        return await _call(
            self.session, method, self.base_url + path, token=self.token, body=body, params=params
        )

    async def send(self, room_id: str, text: str) -> str:
        txn = f"{uuid.uuid4().hex[:8]}-{next(self._txn)}"
        path = f"{V3}/rooms/{quote(room_id)}/send/m.room.message/{txn}"
        data = await self.call("PUT", path, {"msgtype": "m.text", "body": text})
        event_id: str = data["event_id"]
        return event_id

    async def create_room(self, name: str) -> str:
        data = await self.call("POST", f"{V3}/createRoom", {"preset": "public_chat", "name": name})
        room_id: str = data["room_id"]
        return room_id

    async def join(self, room_id: str) -> None:
        await self.call("POST", f"{V3}/join/{quote(room_id)}", {})

    async def sync(
        self, since: str | None = None, timeout_ms: int = 0, filter_json: str | None = None
    ) -> Any:
        params = {
            "timeout": str(timeout_ms),
            "filter": filter_json or '{"room":{"timeline":{"limit":10}}}',
        }
        if since is not None:
            params["since"] = since
        return await self.call("GET", f"{V3}/sync", params=params)

    async def close(self) -> None:
        await self.session.close()


def _shared_secret(handle: ServerHandle) -> str:
    config = yaml.safe_load((handle.data_dir / "homeserver.yaml").read_text(encoding="utf-8"))
    secret = config.get("registration_shared_secret")
    if not isinstance(secret, str):
        raise BenchError(f"{handle.name} has no registration_shared_secret")
    return secret


async def register_users(handle: ServerHandle, prefix: str, count: int) -> list[User]:
    """``count`` users ``<prefix><i>`` through shared-secret registration (4 at a time)."""
    secret = _shared_secret(handle).encode()
    url = handle.base_url + "/_synapse/admin/v1/register"
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    semaphore = asyncio.Semaphore(4)

    async def one(session: aiohttp.ClientSession, index: int) -> User:
        username = f"{prefix}{index}"
        async with semaphore:
            nonce = (await _call(session, "GET", url))["nonce"]
            mac = hmac.new(
                secret,
                b"\x00".join([nonce.encode(), username.encode(), PASSWORD.encode(), b"notadmin"]),
                hashlib.sha1,
            ).hexdigest()
            body = {
                "nonce": nonce,
                "username": username,
                "password": PASSWORD,
                "admin": False,
                "mac": mac,
            }
            done = await _call(session, "POST", url, body=body)
        return User(handle.base_url, done["user_id"], done["access_token"])

    async with aiohttp.ClientSession(timeout=timeout) as session:
        return list(await asyncio.gather(*(one(session, i) for i in range(count))))


async def _close_all(users: list[User]) -> None:
    await asyncio.gather(*(user.close() for user in users))


async def _cpu(handle: ServerHandle) -> tuple[float, float]:
    return handle.cpu_seconds(), await handle.database_cpu_seconds()


def _cpu_note(server: float, database: float, client: float) -> str:
    note = f"server {server:.2f} CPU-s"
    if database:
        note += f" + database {database:.2f}"
    return note + f"; load generator {client:.2f} CPU-s"


def _ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


# ---- message send throughput and latency into one room ----------------------------------------


async def send_throughput(handle: ServerHandle, options: BenchOptions) -> list[Figure]:
    senders = options.senders
    title = f"send into one room, {senders} senders"
    users = await register_users(handle, "sender", senders)
    try:
        room_id = await users[0].create_room("send throughput")
        for user in users[1:]:
            await user.join(room_id)
        # Warm-up, not measured: a few messages per sender.
        await asyncio.gather(*(user.send(room_id, "warm-up") for user in users for _ in range(3)))

        latencies: list[float] = []
        errors: list[str] = []
        issued = 0
        server_before, db_before = await _cpu(handle)
        client_before = time.process_time()
        started = time.perf_counter()
        deadline = started + options.time_cap

        async def worker(user: User) -> None:
            nonlocal issued
            while issued < options.messages and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                try:
                    await user.send(room_id, f"message {issued}")
                except (BenchError, aiohttp.ClientError, TimeoutError) as e:
                    errors.append(str(e))
                    continue
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker(user) for user in users))
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_before
        server_after, db_after = await _cpu(handle)
    finally:
        await _close_all(users)
    server_cpu, db_cpu = server_after - server_before, db_after - db_before
    done = len(latencies)
    note = f"{done} sent in {elapsed:.1f} s"
    if errors:
        note += f"; {len(errors)} failed, first: {errors[0][:200]}"
    cpu = server_cpu + db_cpu
    return [
        Figure(f"{title}: throughput", done / elapsed if elapsed else 0.0, "msg/s", False, note),
        Figure(f"{title}: latency p50", _ms(latencies, 50), "ms", True),
        Figure(f"{title}: latency p90", _ms(latencies, 90), "ms", True),
        Figure(f"{title}: latency p99", _ms(latencies, 99), "ms", True),
        Figure(
            f"{title}: messages per server CPU second",
            done / cpu if cpu > 0 else float("inf"),
            "msg/CPU-s",
            False,
            _cpu_note(server_cpu, db_cpu, client_cpu),
        ),
        Figure(f"{title}: failed sends", float(len(errors)), "", True),
    ]


# ---- /sync wake-up latency ---------------------------------------------------------------------


def _timeline_event_ids(sync: Any, room_id: str) -> set[str]:
    room = sync.get("rooms", {}).get("join", {}).get(room_id, {})
    return {event["event_id"] for event in room.get("timeline", {}).get("events", [])}


async def _timed_send(user: User, room_id: str, text: str) -> tuple[str, float]:
    """Send, and the moment the answer arrived (independent of the long-poll's)."""
    event_id = await user.send(room_id, text)
    return event_id, time.perf_counter()


async def sync_wakeup(handle: ServerHandle, options: BenchOptions) -> list[Figure]:
    title = "/sync wake-up, send to delivery"
    sender, receiver = await register_users(handle, "wakeup", 2)
    wakeups: list[float] = []
    sends: list[float] = []
    repolls = 0
    try:
        room_id = await sender.create_room("sync wake-up")
        await receiver.join(room_id)
        since: str = (await receiver.sync())["next_batch"]
        # Let the join and any presence settle out of the way of the first rounds.
        since = (await receiver.sync(since))["next_batch"]
        deadline = time.perf_counter() + options.time_cap
        for index in range(options.sync_rounds + 3):
            if time.perf_counter() > deadline:
                break
            poll = asyncio.create_task(receiver.sync(since, LONG_POLL_MS))
            await asyncio.sleep(PARK_SECONDS)
            t0 = time.perf_counter()
            send = asyncio.create_task(_timed_send(sender, room_id, f"wake-up {index}"))
            response = await poll
            arrived = time.perf_counter()
            event_id, sent = await send
            # Something else (presence, receipts) may have woken the long-poll first.
            while event_id not in _timeline_event_ids(response, room_id):
                repolls += 1
                response = await receiver.sync(response["next_batch"], LONG_POLL_MS)
                arrived = time.perf_counter()
            since = response["next_batch"]
            if index >= 3:  # the first rounds warm up
                wakeups.append(arrived - t0)
                sends.append(sent - t0)
    finally:
        await _close_all([sender, receiver])
    note = f"{len(wakeups)} rounds, long-poll parked {PARK_SECONDS * 1000:.0f} ms before the send"
    if repolls:
        note += f"; {repolls} responses without the event (polled again)"
    return [
        Figure(f"{title}: median", _ms(wakeups, 50), "ms", True, note),
        Figure(f"{title}: p90", _ms(wakeups, 90), "ms", True),
        Figure(f"{title}: p99", _ms(wakeups, 99), "ms", True),
        Figure("send with a /sync long-poll waiting: median", _ms(sends, 50), "ms", True),
    ]


# ---- initial /sync of a user in many rooms -----------------------------------------------------


async def initial_sync_many_rooms(handle: ServerHandle, options: BenchOptions) -> list[Figure]:
    rooms, per_room = options.many_rooms, options.messages_per_room
    title = f"initial /sync, {rooms} rooms"
    (user,) = await register_users(handle, "many", 1)
    timings: list[float] = []
    sizes: list[int] = []
    incomplete = 0
    try:
        semaphore = asyncio.Semaphore(4)

        async def make_room(index: int) -> None:
            async with semaphore:
                room_id = await user.create_room(f"room {index}")
                for message in range(per_room):
                    await user.send(room_id, f"message {message} in room {index}")

        await asyncio.gather(*(make_room(index) for index in range(rooms)))
        server_before, db_before = await _cpu(handle)
        for attempt in range(options.sync_repeats):
            # A filter of its own each time: the same request twice could be answered by a cache.
            filter_json = json.dumps(
                {
                    "room": {"timeline": {"limit": 10}},
                    "account_data": {"not_types": [f"bench.uncached.{attempt}"]},
                }
            )
            t0 = time.perf_counter()
            async with user.session.get(
                user.base_url + f"{V3}/sync",
                params={"filter": filter_json},
                headers={"Authorization": f"Bearer {user.token}"},
            ) as response:
                raw = await response.read()
                if response.status != 200:
                    raise BenchError(f"initial /sync: {response.status} {raw[:200]!r}")
            timings.append(time.perf_counter() - t0)
            sizes.append(len(raw))
            if len(json.loads(raw).get("rooms", {}).get("join", {})) != rooms:
                incomplete += 1
        server_after, db_after = await _cpu(handle)
    finally:
        await user.close()
    cpu = (server_after - server_before) + (db_after - db_before)
    note = (
        f"{per_room} messages per room, timeline limit 10; {len(timings)} syncs,"
        f" {statistics.mean(sizes) / 1024:.0f} KiB each"
    )
    if incomplete:
        note += f"; {incomplete} responses missing rooms"
    return [
        Figure(f"{title}: first", timings[0] * 1000, "ms", True, note),
        Figure(f"{title}: median", statistics.median(timings) * 1000, "ms", True),
        Figure(f"{title}: server CPU per sync", cpu / len(timings) * 1000, "CPU-ms", True),
    ]


MESSAGING_SCENARIOS: list[Scenario] = [send_throughput, sync_wakeup, initial_sync_many_rooms]

# What ``make bench`` runs: the endpoint loads, the messaging scenarios, then memory after load.
ALL_SCENARIOS: list[Scenario] = [
    *(scenario for scenario in SCENARIOS if scenario is not memory_after_load),
    *MESSAGING_SCENARIOS,
    memory_after_load,
]
