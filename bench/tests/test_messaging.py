"""Tests of bench.messaging: the scenarios run, small, against a real Myelin on SQLite."""

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench import messaging, myelin
from bench.scenarios import SCENARIOS, BenchOptions, memory_after_load
from bench.server import Engine, ServerHandle, free_port, stop

SMALL = BenchOptions(
    senders=3, messages=30, sync_rounds=5, many_rooms=4, sync_repeats=2, time_cap=60
)


@pytest.fixture
async def myelin_handle(tmp_path: Path) -> AsyncIterator[ServerHandle]:
    handle = await myelin.start(tmp_path / "myelin", free_port(), Engine("sqlite"), fresh=True)
    try:
        yield handle
    finally:
        await stop(handle)


def test_every_scenario_runs_and_memory_comes_last() -> None:
    assert messaging.ALL_SCENARIOS[-1] is memory_after_load
    for scenario in [*SCENARIOS, *messaging.MESSAGING_SCENARIOS]:
        assert messaging.ALL_SCENARIOS.count(scenario) == 1


async def test_messaging_scenarios_measure_a_real_server(myelin_handle: ServerHandle) -> None:
    figures = {}
    for scenario in messaging.MESSAGING_SCENARIOS:
        figures.update({f.name: f for f in await scenario(myelin_handle, SMALL)})
    send = "send into one room, 3 senders"
    assert figures[f"{send}: failed sends"].value == 0
    assert figures[f"{send}: throughput"].note.startswith("30 sent in")
    assert 0 < figures[f"{send}: latency p50"].value <= figures[f"{send}: latency p99"].value
    assert figures[f"{send}: messages per server CPU second"].value > 0
    wakeup = figures["/sync wake-up, send to delivery: median"]
    assert wakeup.note.startswith("5 rounds")
    assert 0 < wakeup.value < 5000
    sync = figures["initial /sync, 4 rooms: median"]
    assert 0 < sync.value < 60_000
    assert "missing rooms" not in figures["initial /sync, 4 rooms: first"].note
    assert all(not math.isnan(f.value) for f in figures.values())


async def test_registration_needs_the_right_secret(myelin_handle: ServerHandle) -> None:
    config = myelin_handle.data_dir / "homeserver.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "registration_shared_secret: ", "registration_shared_secret: wrong"
        ),
        encoding="utf-8",
    )
    with pytest.raises(messaging.BenchError, match="403"):
        await messaging.register_users(myelin_handle, "nobody", 1)
