"""Room versions 1 to 12 as data (spec: "Room Versions")."""

import dataclasses

import pytest

from myelin.core.errors import UnsupportedRoomVersionError
from myelin.core.room_versions import (
    DEFAULT_ROOM_VERSION,
    KNOWN_ROOM_VERSIONS,
    EventIdFormat,
    RedactionRules,
    StateResVersion,
    get_room_version,
)


def test_versions_1_to_12_are_known_and_stable() -> None:
    assert list(KNOWN_ROOM_VERSIONS) == [str(n) for n in range(1, 13)]
    assert all(v.stable for v in KNOWN_ROOM_VERSIONS.values())
    assert DEFAULT_ROOM_VERSION.identifier == "11"


@pytest.mark.parametrize("name", ["0", "13", "", "1.0", "org.example.custom", " 1"])
def test_unknown_versions_are_rejected(name: str) -> None:
    with pytest.raises(UnsupportedRoomVersionError):
        get_room_version(name)


def test_records_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_room_version("1").knock = True  # type: ignore[misc]


def _versions_where(flag: str) -> list[str]:
    return [n for n, v in KNOWN_ROOM_VERSIONS.items() if getattr(v, flag)]


@pytest.mark.parametrize(
    ("flag", "versions"),
    [
        ("enforce_key_validity", range(5, 13)),
        ("special_case_aliases_auth", range(1, 6)),
        ("strict_canonicaljson", range(6, 13)),
        ("limit_notifications_power_levels", range(6, 13)),
        ("knock", range(7, 13)),
        ("restricted_join_rule", range(8, 13)),
        ("knock_restricted_join_rule", range(10, 13)),
        ("integer_power_levels", range(10, 13)),
        ("creator_is_sender", range(11, 13)),
        ("redacts_in_content", range(11, 13)),
        ("room_id_is_create_event_id", range(12, 13)),
        ("privileged_creators", range(12, 13)),
    ],
)
def test_flags_follow_the_spec(flag: str, versions: range) -> None:
    assert _versions_where(flag) == [str(n) for n in versions]


def test_formats_and_algorithms() -> None:
    v = {n: get_room_version(str(n)) for n in range(1, 13)}
    assert [v[n].event_id_format for n in (1, 2, 3, 4, 12)] == [
        EventIdFormat.V1,
        EventIdFormat.V1,
        EventIdFormat.V3,
        EventIdFormat.V4,
        EventIdFormat.V4,
    ]
    assert v[1].state_res is StateResVersion.V1
    assert all(v[n].state_res is StateResVersion.V2 for n in range(2, 12))
    assert v[12].state_res is StateResVersion.V2_1
    assert [v[n].redaction for n in (5, 6, 8, 9, 10, 11, 12)] == [
        RedactionRules.V1,
        RedactionRules.V6,
        RedactionRules.V6,
        RedactionRules.V9,
        RedactionRules.V9,
        RedactionRules.V11,
        RedactionRules.V11,
    ]
