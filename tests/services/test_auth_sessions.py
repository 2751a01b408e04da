"""User-interactive authentication with several stages (Client-Server API, "User-Interactive
Authentication API"), over real stores on both engines."""

from typing import Any

import pytest

from myelin.services.auth_sessions import UIARequiredError, UserInteractiveAuth
from myelin.services.errors import MatrixError
from myelin.storage import Database, make_stores
from tests.api.conftest import FakeClock

FLOWS = [["m.login.dummy", "m.login.password"], ["m.login.registration_token"]]
ALICE = "@alice:example.org"


async def _password(auth: dict[str, Any]) -> str | None:
    return ALICE if auth.get("password") == "pw" else None


def _uia(database: Database, clock: FakeClock) -> UserInteractiveAuth:
    stores = make_stores(database)
    return UserInteractiveAuth(stores.uia_sessions, stores.registration_tokens, clock, _password)


async def _challenge(uia: UserInteractiveAuth, auth: Any, **kwargs: Any) -> UIARequiredError:
    with pytest.raises(UIARequiredError) as info:
        await uia.authenticate(auth, FLOWS, method="POST", uri="/op", **kwargs)
    return info.value


async def test_two_stage_flow(database: Database) -> None:
    uia = _uia(database, FakeClock())
    first = await _challenge(uia, None, params={"m.login.terms": {}})
    body = first.to_json()
    assert body == {
        "flows": [{"stages": FLOWS[0]}, {"stages": FLOWS[1]}],
        "params": {"m.login.terms": {}},
        "session": body["session"],
    }
    session = body["session"]
    second = await _challenge(uia, {"type": "m.login.dummy", "session": session})
    assert second.to_json()["completed"] == ["m.login.dummy"]
    assert "errcode" not in second.to_json()
    # Retrying a completed stage answers with the same progress.
    again = await _challenge(uia, {"type": "m.login.dummy", "session": session})
    assert again.to_json()["completed"] == ["m.login.dummy"]
    wrong = await _challenge(
        uia, {"type": "m.login.password", "password": "no", "session": session}
    )
    assert wrong.to_json()["errcode"] == "M_FORBIDDEN"
    assert wrong.to_json()["completed"] == ["m.login.dummy"]
    result = await uia.authenticate(
        {"type": "m.login.password", "password": "pw", "session": session},
        FLOWS,
        method="POST",
        uri="/op",
    )
    assert (result.session_id, result.user_id, result.registration_token) == (session, ALICE, None)
    # Until finished, a retry with only the session completes again.
    retry = await uia.authenticate({"session": session}, FLOWS, method="POST", uri="/op")
    assert retry.session_id == session
    await uia.finish(result)
    with pytest.raises(MatrixError) as info:
        await uia.authenticate({"session": session}, FLOWS, method="POST", uri="/op")
    assert info.value.errcode == "M_UNKNOWN"


async def test_session_is_bound_to_operation_and_user(database: Database) -> None:
    uia = _uia(database, FakeClock())
    session = (await _challenge(uia, None, user_id=ALICE)).to_json()["session"]
    for method, uri, user_id in (
        ("PUT", "/op", ALICE),
        ("POST", "/other", ALICE),
        ("POST", "/op", "@bob:example.org"),
        ("POST", "/op", None),
    ):
        with pytest.raises(MatrixError) as info:
            await uia.authenticate(
                {"type": "m.login.dummy", "session": session},
                FLOWS,
                method=method,
                uri=uri,
                user_id=user_id,
            )
        assert (info.value.status, info.value.errcode) == (403, "M_FORBIDDEN")


async def test_bad_auth_dicts(database: Database) -> None:
    uia = _uia(database, FakeClock())
    for auth, errcode in (
        ("x", "M_BAD_JSON"),
        ({"type": 1}, "M_BAD_JSON"),
        ({"session": 1}, "M_BAD_JSON"),
        ({"type": "m.login.sso"}, "M_UNRECOGNIZED"),
        ({"type": "m.login.registration_token"}, "M_MISSING_PARAM"),
        ({"type": "m.login.registration_token", "token": 1}, "M_INVALID_PARAM"),
    ):
        with pytest.raises(MatrixError) as info:
            await uia.authenticate(auth, FLOWS, method="POST", uri="/op")
        assert info.value.status == 400 and info.value.errcode == errcode
