"""UIA fallback pages (spec: Client-Server API, "User-Interactive Authentication API",
"Fallback"): the HTML page of each stage completes it for the session and runs the spec's
``onAuthDone`` / ``authDone`` snippet; the client then resubmits with the session only."""

from typing import Any

from tests.api.account_support import (
    PASSWORD,
    V3,
    Client,
    auth_header,
    serve_accounts,
    shared_secret_register,
)
from tests.api.conftest import ServeFn
from tests.api.room_support import new_user

DONE_SNIPPET = """if (window.onAuthDone) {
    window.onAuthDone();
} else if (window.opener && window.opener.postMessage) {
    window.opener.postMessage("authDone", "*");
}"""


def fallback(stage: str, prefix: str = V3) -> str:
    return f"{prefix}/auth/{stage}/fallback/web"


async def page(client: Client, stage: str, session: str, status: int = 200) -> str:
    response = await client.get(fallback(stage), params={"session": session})
    assert response.status == status
    assert response.headers["Content-Type"].startswith("text/html")
    return await response.text()


async def submit(client: Client, stage: str, form: dict[str, str], **kw: Any) -> str:
    response = await client.post(fallback(stage, **kw), data=form)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/html")
    return await response.text()


async def test_password_fallback_completes_the_stage(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    path = f"{V3}/delete_devices"
    first = await alice.request("POST", path, json={"devices": [alice.device_id]}, status=401)
    session = first["session"]
    assert first["flows"] == [{"stages": ["m.login.password"]}]
    form = await page(client, "m.login.password", session)
    assert '<form method="post">' in form and 'name="password"' in form
    assert f'value="{session}"' in form and alice.user_id in form
    assert "onAuthDone" not in form
    # A wrong password shows the form again with the reason; nothing is completed.
    wrong = await submit(client, "m.login.password", {"session": session, "password": "nope"})
    assert 'id="error"' in wrong and "Invalid username or password" in wrong
    await alice.request(
        "POST", path, json={"devices": [], "auth": {"session": session}}, status=401
    )
    done = await submit(client, "m.login.password", {"session": session, "password": PASSWORD})
    assert DONE_SNIPPET in done
    # The page of a completed stage says so at once.
    assert DONE_SNIPPET in await page(client, "m.login.password", session)
    # The client resubmits with the session only.
    await alice.request(
        "POST", path, json={"devices": [alice.device_id], "auth": {"session": session}}
    )
    gone = await client.get(f"{V3}/account/whoami", headers=alice.headers)
    assert gone.status == 401


async def test_dummy_fallback_for_registration(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    body = {"username": "bob", "password": PASSWORD}
    first = await client.post(f"{V3}/register", json=body)
    session = (await first.json())["session"]
    form = await page(client, "m.login.dummy", session)
    assert "<button" in form and 'name="password"' not in form
    # Through the r0 path too, with the session in the query string only.
    response = await client.post(
        fallback("m.login.dummy", "/_matrix/client/r0"), params={"session": session}, data={}
    )
    assert DONE_SNIPPET in await response.text()
    registered = await client.post(f"{V3}/register", json={**body, "auth": {"session": session}})
    assert registered.status == 200
    assert (await registered.json())["user_id"].startswith("@bob:")
    # A registration session has no user: the password stage cannot apply to it.
    first = await client.post(f"{V3}/register", json={"username": "carl", "password": PASSWORD})
    other = (await first.json())["session"]
    refused = await client.post(
        fallback("m.login.password"), data={"session": other, "password": PASSWORD}
    )
    assert refused.status == 400 and (await refused.json())["errcode"] == "M_UNKNOWN"
    shown = await client.get(fallback("m.login.password"), params={"session": other})
    assert shown.status == 400 and (await shown.json())["errcode"] == "M_UNKNOWN"


async def test_registration_token_fallback(serve: ServeFn) -> None:
    client = await serve_accounts(serve, registration_requires_token=True)
    admin = await shared_secret_register(client, "root", admin=True)
    created = await client.post(
        "/_synapse/admin/v1/registration_tokens/new",
        json={"token": "abc", "uses_allowed": 1},
        headers=auth_header(admin["access_token"]),
    )
    assert created.status == 200
    body = {"username": "gina", "password": PASSWORD}
    session = (await (await client.post(f"{V3}/register", json=body)).json())["session"]
    assert 'name="token"' in await page(client, "m.login.registration_token", session)
    stage = "m.login.registration_token"
    wrong = await submit(client, stage, {"session": session, "token": "nope"})
    assert "Invalid registration token" in wrong and DONE_SNIPPET not in wrong
    missing = await submit(client, stage, {"session": session})
    assert "Missing field: token" in missing
    assert DONE_SNIPPET in await submit(client, stage, {"session": session, "token": "abc"})
    registered = await client.post(f"{V3}/register", json={**body, "auth": {"session": session}})
    assert registered.status == 200


async def test_fallback_errors(serve: ServeFn) -> None:
    client = await serve_accounts(serve)

    async def error(response: Any, status: int, errcode: str) -> None:
        assert response.status == status
        assert (await response.json())["errcode"] == errcode

    await error(await client.get(fallback("m.login.dummy")), 400, "M_MISSING_PARAM")
    await error(
        await client.get(fallback("m.login.dummy"), params={"session": "nope"}), 400, "M_UNKNOWN"
    )
    await error(
        await client.post(fallback("m.login.dummy"), data={"session": "nope"}), 400, "M_UNKNOWN"
    )
    await error(
        await client.get(fallback("m.login.sso"), params={"session": "x"}), 404, "M_UNRECOGNIZED"
    )
    await error(await client.post(fallback("m.login.recaptcha"), data={}), 404, "M_UNRECOGNIZED")
