"""Media over federation between Myelin servers over TLS on loopback (Server-Server API,
"Content Repository"): the multipart/mixed federation endpoints, remote media fetched by a
client of the other server through /_matrix/client/v1/media (bytes, headers, thumbnails,
cached so that the origin is asked once), the legacy fallback on 404 M_UNRECOGNIZED, a
Location part followed only to allowed addresses, size limits and the errors."""

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from myelin.federation.client import HttpResponseError
from myelin.federation.discovery import SrvRecord
from tests.api.media_support import check_security_headers, image_bytes
from tests.federation.conftest import Federation, RunningServer
from tests.federation.remote_support import OPEN, Person

CLIENT_MEDIA = "/_matrix/client/v1/media"
FED_MEDIA = "/_matrix/federation/v1/media"
PNG = image_bytes("PNG", (400, 300))


@dataclass
class Pair:
    a: RunningServer
    b: RunningServer
    alice: Person
    bob: Person


async def _start(net: Federation, name: str, ip: str, **overrides: Any) -> RunningServer:
    """A server with open registration and a media store of its own."""
    return await net.start(name, ip, **{**OPEN, "media_store_path": f"media.{name}", **overrides})


async def _pair(net: Federation, http: aiohttp.ClientSession, **b_overrides: Any) -> Pair:
    a = await _start(net, "a.test", "127.0.0.11")
    b = await _start(net, "b.test", "127.0.0.12", **b_overrides)
    alice = await Person(net, a, http).register("alice")
    bob = await Person(net, b, http).register("bob")
    return Pair(a, b, alice, bob)


async def _upload(
    person: Person, data: bytes, content_type: str, filename: str | None = None
) -> str:
    params = {} if filename is None else {"filename": filename}
    async with person.http.post(
        person.net.url(person.server, "/_matrix/media/v3/upload"),
        data=data,
        params=params,
        headers={"Authorization": f"Bearer {person.token}", "Content-Type": content_type},
        server_hostname=person.server.name,
    ) as response:
        assert response.status == 200, await response.text()
        uri = str((await response.json())["content_uri"])
    assert uri.startswith(f"mxc://{person.server.name}/")
    return uri.removeprefix("mxc://")


async def _get(
    person: Person, path: str, verb: str = "GET", **params: str
) -> tuple[int, dict[str, str], bytes]:
    async with person.http.request(
        verb,
        person.net.url(person.server, path),
        params=params,
        headers={"Authorization": f"Bearer {person.token}"},
        server_hostname=person.server.name,
    ) as response:
        return response.status, dict(response.headers), await response.read()


def _errcode(body: bytes) -> str:
    return str(json.loads(body)["errcode"])


async def test_remote_download_fetched_once_and_cached(federation: Federation) -> None:
    async with federation.https() as http:
        p = await _pair(federation, http)
        path = await _upload(p.alice, PNG, "image/png", "café.png")
        media_id = path.split("/", 1)[1]
        status, headers, body = await _get(p.bob, f"{CLIENT_MEDIA}/download/{path}")
        assert status == 200 and body == PNG
        assert headers["Content-Type"] == "image/png"
        assert headers["Content-Disposition"] == "inline; filename*=utf-8''caf%C3%A9.png"
        check_security_headers(_Headers(headers))
        cached = await p.b.hs.stores.media.get_remote_media("a.test", media_id)
        assert cached is not None and cached.size == len(PNG)
        assert cached.upload_name == "café.png" and cached.content_type == "image/png"
        # Served from the cache with the origin gone: downloads, ranges, HEAD, thumbnails.
        p.b.dns.unreachable.add("a.test")
        status, _, body = await _get(p.bob, f"{CLIENT_MEDIA}/download/{path}/other.png")
        assert status == 200 and body == PNG
        status, headers, body = await _get(p.bob, f"{CLIENT_MEDIA}/download/{path}", "HEAD")
        assert status == 200 and body == b"" and headers["Content-Length"] == str(len(PNG))
        # Made for the configured sizes (the spec's defaults), never smaller than asked.
        for method, expected in (("scale", (320, 240)), ("crop", (96, 96))):
            status, headers, body = await _get(
                p.bob,
                f"{CLIENT_MEDIA}/thumbnail/{path}",
                width="90",
                height="90",
                method=method,
            )
            assert status == 200 and headers["Content-Type"] in ("image/png", "image/jpeg")
            with Image.open(io.BytesIO(body)) as thumb:
                assert thumb.size == expected
        assert await p.b.hs.stores.media.get_remote_thumbnail(
            "a.test", media_id, 96, 96, "crop", animated=False
        )
        # Dropping the cache really frees it: the origin is unreachable, so now it fails.
        assert p.b.hs.media is not None
        dropped = await p.b.hs.media.delete_remote_media(p.b.hs.clock.now_ms() + 1)
        assert dropped == [("a.test", media_id)]
        status, _, body = await _get(p.bob, f"{CLIENT_MEDIA}/download/{path}")
        assert (status, _errcode(body)) == (502, "M_UNKNOWN")
        blobs = p.b.hs.media.backend
        assert not [f for f in _files(blobs) if f.is_file()]


