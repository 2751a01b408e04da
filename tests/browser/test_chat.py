"""A two-user chat in a real web client (test harness; Client-Server API, "Web Browser Clients"):
the Hydrogen client in headless Chromium against a ``myelin run`` process.

Myelin runs on a fresh data directory and database (``MYELIN_TEST_DB``) on 127.0.0.1 with
registration open and rate limits off; two users are registered over HTTP; then ``chat.mjs``
drives two browser contexts through Hydrogen's own UI: both sign in through its login form, A
creates a room and invites B, B accepts, A sends a message, B sees it and replies, A sees the
reply. It runs twice: with end-to-end encryption on (Hydrogen's default for a private room) and
off. Screenshots, the driver's report and the server log go to ``tests/browser/screenshots/``
(gitignored).

Every response of 400 or more that the client got and every such line of the server's access
log are printed, and an error status the client needed is a failure unless it is listed in
``EXPECTED_CLIENT_ERRORS`` with the reason it is right.

Needs Chromium and the npm packages: ``make browser-deps``. The test is skipped (with the reason)
only when Chromium is not installed, which that target attempts with apt-get.
"""

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bench.myelin import command as myelin_command
from bench.server import Engine, ServerHandle, free_port, launch
from tests.interop.servers import stop

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCREENSHOTS = HERE / "screenshots"
SERVER_NAME = "browser-myelin.test"
PASSWORD = "a browser chat password"
# The whole scenario (two sign-ins, room, invite, two messages) is bounded by this.
DRIVER_SECONDS = 300.0

# (method, path prefix, status) the client may get from a correct server, with the reason.
EXPECTED_CLIENT_ERRORS: dict[tuple[str, str, int], str] = {
    (
        "GET",
        "/_matrix/client/unstable/org.matrix.msc2697.v2/dehydrated_device",
        404,
    ): "an unstable endpoint (MSC2697, superseded by MSC3814) Myelin does not serve: 404"
    " M_UNRECOGNIZED, as Synapse without experimental features; Hydrogen reads it as no"
    " dehydrated device",
}

_ACCESS = re.compile(r"myelin\.access: \S+ (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) ")


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (`make browser-deps` installs it with apt-get)")
    return path


def _check_client_built() -> None:
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("the browser test's npm packages are missing: run `make browser-deps`")
    if not (HERE / "dist" / "index.html").is_file():
        pytest.fail("the Hydrogen page is not built: run `make browser-deps`")
    if shutil.which("node") is None:
        pytest.fail("node is not installed (Node 20 or later is needed)")


def _config(data_dir: Path, port: int, database_yaml: dict[str, Any]) -> Path:
    """What an operator writes for a server on 127.0.0.1: its real URL as public_baseurl."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "server_name": SERVER_NAME,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "resources": [{"names": ["client", "federation"]}],
            }
        ],
        "database": database_yaml,
        "signing_key_path": str(data_dir / "signing.key"),
        "media_store_path": str(data_dir / "media_store"),
        "enable_registration": True,
        "ratelimiting": {"enabled": False},
        "bcrypt_rounds": 4,
    }
    path = data_dir / "homeserver.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
async def myelin(tmp_path: Path, database_yaml: dict[str, Any]) -> AsyncIterator[ServerHandle]:
    """``myelin run`` of this checkout on 127.0.0.1; killed (its process group) afterwards."""
    port = free_port()
    data_dir = tmp_path / "myelin"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    handle = await launch(
        name="Myelin",
        command=myelin_command(_config(data_dir, port, database_yaml)),
        env=env,
        data_dir=data_dir,
        log_path=data_dir / "myelin.log",
        port=port,
        engine=Engine(kind="sqlite" if database_yaml["name"] == "sqlite3" else "postgres"),
    )
    try:
        yield handle
    finally:
        await stop(handle)


async def _register(base_url: str, localpart: str) -> dict[str, str]:
    """Register through the m.login.dummy flow, as a client does (two requests)."""
    url = f"{base_url}/_matrix/client/v3/register"
    body: dict[str, Any] = {"username": localpart, "password": PASSWORD}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.post(url, json=body) as first:
            assert first.status == 401, await first.text()
            body["auth"] = {"type": "m.login.dummy", "session": (await first.json())["session"]}
        async with session.post(url, json=body) as second:
            assert second.status == 200, await second.text()
            user_id = (await second.json())["user_id"]
    return {"localpart": localpart, "password": PASSWORD, "userId": user_id}


async def _drive(options: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Run chat.mjs; its report (last stdout line) and the tail of its stderr."""
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        str(HERE / "chat.mjs"),
        json.dumps(options),
        cwd=HERE,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), DRIVER_SECONDS)
    finally:
        if process.returncode is None:
            # Timed out: the driver and the Chromium processes it started go together.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    tail = "\n".join(stderr.decode(errors="replace").splitlines()[-30:])
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        report: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        pytest.fail(f"chat.mjs exited {process.returncode} without a report; stderr:\n{tail}")
    return report, tail


def _server_errors(log_path: Path) -> list[str]:
    """Access-log lines with a status of 400 or more, and logged errors."""
    found = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _ACCESS.search(line)
        if (match and int(match["status"]) >= 400) or " ERROR " in line:
            found.append(line)
    return found


def _expected(error: dict[str, Any], base_url: str) -> bool:
    path = str(error["url"]).removeprefix(base_url)
    return any(
        error["method"] == method and path.startswith(prefix) and error["status"] == status
        for method, prefix, status in EXPECTED_CLIENT_ERRORS
    )


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_two_users_chat_in_hydrogen(
    myelin: ServerHandle, db_engine: str, encrypted: bool
) -> None:
    browser = _chromium()
    _check_client_built()
    alice = await _register(myelin.base_url, "alice")
    bob = await _register(myelin.base_url, "bob")
    shots = SCREENSHOTS / f"{db_engine}-{'encrypted' if encrypted else 'plain'}"
    shutil.rmtree(shots, ignore_errors=True)
    try:
        report, stderr = await _drive(
            {
                "homeserver": myelin.base_url,
                "users": [alice, bob],
                "screenshots": str(shots),
                "encrypted": encrypted,
                "browser": browser,
            }
        )
        (shots / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    finally:
        # Kept beside the screenshots for reading after the run (pytest's tmp_path rotates).
        shots.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(myelin.log_path, shots / "myelin.log")
    http_errors = report.get("httpErrors", [])
    server_errors = _server_errors(myelin.log_path)
    # What the client hit is shown even when the chat worked (pytest -s, or on failure).
    print(json.dumps(http_errors, indent=1), "\n".join(server_errors), sep="\n")
    problems = []
    if not report.get("ok"):
        problems.append(
            f"the chat failed after the steps {report.get('steps')}:\n{report.get('error')}\n"
            f"driver stderr:\n{stderr}\nconsole errors: {report.get('consoleErrors')}"
        )
    problems += [
        f"client got {e['status']} for {e['method']} {e['url']} (request {e['requestBody']!r}):"
        f" {e['responseBody']}"
        for e in http_errors
        if not _expected(e, myelin.base_url)
    ]
    problems += [f"server error: {line}" for line in server_errors if " ERROR " in line]
    assert not problems, "\n\n".join(problems)
    assert (shots / "05-a-final-chat.png").is_file()
