"""Configuration: errors name the key and the fix; generated files come from one source."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from myelin.config import (
    ConfigError,
    HomeserverConfig,
    Report,
    configuration_markdown,
    generate_config,
    load_config,
    parse_config,
)
from myelin.config.schema import parse_duration

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def _errors(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    return [str(p) for p in e.value.problems]


def _minimal(**extra: Any) -> dict[str, Any]:
    return {"server_name": "example.org", **extra}


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = parse_config(_minimal(), tmp_path)
    assert config.server_name == "example.org"
    assert config.base_url == "https://example.org/"
    assert config.listeners[0].port == 8008
    assert config.listeners[0].bind_addresses == ("127.0.0.1",)
    assert config.database.engine == "sqlite"
    assert config.sqlite_path == str(tmp_path.resolve() / "homeserver.db")
    assert config.signing_key_file == tmp_path.resolve() / "example.org.signing.key"
    assert config.key_refresh_interval == 86_400_000
    assert config.logging.level == "INFO" and config.logging.format == "text"


def test_port_error_names_the_key_and_the_fix() -> None:
    errors = _errors(_minimal(listeners=[{"port": "abc"}]))
    assert len(errors) == 1
    assert errors[0].startswith(
        'listeners[0].port: expected an integer between 1 and 65535, got "abc"'
    )
    assert "fix:" in errors[0]
    assert "between 1 and 65535, got 70000" in _errors(_minimal(listeners=[{"port": 70000}]))[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, "server_name: this option is required"),
        (_minimal(server_name="bad name!"), "server_name: expected a server name"),
        (_minimal(public_baseurl="ftp://x"), "public_baseurl: expected an http:// or https://"),
        (_minimal(listeners=[{"port": 80, "type": "ftp"}]), "listeners[0].type: expected one of"),
        (_minimal(listeners=[{"port": 80, "prot": 1}]), "listeners[0].prot: unknown option"),
        (
            _minimal(listeners=[{"port": 80, "tls": True}]),
            "tls_certificate_path: a listener has tls",
        ),
        (
            _minimal(listeners=[{"port": 80, "resources": [{"names": ["clients"]}]}]),
            "listeners[0].resources[0].names: unknown resource name 'clients'",
        ),
        (_minimal(listeners={"port": 80}), "listeners: expected a list, got a mapping"),
        (_minimal(database={"name": "mysql"}), "database.name: expected one of sqlite3"),
        (_minimal(database={"name": "psycopg2"}), "database.args.dbname: PostgreSQL needs"),
        (
            _minimal(database={"name": "psycopg2", "args": {"dbname": "x", "port": "5432"}}),
            'database.args.port: expected an integer, got "5432"',
        ),
        (_minimal(key_refresh_interval="soon"), "key_refresh_interval: expected a duration"),
        (_minimal(enable_registration="yes"), "enable_registration: expected true or false"),
        (_minimal(logging={"level": "LOUD"}), "logging.level: expected one of DEBUG"),
        (_minimal(bcrypt_rounds=3), "bcrypt_rounds: expected an integer from 4 to 31"),
        (
            _minimal(old_signing_keys={"rsa:1": {"key": "x", "expired_ts": 1}}),
            "old_signing_keys.rsa:1: expected a key ID",
        ),
        (
            _minimal(old_signing_keys={"ed25519:1": {"key": "!!", "expired_ts": 1}}),
            "old_signing_keys.ed25519:1.key: not an unpadded base64 Ed25519 public key",
        ),
        (
            _minimal(old_signing_keys={"ed25519:1": {"key": "AAAA"}}),
            "old_signing_keys.ed25519:1.expired_ts: this option is required",
        ),
        (
            _minimal(extra_well_known_client_content={"m.homeserver": {}}),
            "extra_well_known_client_content: m.homeserver is set from public_baseurl",
        ),
        ([1, 2], "the configuration must be a YAML mapping"),
    ],
)
def test_errors_name_the_key(raw: Any, expected: str) -> None:
    errors = _errors(raw)
    assert any(e.startswith(expected) for e in errors), errors


def test_every_problem_is_reported_at_once() -> None:
    errors = _errors({"listeners": [{"port": 0}, {"port": 1, "type": "x"}], "bcrypt_rounds": "a"})
    paths = sorted(e.split(":", 1)[0] for e in errors)
    assert paths == ["bcrypt_rounds", "listeners[0].port", "listeners[1].type", "server_name"]


def test_nested_typo_suggests_the_option() -> None:
    errors = _errors(_minimal(listeners=[{"port": 80, "bind_adresses": ["::"]}]))
    assert "did you mean 'bind_addresses'?" in errors[0]


def test_unknown_top_level_keys_warn() -> None:
    report = Report()
    config = parse_config(
        _minimal(report_stats=False, pid_file="/x", config_dir="/y", enable_registation=True),
        report=report,
    )
    assert config.server_name == "example.org"
    assert len(report.warnings) == 4
    assert any("enable_registation" in w and "enable_registration" in w for w in report.warnings)


def test_synapse_database_config() -> None:
    report = Report()
    config = parse_config(
        _minimal(
            database={
                "name": "psycopg2",
                "txn_limit": 10000,
                "args": {
                    "user": "synapse",
                    "password": "secret",
                    "database": "synapse",
                    "host": "db",
                    "cp_min": 5,
                    "cp_max": 10,
                    "keepalives_idle": 10,
                },
            }
        ),
        report=report,
    )
    assert config.database.engine == "postgres"
    assert config.database.args.database == "synapse"
    assert sorted(report.warnings) == [
        "database.args.keepalives_idle: unknown option, ignored (remove it)",
        "database.txn_limit: unknown option, ignored (remove it)",
    ]
    assert config.database.args.cp_max == 10


def test_postgresql_alias_and_cp_order() -> None:
    config = parse_config(_minimal(database={"name": "postgresql", "args": {"dbname": "m"}}))
    assert config.database.engine == "postgres"
    errors = _errors(
        _minimal(database={"name": "postgresql", "args": {"dbname": "m", "cp_min": 9, "cp_max": 2}})
    )
    assert errors[0].startswith("database.args.cp_min: is larger than cp_max")


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (1500, 1500),
        ("1500", 1500),
        ("30s", 30_000),
        ("5m", 300_000),
        ("12h", 43_200_000),
        ("1d", 86_400_000),
        ("2w", 1_209_600_000),
        ("1y", 31_536_000_000),
        ("250ms", 250),
    ],
)
def test_durations(value: Any, ms: int) -> None:
    assert parse_duration(value) == ms


@pytest.mark.parametrize("value", ["1x", "", "s", -1, True, 1.5, None])
def test_bad_durations(value: Any) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_duration(value)


@pytest.mark.parametrize("data_dir", [None, Path("/srv/myelin")])
def test_generated_config_round_trips(tmp_path: Path, data_dir: Path | None) -> None:
    text = generate_config("matrix.example.org", data_dir, 8448)
    path = tmp_path / "homeserver.yaml"
    path.write_text(text)
    report = Report()
    config = load_config(path, report)
    assert report.warnings == []
    assert config.server_name == "matrix.example.org"
    assert config.public_baseurl == "https://matrix.example.org/"
    assert config.listeners[0].port == 8448
    assert config.listeners[0].resource_names == {"client", "federation"}
    base = data_dir if data_dir is not None else tmp_path
    assert config.sqlite_path == str(base.resolve() / "homeserver.db")
    assert config.signing_key_file == base.resolve() / "matrix.example.org.signing.key"
    assert config.resolve(config.media_store_path) == base.resolve() / "media_store"


def test_generated_config_documents_every_option() -> None:
    text = generate_config("localhost")
    assert "public_baseurl: http://localhost:8008/" in text
    for key in (
        "server_name",
        "public_baseurl",
        "listeners",
        "database",
        "signing_key_path",
        "old_signing_keys",
        "key_refresh_interval",
        "media_store_path",
        "enable_registration",
        "registration_shared_secret",
        "serve_server_wellknown",
        "extra_well_known_client_content",
        "logging",
        "bcrypt_rounds",
    ):
        assert f"\n{key}:" in text or f"\n#{key}:" in text, key
    # Every option has a comment line right above it (its documentation).
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith(("#", " ", "-")):
            assert lines[i - 1].startswith("#"), line


def test_generated_config_keeps_defaults() -> None:
    config = parse_config(yaml.safe_load(generate_config("example.org")))
    default = parse_config(_minimal(server_name="example.org"))
    assert config.key_refresh_interval == default.key_refresh_interval
    assert config.bcrypt_rounds == default.bcrypt_rounds
    assert config.logging == default.logging


def test_config_is_frozen() -> None:
    config = parse_config(_minimal())
    assert isinstance(config, HomeserverConfig)
    with pytest.raises(AttributeError):
        config.server_name = "other"  # type: ignore[misc]


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server_name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_configuration_docs_are_current() -> None:
    """docs/configuration.md is generated; regenerate with
    `myelin generate-config --format markdown > docs/configuration.md`."""
    assert DOCS.read_text(encoding="utf-8") == configuration_markdown(), (
        "docs/configuration.md is stale: run"
        " `myelin generate-config --format markdown > docs/configuration.md`"
    )
    for option in ("server_name", "listeners[].port", "database.args.cp_max", "logging.format"):
        assert f"### `{option}`" in configuration_markdown()


def test_short_key_refresh_interval_warns() -> None:
    report = Report()
    config = parse_config(_minimal(key_refresh_interval="10m"), report=report)
    assert config.key_refresh_interval == 600_000
    assert any(w.startswith("key_refresh_interval: below 1h") for w in report.warnings)
