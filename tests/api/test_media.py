"""Media uploads and downloads over HTTP (Client-Server API, "Content repository")."""

import asyncio
import hashlib
import io
import os
from pathlib import Path

from tests.api.account_support import auth_header, register
from tests.api.conftest import SERVER_NAME, FakeClock, ServeFn
from tests.api.media_support import (
    AUTHED_REPO,
    CLIENT_MEDIA,
    CONTENT_REPO,
    MEDIA,
    check_security_headers,
    download,
    expect_error,
    files_under,
    media_path,
    media_server,
    upload,
)
from tests.api.openapi import validate_response


async def test_upload_then_byte_exact_download(serve: ServeFn, tmp_path: Path) -> None:
    client, token = await media_server(serve)
    data = os.urandom(3 * 1024 * 1024 + 17)
    response = await client.post(
        f"{MEDIA}/upload",
        data=io.BytesIO(data),
        params={"filename": "report.pdf"},
        headers={**auth_header(token), "Content-Type": "application/pdf"},
    )
    assert response.status == 200
    body = await response.json()
    validate_response(body, CONTENT_REPO, "/media/v3/upload", "post", 200)
    uri = body["content_uri"]
    assert uri.startswith(f"mxc://{SERVER_NAME}/")
    got = await download(client, token, uri)
    assert got.status == 200
    assert await got.read() == data
    check_security_headers(got)
    assert got.headers["Content-Type"] == "application/pdf"
    # Not an inline type: attachment, with the uploaded name.
    assert got.headers["Content-Disposition"] == 'attachment; filename="report.pdf"'
    # The file is stored once, content-addressed and sharded.
    digest = hashlib.sha256(data).hexdigest()
    stored = tmp_path / "media_store" / "blobs" / digest[:2] / digest[2:4] / digest
    assert stored.read_bytes() == data
    # A name given in the path overrides the uploaded one; non-ASCII is RFC 8187 encoded.
    named = await client.get(
        f"{CLIENT_MEDIA}/download/{media_path(uri)}/r%C3%A9sum%C3%A9%20v2.pdf",
        headers=auth_header(token),
    )
    assert named.status == 200
    assert (
        named.headers["Content-Disposition"]
        == "attachment; filename*=utf-8''r%C3%A9sum%C3%A9%20v2.pdf"
    )


async def test_inline_only_for_the_allow_list(serve: ServeFn) -> None:
    client, token = await media_server(serve)
    for content_type, disposition in (
        ("image/png", "inline"),
        ("text/plain; charset=utf-8", "inline"),
        ("text/html", "attachment"),
        ("image/svg+xml", "attachment"),
        ("application/javascript", "attachment"),
    ):
        uri = await upload(client, token, b"<script>alert(1)</script>", content_type, "x.bin")
        got = await download(client, token, uri)
        assert got.status == 200
        assert got.headers["Content-Type"] == content_type
        assert got.headers["Content-Disposition"] == f'{disposition}; filename="x.bin"'
        check_security_headers(got)


async def test_missing_or_bad_content_type_defaults(serve: ServeFn) -> None:
    client, token = await media_server(serve)
    for content_type in (None, "not a type", "text/", "a/b\tc"):
        headers = auth_header(token)
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = await client.post(
            f"{MEDIA}/upload", data=b"abc", headers=headers, skip_auto_headers=["Content-Type"]
        )
        assert response.status == 200, await response.text()
        uri = (await response.json())["content_uri"]
        got = await download(client, token, uri)
        assert got.headers["Content-Type"] == "application/octet-stream"
        assert got.headers["Content-Disposition"] == "attachment"


async def test_identical_uploads_share_one_file(serve: ServeFn, tmp_path: Path) -> None:
    client, token = await media_server(serve)
    data = b"the same bytes" * 1000
    first = await upload(client, token, data)
    second = await upload(client, token, data, "text/plain")
    assert first != second
    blobs = files_under(tmp_path / "media_store" / "blobs")
    assert len(blobs) == 1
    # Deleting one keeps the file for the other.
    bob = await register(client, "admin")
    del bob
    for uri in (first, second):
        got = await download(client, token, uri)
        assert await got.read() == data


