"""Application service registration files: validation with the file and key of each problem,
uniqueness of id and as_token, namespace matching (myelin.config.appservices)."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from myelin.config import parse_config
from myelin.config.appservices import load_registrations, parse_registration
from myelin.config.schema import ConfigError

GOOD: dict[str, Any] = {
    "id": "irc",
    "url": "http://127.0.0.1:9000/",
    "as_token": "a",
    "hs_token": "h",
    "sender_localpart": "_irc_bot",
    "namespaces": {
        "users": [{"exclusive": True, "regex": "@_irc_.*"}],
        "aliases": [{"exclusive": False, "regex": "#_irc_.*:example.org"}],
        "rooms": [],
    },
    "protocols": ["irc"],
    "de.sorunome.msc2409.push_ephemeral": True,
}


def _write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def test_good_registration_and_matching(tmp_path: Path) -> None:
    (registration,) = load_registrations([_write(tmp_path, "irc.yaml", GOOD)])
    assert registration.url == "http://127.0.0.1:9000"
    assert registration.receive_ephemeral and registration.rate_limited
    assert registration.sender("example.org") == "@_irc_bot:example.org"
    assert registration.is_interested_in_user("@_irc_joe:example.org", "example.org")
    assert registration.is_interested_in_user("@_irc_bot:example.org", "example.org")
    # Remote users are never in a users namespace; the regex is anchored at the start only.
    assert not registration.is_interested_in_user("@_irc_joe:other.org", "example.org")
    assert not registration.is_interested_in_user("@x_irc_joe:example.org", "example.org")
    assert registration.is_exclusive_user("@_irc_joe:example.org")
    assert registration.is_interested_in_alias("#_irc_chan:example.org")
    assert not registration.is_exclusive_alias("#_irc_chan:example.org")
    assert not registration.is_interested_in_room("!a:example.org")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"id": None}, "id"),
        ({"as_token": 5}, "as_token"),
        ({"url": "ftp://x"}, "url"),
        ({"sender_localpart": "Bad Name"}, "sender_localpart"),
        ({"namespaces": "x"}, "namespaces"),
        ({"namespaces": {"users": [{"regex": "("}]}}, "namespaces.users[0].regex"),
        ({"namespaces": {"users": [{"regex": "@a", "exclusive": "yes"}]}}, "exclusive"),
        ({"rate_limited": "no"}, "rate_limited"),
        ({"receive_ephemeral": 1}, "receive_ephemeral"),
    ],
)
def test_bad_registration_names_file_and_key(
    tmp_path: Path, change: dict[str, Any], where: str
) -> None:
    path = _write(tmp_path, "bad.yaml", {**GOOD, **change})
    with pytest.raises(ConfigError) as raised:
        load_registrations([path])
    assert str(path) in str(raised.value)
    assert where in str(raised.value)


def test_missing_url_unknown_keys_and_unreadable(tmp_path: Path) -> None:
    raw = {k: v for k, v in GOOD.items() if k != "url"}
    registration, problems, _ = parse_registration(raw, "f.yaml")
    assert registration is None and any("url" in p.path for p in problems)
    registration, problems, warnings = parse_registration({**GOOD, "colour": 1}, "f.yaml")
    assert registration is not None and not problems
    assert warnings == ["f.yaml: colour: unknown registration key, ignored"]
    with pytest.raises(ConfigError, match="cannot read"):
        load_registrations([tmp_path / "missing.yaml"])
    (tmp_path / "broken.yaml").write_text("id: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_registrations([tmp_path / "broken.yaml"])


def test_id_and_as_token_must_be_unique(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.yaml", GOOD)
    second = _write(tmp_path, "b.yaml", {**GOOD, "hs_token": "other"})
    with pytest.raises(ConfigError) as raised:
        load_registrations([first, second])
    message = str(raised.value)
    assert f"{second}: id" in message and f"{second}: as_token" in message


def test_homeserver_config_loads_files_relative_to_it(tmp_path: Path) -> None:
    _write(tmp_path, "irc.yaml", GOOD)
    config = parse_config(
        {"server_name": "example.org", "app_service_config_files": ["irc.yaml"]}, tmp_path
    )
    assert [r.id for r in config.app_services] == ["irc"]
    with pytest.raises(ConfigError, match="cannot read"):
        parse_config(
            {"server_name": "example.org", "app_service_config_files": ["nope.yaml"]}, tmp_path
        )