class _Headers:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def _files(backend: Any) -> list[Any]:
    return list((backend.root / "blobs").rglob("*"))


async def test_federation_endpoints_answer_multipart(federation: Federation) -> None:
    async with federation.https() as http:
        p = await _pair(federation, http)
        path = await _upload(p.alice, b"plain bytes", "text/plain", "notes.txt")
        media_id = path.split("/", 1)[1]
        client = p.b.hs.federation
        assert client is not None
        async with client.stream("a.test", f"{FED_MEDIA}/download/{media_id}") as response:
            assert response.content_type == "multipart/mixed"
            assert response.content_length is not None
            reader = aiohttp.MultipartReader.from_response(response)
            parts: list[tuple[dict[str, str], bytes]] = []
            while (part := await reader.next()) is not None:
                assert isinstance(part, aiohttp.BodyPartReader)
                parts.append((dict(part.headers), bytes(await part.read())))
        assert len(parts) == 2
        assert parts[0][0]["Content-Type"] == "application/json" and parts[0][1] == b"{}"
        assert parts[1][0]["Content-Type"] == "text/plain"
        assert parts[1][0]["Content-Disposition"] == 'inline; filename="notes.txt"'
        assert parts[1][1] == b"plain bytes"

        image = await _upload(p.alice, PNG, "image/png")
        query = {"width": "32", "height": "32", "method": "crop"}
        image_id = image.split("/", 1)[1]
        async with client.stream("a.test", f"{FED_MEDIA}/thumbnail/{image_id}", query) as r:
            reader = aiohttp.MultipartReader.from_response(r)
            metadata = await reader.next()
            assert isinstance(metadata, aiohttp.BodyPartReader)
            assert await metadata.json() == {}
            content = await reader.next()
            assert isinstance(content, aiohttp.BodyPartReader)
            assert content.headers["Content-Type"] in ("image/png", "image/jpeg")
            with Image.open(io.BytesIO(bytes(await content.read()))) as thumb:
                assert thumb.size == (32, 32)

        for bad, status, errcode in (
            (f"{FED_MEDIA}/download/nope", 404, "M_NOT_FOUND"),
            (f"{FED_MEDIA}/thumbnail/{image_id}", 400, "M_MISSING_PARAM"),
            (f"{FED_MEDIA}/download/{media_id}?timeout_ms=x", 400, "M_INVALID_PARAM"),
        ):
            bad_path, _, raw_query = bad.partition("?")
            q = dict([raw_query.split("=")]) if raw_query else None
            with pytest.raises(HttpResponseError) as e:
                async with client.stream("a.test", bad_path, q):
                    pass
            assert (e.value.status, e.value.errcode) == (status, errcode)
        # Not signed: refused.
        url = federation.url(p.a, f"{FED_MEDIA}/download/{media_id}")
        async with http.get(url, server_hostname="a.test") as response:
            assert response.status == 401


async def test_remote_errors(federation: Federation) -> None:
    async with federation.https() as http:
        p = await _pair(federation, http, max_upload_size="1K")
        status, _, body = await _get(p.bob, f"{CLIENT_MEDIA}/download/a.test/doesnotexist")
        assert (status, _errcode(body)) == (404, "M_NOT_FOUND")
        status, _, body = await _get(
            p.bob, f"{CLIENT_MEDIA}/thumbnail/a.test/doesnotexist", width="8", height="8"
        )
        assert (status, _errcode(body)) == (404, "M_NOT_FOUND")
        # Larger than B accepts: 502 M_TOO_LARGE, nothing kept.
        big = await _upload(p.alice, b"x" * 5000, "application/octet-stream")
        status, _, body = await _get(p.bob, f"{CLIENT_MEDIA}/download/{big}")
        assert (status, _errcode(body)) == (502, "M_TOO_LARGE")
        assert p.b.hs.media is not None
        backend: Any = p.b.hs.media.backend
        assert not [f for f in _files(backend) if f.is_file()]
        assert not list((backend.root / "staging").iterdir())
        # An unreachable server: 502.
        status, _, body = await _get(p.bob, f"{CLIENT_MEDIA}/download/nowhere.test/abc")
        assert (status, _errcode(body)) == (502, "M_UNKNOWN")
        # The deprecated unauthenticated endpoints never fetch remote media (the "freeze").
        small = await _upload(p.alice, b"tiny", "text/plain")
        status, _, _ = await _get(p.bob, f"/_matrix/media/v3/download/{small}")
        assert status == 404
        status, _, body = await _get(p.bob, f"{CLIENT_MEDIA}/download/{small}")
        assert (status, body) == (200, b"tiny")


@dataclass
class FakeOrigin:
    """An origin server of our own making, to answer what Myelin never would."""

    name: str
    requests: list[str] = field(default_factory=list)
    port: int = 0


