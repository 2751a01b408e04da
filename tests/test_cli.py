"""The ``myelin`` command: every subcommand, in-process and (for ``run``) as a real process."""

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from myelin import __version__
from myelin.app import open_database
from myelin.cli import _default_config, build_parser, main
from myelin.config import load_config
from myelin.services.accounts import check_password

REPO = Path(__file__).resolve().parent.parent
SUBCOMMANDS = ["run", "generate-config", "check-config", "register-user", "migrate", "version"]


def _myelin(*args: str) -> list[str]:
    code = "import sys; from myelin.cli import main; sys.exit(main())"
    return [sys.executable, "-c", code, *args]


def _write_config(tmp_path: Path, database_yaml: dict[str, Any], **extra: Any) -> Path:
    raw = yaml.safe_load(main_output(["generate-config", "--server-name", "cli.example"]))
    raw.update(database=database_yaml, bcrypt_rounds=4, **extra)
    path = tmp_path / "homeserver.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def main_output(argv: list[str]) -> str:
    out = io.StringIO()
    saved = sys.stdout
    sys.stdout = out
    try:
        assert main(argv) == 0
    finally:
        sys.stdout = saved
    return out.getvalue()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub: argparse.ArgumentParser = action.choices[command]
            return sub
    raise AssertionError("no subcommands")


# ---- help and version --------------------------------------------------------------------------


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: myelin {command}" in out
    description = _subparser(command).description
    assert description and len(description) > 15
    assert description.split()[0] in out


def test_top_level_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in SUBCOMMANDS:
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out == f"Myelin {__version__}\n"


# ---- generate-config and check-config ----------------------------------------------------------


def test_generate_config_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = main_output(
        [
            "generate-config",
            "--server-name",
            "example.org",
            "--data-dir",
            str(tmp_path / "d"),
            "--port",
            "8448",
        ]
    )
    path = tmp_path / "homeserver.yaml"
    path.write_text(text)
    assert main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert "valid (server_name example.org; listeners http:8448" in captured.out
    assert captured.err == ""
    config = load_config(path)
    assert config.sqlite_path == str((tmp_path / "d" / "homeserver.db").resolve())


def test_generate_config_markdown_is_the_docs() -> None:
    docs = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert main_output(["generate-config", "--format", "markdown"]) == docs


def test_generate_config_rejects_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["generate-config", "--port", "99999"])
    assert e.value.code == 2
    assert "expected a port number between 1 and 65535" in capsys.readouterr().err


def test_check_config_names_the_bad_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server_name: example.org\nlisteners:\n  - port: abc\nreport_stats: true\n")
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert 'listeners[0].port: expected an integer between 1 and 65535, got "abc"' in err
    assert "fix: set it to a TCP port number" in err
    assert "warning:" in err and "report_stats" in err


def test_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path / "nope.yaml")]) == 1
    assert "no such configuration file" in capsys.readouterr().err


# ---- register-user and migrate -----------------------------------------------------------------


def _user(config_path: Path, user_id: str) -> Any:
    async def fetch() -> Any:
        from myelin.storage import make_stores

        db = await open_database(load_config(config_path))
        try:
            return await make_stores(db).users.get_user(user_id)
        finally:
            await db.close()

    return asyncio.run(fetch())


def _displayname(config_path: Path, user_id: str) -> str | None:
    async def fetch() -> str | None:
        from myelin.storage import make_stores

        db = await open_database(load_config(config_path))
        try:
            profile = await make_stores(db).users.get_profile(user_id)
            return None if profile is None else profile.displayname
        finally:
            await db.close()

    return asyncio.run(fetch())


