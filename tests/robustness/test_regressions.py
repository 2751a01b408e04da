"""Regressions found by the robustness sweep (spec: Client-Server API, "Standard error
response"; Appendices, "Canonical JSON"): each answered 500 before its fix.
"""

from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, auth_header
from tests.robustness.conftest import Swept


async def _expect(
    swept: Swept, method: str, path: str, body: Any, expected: tuple[int, str | None]
) -> None:
    world = swept.world
    response = await world.client.request(
        method,
        path,
        data=body if isinstance(body, bytes) else None,
        json=None if isinstance(body, bytes) else body,
        headers=auth_header(world.token),
    )
    answer = await response.json()
    assert (response.status, answer.get("errcode")) == expected, answer


async def test_content_canonical_json_cannot_encode_is_bad_json(swept: Swept) -> None:
    """Canonical JSON has no floats and no integers beyond 2**53: a 400 M_BAD_JSON, not a 500."""
    room = quote(swept.world.room_id)
    for number, content in enumerate(
        (
            b'{"msgtype": "m.text", "body": "x", "n": 1.5}',
            b'{"body": "x", "deep": {"n": [2.5]}}',
            b'{"body": "x", "n": 123456789012345678901234567890}',
            b'{"body": "x", "n": 9007199254740992}',
        )
    ):
        send = f"{V3}/rooms/{room}/send/m.room.message/f{number}"
        await _expect(swept, "PUT", send, content, (400, "M_BAD_JSON"))
        state = f"{V3}/rooms/{room}/state/m.room.topic"
        await _expect(swept, "PUT", state, content, (400, "M_BAD_JSON"))
    for body in (
        {"initial_state": [{"type": "m.room.topic", "content": {"topic": "t", "n": 0.5}}]},
        {"creation_content": {"n": 0.5}},
        {"power_level_content_override": {"users_default": 0.5}},
    ):
        await _expect(swept, "POST", f"{V3}/createRoom", body, (400, "M_BAD_JSON"))


async def test_nul_in_parameters_is_invalid_param(swept: Swept) -> None:
    """PostgreSQL cannot store or compare NUL in text: refused up front on both engines."""
    for path in (
        "/_matrix/client/v3/devices/nul%00byte",
        "/_matrix/client/v3/rooms/%21room%00:test.example/state",
        "/_matrix/client/v3/presence/%40a%00%3Atest.example/status",
        "/_matrix/client/v3/directory/list/room/%00",
        "/_matrix/client/v3/publicRooms?since=%00",
    ):
        await _expect(swept, "GET", path, None, (400, "M_INVALID_PARAM"))


async def test_nul_in_body_strings_is_bad_json(swept: Swept) -> None:
    world = swept.world
    user = quote(world.user_id)
    room = quote(world.room_id)
    for method, path, body in (
        ("PUT", f"{V3}/profile/{user}/displayname", {"displayname": "a\x00b"}),
        ("PUT", f"{V3}/devices/{world.device_id}", {"display_name": "\x00"}),
        ("POST", f"{V3}/rooms/{room}/report", {"reason": "bad\x00"}),
        ("PUT", f"{V3}/rooms/{room}/send/m.room.message/n1", {"body": "x", "\x00": 1}),
        ("PUT", f"{V3}/directory/room/{quote('#nul:test.example')}", {"room_id": "!\x00"}),
    ):
        await _expect(swept, method, path, body, (400, "M_BAD_JSON"))
    # An escaped backslash before u0000 is no NUL character.
    await _expect(
        swept,
        "PUT",
        f"{V3}/profile/{user}/displayname",
        b'{"displayname": "a\\\\u0000"}',
        (200, None),
    )


async def test_make_membership_with_an_invalid_user_id_is_invalid_param(swept: Swept) -> None:
    """``make_leave``/``make_join`` checked only the server name of the user ID: a room ID or
    an over-long ID from the right server reached event building and answered 500."""
    from tests.robustness.test_federation_auth import _signed

    room = quote(swept.world.room_id)
    for kind in ("make_leave", "make_join", "make_knock"):
        for user in ("!room:test.example", "@" + "u" * 300 + ":test.example"):
            path = f"/_matrix/federation/v1/{kind}/{room}/{quote(user)}?ver=10"
            endpoint = next(e for e in swept.endpoints if e.name == f"federation.{kind}")
            headers = _signed(swept, "GET", path, None)
            outcome = await swept.world.send(endpoint, path, headers=headers)
            assert outcome.status == 400, outcome
            assert b'"M_INVALID_PARAM"' in outcome.body, outcome
