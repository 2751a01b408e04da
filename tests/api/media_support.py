"""Helpers for the media tests: images made with Pillow, uploads, the files on disk."""

import io
from pathlib import Path
from typing import Any

from PIL import Image

from tests.api.account_support import Client, auth_header, register, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import error_schema, validate

MEDIA = "/_matrix/media/v3"
CLIENT_MEDIA = "/_matrix/client/v1/media"
CONTENT_REPO = "client-server/content-repo.yaml"
AUTHED_REPO = "client-server/authed-content-repo.yaml"

# The headers every media response carries ("Content repository", "Serving inline content").
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Cross-Origin-Resource-Policy",
)


def image_bytes(
    fmt: str, size: tuple[int, int] = (400, 300), *, frames: int = 1, mode: str = "RGB"
) -> bytes:
    """An image of ``size`` in ``fmt`` (PNG, JPEG, GIF, WEBP); animated with ``frames`` > 1."""
    images = [
        Image.new(mode, size, color=((i * 60) % 256, 120, 200) if mode == "RGB" else None)
        for i in range(frames)
    ]
    out = io.BytesIO()
    if frames > 1:
        images[0].save(out, fmt, save_all=True, append_images=images[1:], duration=100, loop=0)
    else:
        images[0].save(out, fmt)
    return out.getvalue()


def check_security_headers(response: Any) -> None:
    for name in SECURITY_HEADERS:
        assert name in response.headers, f"{name} missing on {response.status}"
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def expect_error(response: Any, status: int, errcode: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    validate(body, error_schema())
    assert body["errcode"] == errcode, body
    return body


async def media_server(serve: ServeFn, **overrides: Any) -> tuple[Client, str]:
    """A server and the access token of a registered user, alice."""
    client = await serve_accounts(serve, **overrides)
    alice = await register(client, "alice")
    return client, str(alice["access_token"])


async def upload(
    client: Client,
    token: str,
    data: bytes,
    content_type: str | None = "application/octet-stream",
    filename: str | None = None,
) -> str:
    headers = auth_header(token)
    if content_type is not None:
        headers["Content-Type"] = content_type
    params = {"filename": filename} if filename is not None else {}
    response = await client.post(f"{MEDIA}/upload", data=data, headers=headers, params=params)
    assert response.status == 200, await response.text()
    uri: str = (await response.json())["content_uri"]
    assert uri.startswith("mxc://")
    return uri


def media_path(uri: str) -> str:
    return uri.removeprefix("mxc://")


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def download(client: Client, token: str, uri: str, suffix: str = "", **kwargs: Any) -> Any:
    """GET the authenticated download of ``uri`` (``suffix``: a file name path segment)."""
    headers = {**auth_header(token), **kwargs.pop("headers", {})}
    return await client.get(
        f"{CLIENT_MEDIA}/download/{media_path(uri)}{suffix}", headers=headers, **kwargs
    )
