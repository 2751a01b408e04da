"""Tests of the Synapse and Myelin configurations: loopback only, no rate limits."""

from pathlib import Path
from typing import Any

import yaml

from bench import myelin, ratelimits, synapse
from bench.server import Engine

GENERATED: dict[str, Any] = {
    "server_name": "bench-synapse.test",
    "listeners": [
        {
            "port": 8008,
            "tls": False,
            "type": "http",
            "resources": [{"names": ["client", "federation"], "compress": False}],
        }
    ],
    "trusted_key_servers": [{"server_name": "matrix.org"}],
    "report_stats": False,
    "rc_login": {"address": {"per_second": 0.1}},
    "macaroon_secret_key": "kept",
}


def test_synapse_config_is_loopback_only_and_unlimited(tmp_path: Path) -> None:
    patched = synapse.patch_config(
        GENERATED, 4321, Engine("sqlite"), tmp_path, tmp_path / "log.yaml"
    )
    assert patched["listeners"] == [
        {
            "port": 4321,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": False,
            "x_forwarded": True,
            "resources": [{"names": ["client", "federation"], "compress": False}],
        }
    ]
    assert patched["trusted_key_servers"] == []
    assert patched["federation_domain_whitelist"] == []
    assert patched["report_stats"] is False
    assert patched["url_preview_enabled"] is False
    assert patched["enable_metrics"] is False
    assert patched["macaroon_secret_key"] == "kept"
    assert patched["database"] == {
        "name": "sqlite3",
        "args": {"database": str(tmp_path / "homeserver.db")},
    }
    unlimited = {"per_second": ratelimits.UNLIMITED, "burst_count": ratelimits.UNLIMITED}
    assert patched["rc_login"]["address"] == unlimited
    assert patched["rc_login"]["failed_attempts"] == unlimited
    assert patched["rc_joins"]["remote"] == unlimited
    assert patched["rc_message"] == unlimited
    assert patched["rc_federation"]["reject_limit"] == ratelimits.UNLIMITED
    # The input is left as generated.
    assert GENERATED["trusted_key_servers"] == [{"server_name": "matrix.org"}]
    assert GENERATED["rc_login"] == {"address": {"per_second": 0.1}}


def test_postgres_sections_name_the_fresh_database(tmp_path: Path) -> None:
    engine = Engine("postgres", "127.0.0.1", 5433, "bench", "bench_x_1")
    for module in (synapse, myelin):
        section = module.database_section(engine, tmp_path)
        assert section["name"] == "psycopg2"
        assert section["args"]["database"] == "bench_x_1"
        assert section["args"]["host"] == "127.0.0.1"
        assert section["args"]["port"] == 5433
        assert section["args"]["user"] == "bench"


def test_synapse_log_config_writes_into_the_data_dir(tmp_path: Path) -> None:
    generated: dict[str, Any] = {
        "version": 1,
        "handlers": {"file": {"filename": "homeserver.log", "when": "x"}},
    }
    patched = synapse.patch_log_config(generated, tmp_path / "homeserver.log")
    assert patched["handlers"]["file"] == {
        "filename": str(tmp_path / "homeserver.log"),
        "when": "x",
    }
    assert generated["handlers"]["file"]["filename"] == "homeserver.log"


def test_myelin_config_from_its_own_cli(tmp_path: Path) -> None:
    path = myelin.write_config(tmp_path, 4322, Engine("sqlite"))
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert config["server_name"] == myelin.SERVER_NAME
    assert [listener["port"] for listener in config["listeners"]] == [4322]
    assert all(listener["bind_addresses"] == ["127.0.0.1"] for listener in config["listeners"])
    assert config["database"]["args"]["database"] == str(tmp_path / "homeserver.db")
    unlimited = {"per_second": ratelimits.UNLIMITED, "burst_count": ratelimits.UNLIMITED}
    limiters = ratelimits.limiter_paths(config)
    assert "rc_login.address" in limiters
    assert "rc_message" in limiters
    for dotted in limiters:
        node: Any = config
        for part in dotted.split("."):
            node = node[part]
        assert node == unlimited, dotted
    assert config["rc_federation"]["reject_limit"] == ratelimits.UNLIMITED
