"""Sending with a transaction ID (Client-Server API, "Transaction identifiers" and the
``unsigned.transaction_id`` of client events): the transaction is recorded before anyone is woken
for the event, so a /sync that the event wakes already serves it to the sending device with its
``transaction_id`` (without it, Hydrogen shows the message twice, its local echo unconfirmed)."""

from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer

from myelin.app import Homeserver, listener_app, open_homeserver
from myelin.config import ListenerConfig
from myelin.config.homeserver import ListenerResourceConfig
from tests.api.account_support import V3, auth_header, register
from tests.api.conftest import FakeClock, MakeConfig


@pytest.fixture
async def served(
    make_config: MakeConfig, clock: FakeClock
) -> AsyncIterator[tuple[Homeserver, TestClient[Any, Any]]]:
    config = make_config(enable_registration=True, ratelimiting={"enabled": False})
    hs = await open_homeserver(config, clock=clock)
    listener = ListenerConfig(port=8008, resources=(ListenerResourceConfig(names=("client",)),))
    client: TestClient[Any, Any] = TestClient(
        TestServer(listener_app(hs, listener, ()), host="127.0.0.1")
    )
    await client.start_server()
    try:
        yield hs, client
    finally:
        await client.close()
        await hs.close()


async def test_transaction_is_recorded_before_the_event_is_notified(
    served: tuple[Homeserver, TestClient[Any, Any]],
) -> None:
    hs, client = served
    alice = await register(client, "alice")
    headers = auth_header(alice["access_token"])
    created = await client.post(f"{V3}/createRoom", json={}, headers=headers)
    room_id = (await created.json())["room_id"]
    seen_at_notify: list[Any] = []
    notify = hs.notifier.notify

    async def at_notify(
        stream_position: int, room_id: str | None, user_ids: Iterable[str] = ()
    ) -> None:
        # The notifier wakes every /sync waiting for the event: the record must be there.
        if room_id is not None:
            record = await hs.stores.room_reads.get_txn_event(
                alice["user_id"], alice["device_id"], "txn-1"
            )
            seen_at_notify.append(record and record.event_id)
        await notify(stream_position, room_id, user_ids)

    hs.notifier.notify = at_notify  # type: ignore[method-assign]
    path = f"{V3}/rooms/{quote(room_id)}/send/m.room.message/txn-1"
    sent = await client.put(path, json={"msgtype": "m.text", "body": "hi"}, headers=headers)
    assert sent.status == 200
    event_id = (await sent.json())["event_id"]
    assert seen_at_notify[-1] == event_id
    count = len(seen_at_notify)
    # Idempotent: the same transaction gives the same event, and nothing new is written.
    again = await client.put(path, json={"msgtype": "m.text", "body": "hi"}, headers=headers)
    assert (await again.json())["event_id"] == event_id
    assert len(seen_at_notify) == count
    synced = await (await client.get(f"{V3}/sync", headers=headers)).json()
    timeline = synced["rooms"]["join"][room_id]["timeline"]["events"]
    message = next(e for e in timeline if e["event_id"] == event_id)
    assert message["unsigned"]["transaction_id"] == "txn-1"
