"""End-to-end encryption interop (test harness; Client-Server API: End-to-End Encryption,
Send-to-Device messaging, Secrets, Server-side key backups) with real client crypto stacks.

matrix-nio with vodozemac (``scenario_e2ee_nio.py``) and matrix-js-sdk with its Rust crypto
(``js/e2ee_scenario.mjs``) play their scenario against a real Myelin process and against Synapse
(the reference: a scenario that fails there is wrong, not the server). In an encrypted room B
decrypts A's Megolm message and A decrypts B's reply; a second device of A's, learnt by B through
``device_lists.changed``, receives the room key of B's next message; with matrix-js-sdk A also
bootstraps cross-signing (seen by B and by A's second device) and secret storage with a new key
backup, which a third device of A's restores to decrypt the room's history, then creates a
dehydrated device (MSC3814) that B shares its next room key with and that a fourth device of A's
rehydrates to decrypt that message. Across the libraries, nio's A and matrix-js-sdk's B
(``js/e2ee_peer.mjs``) exchange an encrypted message and reply. Against Myelin the
database is then read directly: every message is stored as ``m.room.encrypted`` with a Megolm
ciphertext and no table holds any of the plaintexts.

The Myelin tests run on both engines (``MYELIN_TEST_DB``); the Synapse ones are marked
``synapse`` (the SQLite pass only, like ``test_synapse.py``) and use a Synapse of their own with
MSC3814 switched on.
"""

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from nio import (
    AsyncClient,
    AsyncClientConfig,
    RegisterResponse,
    RoomCreateResponse,
    RoomSendResponse,
)

from bench import synapse
from bench.server import Engine, free_port, launch
from myelin.storage import Database
from tests.conftest import open_database_from_yaml
from tests.interop import scenario_e2ee_nio
from tests.interop.drivers import JS_DIR, new_tag, run_node_scenario
from tests.interop.scenario_nio import ScenarioError

# servers.py's own Synapse settings (open registration, limits lifted) and environment.
from tests.interop.servers import SCRATCH, ServerHandle, _open_registration, _synapse_env, stop

SCENARIO_SECONDS = 300.0
MEGOLM = "m.megolm.v1.aes-sha2"

# The bodies matrix-js-sdk sends (js/e2ee_scenario.mjs): never on the server in plaintext.
JS_PLAINTEXTS = (
    "secret from alice",
    "secret reply from bob",
    "secret for alice's second device",
)
DEHYDRATED_PLAINTEXT = "secret while alice is offline"
# The encrypted room's name: in plaintext state, the control that the database scan sees content.
ROOM_NAME = "e2ee interop"

# What matrix-js-sdk observes, verified against Synapse.
JS_EXPECTED: dict[str, Any] = {
    "room_encrypted": True,
    "bob_decrypted": JS_PLAINTEXTS[0],
    "alice_decrypted": JS_PLAINTEXTS[1],
    "wire_types": ["m.room.encrypted", "m.room.encrypted"],
    "bob_learns_second_device": True,
    "second_device_decrypted": JS_PLAINTEXTS[2],
    "cross_signing_ready": True,
    "cross_signing_status": {"public_keys_on_device": True, "private_keys_cached": True},
    "bob_sees_alice_cross_signing": True,
    "queried_master_key_matches": True,
    "queried_cross_signing_keys": ["master_keys", "self_signing_keys"],
    "first_device_signed_by_owner": True,
    "secret_storage_ready": True,
    "backed_up_sessions_match": True,
    "backup_algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
    "backup_trusted": True,
    "restored_all": True,
    "history_decrypted_after_restore": list(JS_PLAINTEXTS),
    "restored_message_ids_known": True,
    "dehydration_supported": True,
    "bob_sees_dehydrated_device": True,
    "rehydrated_room_keys": True,
    "fourth_device_without_backup_key": True,
    "rehydrated_device_decrypted": DEHYDRATED_PLAINTEXT,
}

Outcome = tuple[dict[str, Any], list[str]]