@contextlib.asynccontextmanager
async def _fake_origin(
    net: Federation, name: str, ip: str, routes: list[web.RouteDef]
) -> AsyncIterator[FakeOrigin]:
    origin = FakeOrigin(name)

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        origin.requests.append(request.path_qs)
        response: web.StreamResponse = await handler(request)
        return response

    app = web.Application(middlewares=[record])
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    cert = net.ca.issue(name, ip)
    site = web.TCPSite(runner, ip, 0, ssl_context=cert.server_context())
    await site.start()
    origin.port = runner.addresses[0][1]
    net.network.hosts[name] = [ip]
    net.network.srv[f"_matrix-fed._tcp.{name}"] = [SrvRecord(name, origin.port)]
    try:
        yield origin
    finally:
        await runner.cleanup()


def _multipart(second_part_headers: str, content: bytes) -> web.Response:
    boundary = "6b0e2e11b8f04b0e"
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n"
            f"--{boundary}\r\n{second_part_headers}\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return web.Response(
        body=body, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}
    )


async def test_legacy_fallback_when_the_endpoint_is_unknown(federation: Federation) -> None:
    async def unrecognized(request: web.Request) -> web.Response:
        return web.json_response({"errcode": "M_UNRECOGNIZED", "error": "?"}, status=404)

    async def legacy(request: web.Request) -> web.Response:
        assert request.query["allow_remote"] == "false"
        assert request.headers["Authorization"].startswith("X-Matrix ")
        if request.match_info["mediaId"] != "old":
            return web.json_response({"errcode": "M_NOT_FOUND", "error": "?"}, status=404)
        return web.Response(
            body=b"legacy bytes",
            headers={
                "Content-Type": "text/plain",
                "Content-Disposition": 'attachment; filename="old.txt"',
            },
        )

    routes = [
        web.get(f"{FED_MEDIA}/download/{{mediaId}}", unrecognized),
        web.get("/_matrix/media/v3/download/old.test/{mediaId}", legacy),
    ]
    async with federation.https() as http:
        b = await _start(federation, "b.test", "127.0.0.12")
        bob = await Person(federation, b, http).register("bob")
        async with _fake_origin(federation, "old.test", "127.0.0.21", routes) as origin:
            status, headers, body = await _get(bob, f"{CLIENT_MEDIA}/download/old.test/old")
            assert (status, body) == (200, b"legacy bytes")
            assert headers["Content-Disposition"] == 'inline; filename="old.txt"'
            assert origin.requests[0].startswith(f"{FED_MEDIA}/download/old?")
            assert origin.requests[1].startswith("/_matrix/media/v3/download/old.test/old?")
            status, _, body = await _get(bob, f"{CLIENT_MEDIA}/download/old.test/gone")
            assert (status, _errcode(body)) == (404, "M_NOT_FOUND")


async def test_location_part_followed_to_allowed_addresses_only(federation: Federation) -> None:
    served: dict[str, int] = {}

    async def download(request: web.Request) -> web.Response:
        media_id = request.match_info["mediaId"]
        # An IP literal: the redirect session resolves host names with the system resolver.
        location = f"https://127.0.0.22:{served['port']}/blob/{media_id}"
        return _multipart(f"Location: {location}", b"")

    async def blob(request: web.Request) -> web.Response:
        return web.Response(body=b"redirected bytes", content_type="image/png")

    routes = [
        web.get(f"{FED_MEDIA}/download/{{mediaId}}", download),
        web.get("/blob/{mediaId}", blob),
    ]
    async with federation.https() as http:
        # B allows the loopback test network for redirects; C keeps the default blacklist.
        b = await _start(
            federation, "b.test", "127.0.0.12", url_preview_ip_range_whitelist=["127.0.0.0/8"]
        )
        c = await _start(federation, "c.test", "127.0.0.13")
        bob = await Person(federation, b, http).register("bob")
        carol = await Person(federation, c, http).register("carol")
        async with _fake_origin(federation, "cdn.test", "127.0.0.22", routes) as origin:
            served["port"] = origin.port
            status, headers, body = await _get(bob, f"{CLIENT_MEDIA}/download/cdn.test/m1")
            assert (status, body) == (200, b"redirected bytes")
            assert headers["Content-Type"] == "image/png"
            status, _, body = await _get(carol, f"{CLIENT_MEDIA}/download/cdn.test/m2")
            assert (status, _errcode(body)) == (502, "M_UNKNOWN")
            assert not any(r.startswith("/blob/m2") for r in origin.requests)


async def test_concurrent_downloads_fetch_once(federation: Federation) -> None:
    async def download(request: web.Request) -> web.Response:
        await asyncio.sleep(0.2)
        return _multipart("Content-Type: application/octet-stream", b"shared")

    routes = [web.get(f"{FED_MEDIA}/download/{{mediaId}}", download)]
    async with federation.https() as http:
        b = await _start(federation, "b.test", "127.0.0.12")
        bob = await Person(federation, b, http).register("bob")
        async with _fake_origin(federation, "slow.test", "127.0.0.23", routes) as origin:
            results = await asyncio.gather(
                *(_get(bob, f"{CLIENT_MEDIA}/download/slow.test/same") for _ in range(5))
            )
            assert [(s, body) for s, _, body in results] == [(200, b"shared")] * 5
            assert len(origin.requests) == 1