async def test_oversized_uploads_refused_and_nothing_kept(serve: ServeFn, tmp_path: Path) -> None:
    client, token = await media_server(serve, max_upload_size=1000)
    config = await client.get(f"{CLIENT_MEDIA}/config", headers=auth_header(token))
    body = await config.json()
    validate_response(body, AUTHED_REPO, "/media/config", "get", 200)
    assert body == {"m.upload.size": 1000}
    legacy_config = await client.get(f"{MEDIA}/config", headers=auth_header(token))
    assert await legacy_config.json() == {"m.upload.size": 1000}
    # Declared length over the limit: refused before the body is read.
    response = await client.post(f"{MEDIA}/upload", data=b"x" * 1001, headers=auth_header(token))
    await expect_error(response, 413, "M_TOO_LARGE")

    # Chunked (no declared length): refused once the limit is passed.
    async def chunks() -> object:
        for _ in range(10):
            yield b"y" * 300
            await asyncio.sleep(0)

    response = await client.post(f"{MEDIA}/upload", data=chunks(), headers=auth_header(token))
    await expect_error(response, 413, "M_TOO_LARGE")
    assert files_under(tmp_path / "media_store") == []
    # At the limit is fine; the JSON limit does not apply to uploads.
    await upload(client, token, b"z" * 1000)


async def test_upload_larger_than_max_request_size(serve: ServeFn) -> None:
    client, token = await media_server(serve, max_request_size=1024, max_upload_size="1M")
    data = os.urandom(300_000)
    uri = await upload(client, token, data)
    got = await download(client, token, uri)
    assert await got.read() == data


async def test_range_requests(serve: ServeFn) -> None:
    client, token = await media_server(serve)
    data = bytes(range(256)) * 100
    uri = await upload(client, token, data, "video/mp4")
    url = f"{CLIENT_MEDIA}/download/{media_path(uri)}"
    full = await client.get(url, headers=auth_header(token))
    assert full.headers["Accept-Ranges"] == "bytes"
    for header, start, end in (
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, len(data) - 1),
        ("bytes=-10", len(data) - 10, len(data) - 1),
        ("bytes=25000-99999", 25000, len(data) - 1),
    ):
        part = await client.get(url, headers={**auth_header(token), "Range": header})
        assert part.status == 206, header
        assert part.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
        assert await part.read() == data[start : end + 1]
        check_security_headers(part)
    unsatisfiable = await client.get(url, headers={**auth_header(token), "Range": "bytes=99999-"})
    assert unsatisfiable.status == 416
    assert unsatisfiable.headers["Content-Range"] == f"bytes */{len(data)}"
    # Several ranges or nonsense: the whole file.
    for header in ("bytes=0-1,5-6", "pages=1", "bytes=9-3"):
        whole = await client.get(url, headers={**auth_header(token), "Range": header})
        assert whole.status == 200 and await whole.read() == data


async def test_remote_media_with_federation_off(serve: ServeFn) -> None:
    """Not fetched at all (tests/federation/test_media.py fetches it over TLS)."""
    client, token = await media_server(serve, federation={"enabled": False})
    for kind in ("download", "thumbnail"):
        got = await client.get(
            f"{CLIENT_MEDIA}/{kind}/other.example/abcdef",
            params={"width": "32", "height": "32"},
            headers=auth_header(token),
        )
        await expect_error(got, 404, "M_NOT_FOUND")
        check_security_headers(got)


async def test_download_errors(serve: ServeFn) -> None:
    client, token = await media_server(serve)
    headers = auth_header(token)
    for path in (
        f"{SERVER_NAME}/doesnotexist",
        f"{SERVER_NAME}/bad.id",
        "not_a_server!/abcdef",
    ):
        got = await client.get(f"{CLIENT_MEDIA}/download/{path}", headers=headers)
        await expect_error(got, 404, "M_NOT_FOUND")
        check_security_headers(got)
    uri = await upload(client, token, b"data")
    await expect_error(
        await client.get(f"{CLIENT_MEDIA}/download/{media_path(uri)}"), 401, "M_MISSING_TOKEN"
    )
    await expect_error(
        await client.get(
            f"{CLIENT_MEDIA}/download/{media_path(uri)}",
            params={"timeout_ms": "soon"},
            headers=headers,
        ),
        400,
        "M_INVALID_PARAM",
    )
    await expect_error(await client.post(f"{MEDIA}/upload", data=b"x"), 401, "M_MISSING_TOKEN")


async def test_legacy_endpoints_frozen_by_default(serve: ServeFn) -> None:
    client, token = await media_server(serve)
    uri = await upload(client, token, b"new media", "text/plain")
    for version in ("v3", "r0"):
        got = await client.get(f"/_matrix/media/{version}/download/{media_path(uri)}")
        await expect_error(got, 404, "M_NOT_FOUND")
        check_security_headers(got)


async def test_legacy_endpoints_serve_media_from_before_the_freeze(serve: ServeFn) -> None:
    client, token = await media_server(serve, enable_authenticated_media=False)
    uri = await upload(client, token, b"old media", "text/plain", "old.txt")
    for version in ("v3", "r0"):
        got = await client.get(f"/_matrix/media/{version}/download/{media_path(uri)}")
        assert got.status == 200 and await got.read() == b"old media"
        check_security_headers(got)
        named = await client.get(f"/_matrix/media/{version}/download/{media_path(uri)}/new.txt")
        assert named.headers["Content-Disposition"] == 'inline; filename="new.txt"'
    remote = await client.get(
        f"{MEDIA}/download/other.example/abc", params={"allow_remote": "false"}
    )
    await expect_error(remote, 404, "M_NOT_FOUND")
    # Still served by the authenticated endpoints.
    got = await download(client, token, uri)
    assert await got.read() == b"old media"