def check(outcome: Outcome, expected: dict[str, Any]) -> None:
    """Fail with every failed step and every fact that differs from ``expected``."""
    observed, failures = outcome
    report = list(failures)
    for key, value in expected.items():
        got = observed.get(key, "(not observed)")
        if got != value:
            report.append(f"fact {key}: expected {value!r}, observed {got!r}")
    report += [f"unexpected fact {key}" for key in observed.keys() - expected.keys()]
    assert not report, "\n".join(report)


async def run_nio(base_url: str, store_dir: Path) -> Outcome:
    return await asyncio.wait_for(
        scenario_e2ee_nio.run(base_url, new_tag(), store_dir), SCENARIO_SECONDS
    )


async def run_js(base_url: str) -> Outcome:
    """What matrix-js-sdk with its Rust crypto observes against ``base_url`` (Node subprocess)."""
    result, tail = await run_node_scenario(
        "e2ee_scenario.mjs", base_url, "@matrix-org/matrix-sdk-crypto-wasm"
    )
    observed: dict[str, Any] = result.get("facts", {})
    failures: list[str] = result.get("failures", [])
    if failures:
        exchanges = json.dumps(result.get("requests", []), indent=1, ensure_ascii=False)
        failures = [*failures, f"last HTTP exchanges:\n{exchanges}\nstderr:\n{tail}"]
    return observed, failures


async def _table_names(db: Database) -> list[str]:
    if db.engine == "sqlite":
        rows = await db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return sorted(str(row[0]) for row in rows)


