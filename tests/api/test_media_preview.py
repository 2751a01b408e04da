"""URL previews over HTTP (Client-Server API, "Content repository", GET /media/preview_url).

The pages come from a local aiohttp site on 127.0.0.1, reachable only because the config's
url_preview_ip_range_whitelist allows it; without that, loopback is refused.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from myelin.config.media import DEFAULT_IP_RANGE_BLACKLIST
from myelin.services.media.opengraph import parse_open_graph
from myelin.services.media.url_preview import IpFilter, url_blacklisted
from tests.api.account_support import auth_header
from tests.api.conftest import ServeFn
from tests.api.media_support import (
    CLIENT_MEDIA,
    MEDIA,
    check_security_headers,
    download,
    expect_error,
    files_under,
    image_bytes,
    media_server,
)
from tests.api.openapi import validate_response

PAGE = b"""<!doctype html><html><head><title>Fallback title</title>
<meta property="og:title" content="An &amp; example">
<meta property="og:description" content="Described">
<meta property="og:image" content="/logo.png">
</head><body><img src="/other.png"></body></html>"""
LOGO = image_bytes("PNG", (64, 48))
BOMB_PAGE = b"""<html><head><meta property="og:title" content="Bomb">
<meta property="og:image" content="/bomb.png"></head></html>"""
# 3000x3000 pixels in a few KB: above the max_image_pixels the tests set.
BOMB = image_bytes("PNG", (3000, 3000))


@pytest.fixture
async def site() -> AsyncIterator[str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html", charset="utf-8")

    async def logo(request: web.Request) -> web.Response:
        return web.Response(body=LOGO, content_type="image/png")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"<html>" + b"x" * 50_000, content_type="text/html")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=PAGE, content_type="text/html")

    async def bomb_page(request: web.Request) -> web.Response:
        return web.Response(body=BOMB_PAGE, content_type="text/html")

    async def bomb(request: web.Request) -> web.Response:
        return web.Response(body=BOMB, content_type="image/png")

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/logo.png", logo)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/bomb-page", bomb_page)
    app.router.add_get("/bomb.png", bomb)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


ALLOW_LOOPBACK: dict[str, Any] = {
    "url_preview_enabled": True,
    "url_preview_ip_range_whitelist": ["127.0.0.1/32"],
}


async def _preview(client: Any, token: str, url: str, path: str = CLIENT_MEDIA) -> Any:
    return await client.get(f"{path}/preview_url", params={"url": url}, headers=auth_header(token))


async def test_open_graph_preview_with_image(serve: ServeFn, site: str) -> None:
    client, token = await media_server(serve, **ALLOW_LOOPBACK)
    response = await _preview(client, token, f"{site}/page")
    assert response.status == 200, await response.text()
    body = await response.json()
    validate_response(
        body, "client-server/authed-content-repo.yaml", "/media/preview_url", "get", 200
    )
    assert body["og:title"] == "An & example"
    assert body["og:description"] == "Described"
    assert body["matrix:image:size"] == len(LOGO)
    image = await download(client, token, body["og:image"])
    assert await image.read() == LOGO
    # The deprecated path answers the same.
    legacy = await _preview(client, token, f"{site}/page", MEDIA)
    assert (await legacy.json())["og:title"] == "An & example"


async def test_image_url_and_redirects(serve: ServeFn, site: str) -> None:
    client, token = await media_server(serve, **ALLOW_LOOPBACK)
    response = await _preview(client, token, f"{site}/redirect?to=/logo.png")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["matrix:image:size"] == len(LOGO) and body["og:image"].startswith("mxc://")


async def test_loopback_refused_without_the_allow_list(serve: ServeFn, site: str) -> None:
    client, token = await media_server(serve, url_preview_enabled=True)
    port = site.rsplit(":", 1)[1]
    for url in (f"{site}/page", f"http://localhost:{port}/page", f"http://[::1]:{port}/page"):
        await expect_error(await _preview(client, token, url), 403, "M_FORBIDDEN")


async def test_redirect_to_a_blocked_address_refused(serve: ServeFn, site: str) -> None:
    # The site is allowed, the redirect target (another loopback address) is not.
    client, token = await media_server(serve, **ALLOW_LOOPBACK)
    port = site.rsplit(":", 1)[1]
    url = f"{site}/redirect?to=http://127.0.0.2:{port}/page"
    await expect_error(await _preview(client, token, url), 403, "M_FORBIDDEN")


async def test_limits_and_url_blacklist(serve: ServeFn, site: str) -> None:
    client, token = await media_server(
        serve,
        **ALLOW_LOOPBACK,
        max_spider_size=10_000,
        url_preview_url_blacklist=[{"path": "/logo*"}],
    )
    await expect_error(await _preview(client, token, f"{site}/big"), 502, "M_TOO_LARGE")
    await expect_error(await _preview(client, token, f"{site}/logo.png"), 403, "M_FORBIDDEN")
    for bad in ("ftp://example.org/", "not a url", "file:///etc/passwd"):
        await expect_error(await _preview(client, token, bad), 400, "M_INVALID_PARAM")
    missing = await client.get(f"{CLIENT_MEDIA}/preview_url", headers=auth_header(token))
    await expect_error(missing, 400, "M_MISSING_PARAM")
    check_security_headers(missing)


async def test_time_limit(serve: ServeFn, site: str) -> None:
    client, token = await media_server(serve, **ALLOW_LOOPBACK, url_preview_timeout="300ms")
    started = time.monotonic()
    await expect_error(await _preview(client, token, f"{site}/slow"), 504, "M_UNKNOWN")
    assert time.monotonic() - started < 4


async def test_pixel_bomb_images_left_out(serve: ServeFn, site: str, tmp_path: Path) -> None:
    client, token = await media_server(serve, **ALLOW_LOOPBACK, max_image_pixels=1_000_000)
    response = await _preview(client, token, f"{site}/bomb-page")
    assert response.status == 200, await response.text()
    assert await response.json() == {"og:title": "Bomb"}
    response = await _preview(client, token, f"{site}/bomb.png")
    assert response.status == 200, await response.text()
    assert await response.json() == {}
    # The image was not stored.
    assert files_under(tmp_path / "media_store") == []


async def test_previews_off_by_default(serve: ServeFn, site: str) -> None:
    client, token = await media_server(serve)
    await expect_error(await _preview(client, token, f"{site}/page"), 404, "M_UNRECOGNIZED")


def test_ip_filter() -> None:
    ip_filter = IpFilter(DEFAULT_IP_RANGE_BLACKLIST, ["10.1.0.0/16"])
    for blocked in (
        "127.0.0.1",
        "10.0.0.1",
        "192.168.1.1",
        "169.254.1.1",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
        "0.0.0.0",
        "::",
        "fc00::1",
        "nonsense",
    ):
        assert not ip_filter.allowed(blocked), blocked
    for allowed in ("93.184.216.34", "2606:4700::1111", "10.1.2.3"):
        assert ip_filter.allowed(allowed), allowed


def test_url_blacklist_and_open_graph_fallbacks() -> None:
    rules = [{"netloc": "*.example.com"}, {"scheme": "http", "path": "^/private"}]
    assert url_blacklisted("https://a.example.com/x", rules)
    assert url_blacklisted("http://ok.org/private/1", rules)
    assert not url_blacklisted("https://ok.org/private/1", rules)
    og = parse_open_graph(
        '<title> A  page </title><meta name="description" content="D"><img src="i.png">',
        "https://ok.org/dir/page",
    )
    assert og == {
        "og:title": "A page",
        "og:description": "D",
        "og:image": "https://ok.org/dir/i.png",
    }