async def test_create_then_upload(serve: ServeFn, clock: FakeClock) -> None:
    client, token = await media_server(serve)
    headers = auth_header(token)
    created = await client.post(f"{MEDIA.replace('v3', 'v1')}/create", headers=headers)
    assert created.status == 200
    body = await created.json()
    validate_response(body, CONTENT_REPO, "/media/v1/create", "post", 200)
    assert body["unused_expires_at"] == clock.now + 24 * 3600 * 1000
    path = media_path(body["content_uri"])
    # Not there yet: a download waits timeout_ms, then 504 M_NOT_YET_UPLOADED.
    waiting = await client.get(
        f"{CLIENT_MEDIA}/download/{path}", params={"timeout_ms": "50"}, headers=headers
    )
    await expect_error(waiting, 504, "M_NOT_YET_UPLOADED")
    # A download waiting for the content gets it as soon as it arrives.
    pending = asyncio.ensure_future(
        client.get(
            f"{CLIENT_MEDIA}/download/{path}", params={"timeout_ms": "10000"}, headers=headers
        )
    )
    await asyncio.sleep(0.05)
    bob = await register(client, "bob")
    other = await client.put(
        f"{MEDIA}/upload/{path}", data=b"hijack", headers=auth_header(bob["access_token"])
    )
    await expect_error(other, 403, "M_FORBIDDEN")
    put = await client.put(
        f"{MEDIA}/upload/{path}",
        data=b"later content",
        params={"filename": "later.txt"},
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert put.status == 200, await put.text()
    validate_response(
        await put.json(), CONTENT_REPO, "/media/v3/upload/{serverName}/{mediaId}", "put", 200
    )
    got = await pending
    assert got.status == 200 and await got.read() == b"later content"
    again = await client.put(f"{MEDIA}/upload/{path}", data=b"again", headers=headers)
    await expect_error(again, 409, "M_CANNOT_OVERWRITE_MEDIA")
    for unknown in (f"{SERVER_NAME}/nosuchid", "other.example/abc", f"{SERVER_NAME}/bad.id"):
        await expect_error(
            await client.put(f"{MEDIA}/upload/{unknown}", data=b"x", headers=headers),
            404,
            "M_NOT_FOUND",
        )


async def test_created_ids_expire_and_are_limited(serve: ServeFn, clock: FakeClock) -> None:
    client, token = await media_server(serve, max_pending_media_uploads=2)
    headers = auth_header(token)
    create = f"{MEDIA.replace('v3', 'v1')}/create"
    first = await (await client.post(create, headers=headers)).json()
    await client.post(create, headers=headers)
    await expect_error(await client.post(create, headers=headers), 429, "M_LIMIT_EXCEEDED")
    clock.now += 24 * 3600 * 1000 + 1
    path = media_path(first["content_uri"])
    await expect_error(
        await client.put(f"{MEDIA}/upload/{path}", data=b"late", headers=headers),
        404,
        "M_NOT_FOUND",
    )
    await expect_error(
        await client.get(f"{CLIENT_MEDIA}/download/{path}", headers=headers), 404, "M_NOT_FOUND"
    )
    # Expired IDs no longer count, and are purged.
    fresh = await client.post(create, headers=headers)
    assert fresh.status == 200


async def test_security_headers_on_every_media_response(serve: ServeFn) -> None:
    client, token = await media_server(serve, max_upload_size=1000)
    uri = await upload(client, token, b"data")
    responses = [
        # Refused before the handler runs: no token, a declared length over the limit.
        await client.get(f"{CLIENT_MEDIA}/download/{media_path(uri)}"),
        await client.get(f"{MEDIA}/thumbnail/{media_path(uri)}"),
        await client.post(f"{MEDIA}/upload", data=b"x" * 1001, headers=auth_header(token)),
        await client.post(f"{MEDIA}/upload", data=b"x"),
        # The JSON endpoints.
        await client.post(f"{MEDIA}/upload", data=b"y", headers=auth_header(token)),
        await client.post(f"{MEDIA.replace('v3', 'v1')}/create", headers=auth_header(token)),
        await client.get(f"{CLIENT_MEDIA}/config", headers=auth_header(token)),
    ]
    assert [r.status for r in responses] == [401, 400, 413, 401, 200, 200, 200]
    for response in responses:
        check_security_headers(response)