def _texts(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return "" if value is None else str(value)


async def stored_plaintext_report(
    database_yaml: dict[str, Any], plaintexts: tuple[str, ...]
) -> dict[str, Any]:
    """What Myelin's database holds of the scenario's messages, read directly (both engines).

    ``encrypted``: the stored ``m.room.encrypted`` events whose content is a Megolm ciphertext,
    ``messages``: stored ``m.room.message`` events, ``hits``: ``table: plaintext`` for every
    table with a row that contains one of ``plaintexts``, ``room_name_seen``: whether the scan
    found the encrypted room's (plaintext) name, the control that it reads event content.
    """
    db = await open_database_from_yaml(database_yaml)
    try:
        hits: set[str] = set()
        room_name_seen = False
        for table in await _table_names(db):
            for row in await db.fetch(f'SELECT * FROM "{table}"'):
                columns = list(row.keys())
                text = "\x00".join(_texts(row[column]) for column in columns)
                hits.update(f"{table}: {p}" for p in plaintexts if p in text)
                room_name_seen = room_name_seen or ROOM_NAME in text
        encrypted = 0
        for row in await db.fetch(
            "SELECT event_json FROM events WHERE type = 'm.room.encrypted' AND state_key IS NULL"
        ):
            content = json.loads(row[0]).get("content", {})
            if content.get("algorithm") == MEGOLM and isinstance(content.get("ciphertext"), str):
                encrypted += 1
        messages = await db.fetchval("SELECT COUNT(*) FROM events WHERE type = 'm.room.message'")
    finally:
        await db.close()
    return {
        "encrypted": encrypted,
        "messages": int(messages),
        "hits": sorted(hits),
        "room_name_seen": room_name_seen,
    }


def _only_ciphertext(report: dict[str, Any], message_count: int) -> None:
    assert report == {
        "encrypted": message_count,
        "messages": 0,
        "hits": [],
        "room_name_seen": True,
    }, report


async def test_database_scan_finds_plaintext(
    myelin_server: ServerHandle, database_yaml: dict[str, Any]
) -> None:
    """The control for ``stored_plaintext_report``: an unencrypted message is found by it."""
    body = f"plaintext control {new_tag()}"
    client = AsyncClient(myelin_server.base_url, config=AsyncClientConfig(encryption_enabled=False))
    try:
        registered = await client.register(f"control-{new_tag()}", "control password 1")
        assert isinstance(registered, RegisterResponse), registered
        created = await client.room_create(name=ROOM_NAME)
        assert isinstance(created, RoomCreateResponse), created
        content = {"msgtype": "m.text", "body": body}
        sent = await client.room_send(created.room_id, "m.room.message", content)
        assert isinstance(sent, RoomSendResponse), sent
    finally:
        await client.close()
    report = await stored_plaintext_report(database_yaml, (body,))
    assert report["messages"] == 1
    assert report["encrypted"] == 0
    assert "events: " + body in report["hits"]
    assert report["room_name_seen"]


async def test_nio_e2ee_against_myelin(
    myelin_server: ServerHandle, database_yaml: dict[str, Any], tmp_path: Path
) -> None:
    outcome = await run_nio(myelin_server.base_url, tmp_path / "nio")
    check(outcome, scenario_e2ee_nio.EXPECTED)
    report = await stored_plaintext_report(database_yaml, scenario_e2ee_nio.PLAINTEXTS)
    _only_ciphertext(report, len(scenario_e2ee_nio.PLAINTEXTS))


async def test_js_sdk_e2ee_against_myelin(
    myelin_server: ServerHandle, database_yaml: dict[str, Any]
) -> None:
    check(await run_js(myelin_server.base_url), JS_EXPECTED)
    plaintexts = (*JS_PLAINTEXTS, DEHYDRATED_PLAINTEXT)
    report = await stored_plaintext_report(database_yaml, plaintexts)
    _only_ciphertext(report, len(plaintexts))


async def _start_synapse_with_dehydration(data_dir: Path) -> ServerHandle:
    """``servers.start_synapse`` with MSC3814 (dehydrated devices) on, as Element deployments
    configure it: Synapse serves it only as an experimental feature."""
    synapse.ensure_installed(SCRATCH)
    port = free_port()
    engine = Engine(kind="sqlite")
    config_path = synapse.write_config(SCRATCH, data_dir, port, engine)
    _open_registration(config_path)
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config.setdefault("experimental_features", {})["msc3814_enabled"] = True
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    command = [str(synapse.venv_python(SCRATCH)), "-m", "synapse.app.homeserver"]
    return await launch(
        name="Synapse",
        command=[*command, "--config-path", str(config_path)],
        env=_synapse_env(),
        data_dir=data_dir,
        log_path=data_dir / "stdout.log",
        port=port,
        engine=engine,
    )


@pytest.fixture(scope="module")
def synapse_e2ee_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """Synapse from PyPI on SQLite with dehydrated devices on; shared by this module's tests."""
    data_dir = tmp_path_factory.mktemp("synapse-e2ee")
    handle = asyncio.run(_start_synapse_with_dehydration(data_dir))
    try:
        yield handle
    finally:
        asyncio.run(stop(handle))


@pytest.mark.synapse
async def test_nio_e2ee_against_synapse(synapse_e2ee_server: ServerHandle, tmp_path: Path) -> None:
    outcome = await run_nio(synapse_e2ee_server.base_url, tmp_path / "nio")
    check(outcome, scenario_e2ee_nio.EXPECTED)


@pytest.mark.synapse
async def test_js_sdk_e2ee_against_synapse(synapse_e2ee_server: ServerHandle) -> None:
    check(await run_js(synapse_e2ee_server.base_url), JS_EXPECTED)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ScenarioError("node is not installed (Node 20 or later is needed)")
    return node


async def run_nio_with_js_peer(base_url: str, store_dir: Path) -> Outcome:
    return await asyncio.wait_for(
        scenario_e2ee_nio.run_with_js_peer(base_url, new_tag(), store_dir, _node(), JS_DIR),
        SCENARIO_SECONDS,
    )


async def test_nio_and_js_sdk_e2ee_against_myelin(
    myelin_server: ServerHandle, database_yaml: dict[str, Any], tmp_path: Path
) -> None:
    check(
        await run_nio_with_js_peer(myelin_server.base_url, tmp_path),
        scenario_e2ee_nio.PEER_EXPECTED,
    )
    plaintexts = (scenario_e2ee_nio.PEER_PLAINTEXT, scenario_e2ee_nio.PEER_REPLY)
    report = await stored_plaintext_report(database_yaml, plaintexts)
    _only_ciphertext(report, len(plaintexts))


@pytest.mark.synapse
async def test_nio_and_js_sdk_e2ee_against_synapse(
    synapse_e2ee_server: ServerHandle, tmp_path: Path
) -> None:
    outcome = await run_nio_with_js_peer(synapse_e2ee_server.base_url, tmp_path)
    check(outcome, scenario_e2ee_nio.PEER_EXPECTED)
