"""Helpers for the accounts tests: a server with registration open, users, logins."""

import hashlib
import hmac
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.conftest import ServeFn

V3 = "/_matrix/client/v3"
SHARED_SECRET = "a shared secret for tests"
PASSWORD = "correct horse battery staple"

Client = TestClient[Any, Any]


async def serve_accounts(serve: ServeFn, **overrides: Any) -> Client:
    """A server with registration open (dummy flow) and rate limits off, unless overridden."""
    config: dict[str, Any] = {
        "enable_registration": True,
        "registration_shared_secret": SHARED_SECRET,
        "ratelimiting": {"enabled": False},
        **overrides,
    }
    return await serve(**config)


def auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: Client, username: str, password: str = PASSWORD, **extra: Any
) -> dict[str, Any]:
    """Register through the dummy flow (two requests, as a client does)."""
    first = await client.post(f"{V3}/register", json={"username": username, "password": password})
    assert first.status == 401, await first.text()
    session = (await first.json())["session"]
    response = await client.post(
        f"{V3}/register",
        json={
            "username": username,
            "password": password,
            "auth": {"type": "m.login.dummy", "session": session},
            **extra,
        },
    )
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def shared_secret_register(
    client: Client, username: str, password: str = PASSWORD, *, admin: bool = False
) -> dict[str, Any]:
    nonce = (await (await client.get("/_synapse/admin/v1/register")).json())["nonce"]
    mac = hmac.new(
        SHARED_SECRET.encode(),
        b"\x00".join(
            [
                nonce.encode(),
                username.encode(),
                password.encode(),
                b"admin" if admin else b"notadmin",
            ]
        ),
        hashlib.sha1,
    ).hexdigest()
    response = await client.post(
        "/_synapse/admin/v1/register",
        json={
            "nonce": nonce,
            "username": username,
            "password": password,
            "admin": admin,
            "mac": mac,
        },
    )
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def login(client: Client, user: str, password: str = PASSWORD, **extra: Any) -> Any:
    response = await client.post(
        f"{V3}/login",
        json={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
            **extra,
        },
    )
    assert response.status == 200, await response.text()
    return await response.json()


def password_auth(
    user_id: str, session: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    """An m.login.password auth dict (without a session: completed in one request)."""
    auth: dict[str, Any] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": password,
    }
    if session is not None:
        auth["session"] = session
    return auth