def test_register_user_with_stdin_password(
    tmp_path: Path,
    database_yaml: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _write_config(tmp_path, database_yaml)
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse\n"))
    assert main(["register-user", "--config", str(config), "--password-stdin", "alice"]) == 0
    assert "Created user @alice:cli.example" in capsys.readouterr().out
    user = _user(config, "@alice:cli.example")
    assert user is not None and not user.admin
    assert _displayname(config, "@alice:cli.example") == "alice"  # as Synapse sets it
    assert user.password_hash.startswith("$2")
    assert check_password("correct horse", user.password_hash)
    assert not check_password("wrong", user.password_hash)

    # The same user again is refused.
    monkeypatch.setattr(sys, "stdin", io.StringIO("other\n"))
    assert main(["register-user", "--config", str(config), "--password-stdin", "alice"]) == 1
    assert "already exists" in capsys.readouterr().err

    # A full user ID, as admin.
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    argv = ["register-user", "--config", str(config), "--password-stdin", "--admin"]
    assert main([*argv, "@bob:cli.example"]) == 0
    assert _user(config, "@bob:cli.example").admin


@pytest.mark.parametrize("user", ["Alice", "al ice", "", "@carol:other.example", "@:cli.example"])
def test_register_user_refuses_invalid_names(
    tmp_path: Path,
    database_yaml: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    user: str,
) -> None:
    config = _write_config(tmp_path, database_yaml)
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    assert main(["register-user", "--config", str(config), "--password-stdin", user]) == 1
    assert "error:" in capsys.readouterr().err


def test_register_user_prompts_twice(
    tmp_path: Path,
    database_yaml: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _write_config(tmp_path, database_yaml)
    answers = iter(["one", "two", "same", "same"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["register-user", "--config", str(config), "dave"]) == 1
    assert "do not match" in capsys.readouterr().err
    assert main(["register-user", "--config", str(config), "dave"]) == 0
    assert check_password("same", _user(config, "@dave:cli.example").password_hash)


def test_migrate(
    tmp_path: Path, database_yaml: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(tmp_path, database_yaml)
    assert main(["migrate", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "Applied migrations: 1" in out
    assert "Schema version:" in out
    assert main(["migrate", "--config", str(config)]) == 0
    assert "No migrations to apply" in capsys.readouterr().out


def test_unreachable_database_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database that cannot be opened names itself, without a traceback."""
    missing_dir = {"name": "sqlite3", "args": {"database": str(tmp_path / "nodir" / "hs.db")}}
    config = _write_config(tmp_path, missing_dir)
    assert main(["migrate", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "myelin migrate: error: cannot open SQLite database" in err
    assert "Traceback" not in err


# ---- run ---------------------------------------------------------------------------------------


def test_default_data_dir_gets_a_config(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = _default_config(data, None)
    config = load_config(path)
    assert config.server_name == "localhost"
    assert config.listeners[0].port == 8008
    assert config.listeners[0].bind_addresses == ("127.0.0.1",)
    assert config.sqlite_path == str((data / "homeserver.db").resolve())
    assert config.signing_key_file.parent == data.resolve()
    # An existing file is kept as it is.
    path.write_text(path.read_text().replace("server_name: localhost", "server_name: kept.example"))
    assert load_config(_default_config(data, "ignored.example")).server_name == "kept.example"


def test_run_refuses_a_changed_server_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _default_config(data, "first.example")
    assert main(["run", "--data-dir", str(data), "--server-name", "second.example"]) == 1
    assert "cannot change" in capsys.readouterr().err


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """``myelin run`` configures the root logger; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("keep_logging")
def test_run_reports_a_port_in_use(
    tmp_path: Path, database_yaml: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        listeners = [{"port": port, "resources": [{"names": ["client"]}]}]
        config = _write_config(tmp_path, database_yaml, listeners=listeners)
        assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "myelin run: error:" in err and str(port) in err


def _wait_for_health(port: int, process: "subprocess.Popen[bytes]") -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"myelin run exited early: {process.stderr.read()!r}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            time.sleep(0.1)
    raise AssertionError("myelin run did not answer /health")


@pytest.mark.usefixtures("keep_logging")
def test_run_with_config_refuses_data_dir_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", "x.yaml", "--server-name", "a.example"]) == 1
    assert "apply only without --config" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_and_stops_on_signal(tmp_path: Path, signum: int) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port = _free_port()
    config = main_output(["generate-config", "--port", str(port)])
    (data / "homeserver.yaml").write_text(config)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        _myelin("run", "--data-dir", str(data)),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert _wait_for_health(port, process) == "OK"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_matrix/key/v2/server") as r:
            assert b"verify_keys" in r.read()
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    log = err.decode()
    assert process.returncode == 0, log
    assert "Starting Myelin" in log and "server name localhost" in log
    assert f"Listening on http://127.0.0.1:{port}" in log
    assert "Database: SQLite" in log
    assert "Database schema version" in log
    assert "Generated signing key ed25519:" in log
    assert "GET /health 200" in log
    assert "Shutting down" in log and "Stopped" in log
    assert "Traceback" not in log
    key_file = data / "localhost.signing.key"
    assert key_file.read_text().startswith("ed25519 a_")
    assert key_file.stat().st_mode & 0o777 == 0o600


def _post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        result: dict[str, Any] = json.loads(r.read())
    return result


def test_stop_does_not_wait_for_open_sync_long_polls(tmp_path: Path) -> None:
    """A /sync long-poll in flight must not hold a SIGTERM for its whole timeout."""
    data = tmp_path / "data"
    data.mkdir()
    port = _free_port()
    config = data / "homeserver.yaml"
    config.write_text(main_output(["generate-config", "--port", str(port)]))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        _myelin("register-user", "--config", str(config), "--password-stdin", "alice"),
        input=b"correct horse battery\n",
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    process = subprocess.Popen(
        _myelin("run", "--data-dir", str(data)),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_health(port, process)
        base = f"http://127.0.0.1:{port}/_matrix/client/v3"
        login = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "alice"},
            "password": "correct horse battery",
        }
        headers = {"Authorization": f"Bearer {_post_json(f'{base}/login', login)['access_token']}"}
        with urllib.request.urlopen(
            urllib.request.Request(f"{base}/sync", headers=headers), timeout=10
        ) as r:
            since = json.loads(r.read())["next_batch"]
        poll = urllib.request.Request(f"{base}/sync?since={since}&timeout=60000", headers=headers)

        def long_poll() -> None:
            with contextlib.suppress(OSError), urllib.request.urlopen(poll, timeout=70):
                pass

        thread = threading.Thread(target=long_poll, daemon=True)
        thread.start()
        time.sleep(0.5)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        assert process.returncode == 0
        assert time.monotonic() - started < 15
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
