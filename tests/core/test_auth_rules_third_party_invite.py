"""Invites through a third-party invite: the signed block checked against the invite's keys."""

from typing import Any

import pytest

from myelin.core.events import EventView
from myelin.core.room_versions import RoomVersion
from myelin.core.signing import SigningKey, sign_json
from tests.core.auth_rules_support import ALICE, BOB, Room, expected, joined_room, versions

ALL = versions()
RULE = {"1-5": "5.3.1", "6-7": "4.3.1", "8-11": "4.4.1", "12": "5.4.1"}

KEY = SigningKey.from_seed("0", b"\x01" * 32)
OTHER_KEY = SigningKey.from_seed("0", b"\x02" * 32)
TOKEN = "abc123"


def _signed(key: SigningKey = KEY, mxid: str = BOB, token: str = TOKEN) -> dict[str, Any]:
    return sign_json({"mxid": mxid, "token": token, "sender": ALICE}, "id.example", key)


def _room(rv: RoomVersion, content: dict[str, Any] | None = None, sender: str = ALICE) -> Room:
    room = joined_room(rv, ALICE)
    room.set_state(
        "m.room.third_party_invite",
        TOKEN,
        content if content is not None else {"public_key": KEY.verify_key.encode()},
        sender=sender,
    )
    return room


def _invite(room: Room, third_party_invite: Any, target: str = BOB) -> EventView:
    content = {"membership": "invite", "third_party_invite": third_party_invite}
    return room.event("m.room.member", ALICE, target, content)


@pytest.mark.parametrize("rv", ALL)
def test_valid_third_party_invite_allowed(rv: RoomVersion) -> None:
    room = _room(rv)
    room.check_full(_invite(room, {"display_name": "b", "signed": _signed()}))


@pytest.mark.parametrize("rv", ALL)
def test_key_from_public_keys_list(rv: RoomVersion) -> None:
    keys = {"public_keys": [{"public_key": "AAAA"}, {"public_key": KEY.verify_key.encode()}]}
    room = _room(rv, {"public_key": OTHER_KEY.verify_key.encode(), **keys})
    room.check(_invite(room, {"signed": _signed()}))


@pytest.mark.parametrize("rv", ALL)
def test_url_safe_public_key(rv: RoomVersion) -> None:
    room = _room(rv, {"public_key": KEY.verify_key.encode().replace("+", "-").replace("/", "_")})
    room.check(_invite(room, {"signed": _signed()}))


@pytest.mark.parametrize("rv", ALL)
def test_banned_target_rejected_1(rv: RoomVersion) -> None:
    room = _room(rv)
    room.member(BOB, "ban", sender=ALICE)
    assert room.rejects(_invite(room, {"signed": _signed()})) == expected(rv, RULE) + ".1"


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("value", [{}, {"signed": "x"}, "x"])
def test_no_signed_rejected_2(rv: RoomVersion, value: Any) -> None:
    room = _room(rv)
    assert room.rejects(_invite(room, value)) == expected(rv, RULE) + ".2"


@pytest.mark.parametrize("rv", ALL)
@pytest.mark.parametrize("missing", ["mxid", "token"])
def test_signed_without_mxid_or_token_rejected_3(rv: RoomVersion, missing: str) -> None:
    room = _room(rv)
    signed = {k: v for k, v in _signed().items() if k != missing}
    assert room.rejects(_invite(room, {"signed": signed})) == expected(rv, RULE) + ".3"


@pytest.mark.parametrize("rv", ALL)
def test_mxid_not_target_rejected_4(rv: RoomVersion) -> None:
    room = _room(rv)
    event = _invite(room, {"signed": _signed(mxid="@other:b.example")})
    assert room.rejects(event) == expected(rv, RULE) + ".4"


@pytest.mark.parametrize("rv", ALL)
def test_no_third_party_invite_event_rejected_5(rv: RoomVersion) -> None:
    room = _room(rv)
    event = _invite(room, {"signed": _signed(token="other")})
    assert room.rejects(event) == expected(rv, RULE) + ".5"


@pytest.mark.parametrize("rv", ALL)
def test_sender_not_inviter_rejected_6(rv: RoomVersion) -> None:
    room = _room(rv, sender="@creator:a.example")
    assert room.rejects(_invite(room, {"signed": _signed()})) == expected(rv, RULE) + ".6"


@pytest.mark.parametrize("rv", ALL)
def test_no_matching_signature_rejected_8(rv: RoomVersion) -> None:
    room = _room(rv)
    # Signed by another key.
    wrong = _invite(room, {"signed": _signed(key=OTHER_KEY)})
    assert room.rejects(wrong) == expected(rv, RULE) + ".8"
    # A correct signature over different content.
    tampered = dict(_signed())
    tampered["extra"] = "changed"
    assert room.rejects(_invite(room, {"signed": tampered})) == expected(rv, RULE) + ".8"
    # No signatures at all, or no usable keys in the invite event.
    unsigned = {"mxid": BOB, "token": TOKEN}
    assert room.rejects(_invite(room, {"signed": unsigned})) == expected(rv, RULE) + ".8"
    keyless = _room(rv, {"public_key": "not base64!"})
    assert keyless.rejects(_invite(keyless, {"signed": _signed()})) == expected(rv, RULE) + ".8"
