"""Thumbnails over HTTP (Client-Server API, "Content repository", "Thumbnails")."""

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from myelin.services.media.thumbnailer import ImageTooLarge, check_pixels, target_size
from tests.api.account_support import Client, auth_header
from tests.api.conftest import SERVER_NAME, ServeFn
from tests.api.media_support import (
    CLIENT_MEDIA,
    MEDIA,
    check_security_headers,
    expect_error,
    files_under,
    image_bytes,
    media_path,
    media_server,
    upload,
)

FORMATS = [
    ("PNG", "image/png"),
    ("JPEG", "image/jpeg"),
    ("GIF", "image/gif"),
    ("WEBP", "image/webp"),
]


async def _thumbnail(client: Client, token: str, uri: str, **params: str) -> Any:
    return await client.get(
        f"{CLIENT_MEDIA}/thumbnail/{media_path(uri)}", params=params, headers=auth_header(token)
    )


@pytest.mark.parametrize(("fmt", "content_type"), FORMATS)
@pytest.mark.parametrize("method", ["crop", "scale"])
async def test_thumbnails_of_each_format(
    serve: ServeFn, fmt: str, content_type: str, method: str
) -> None:
    client, token = await media_server(serve)
    uri = await upload(client, token, image_bytes(fmt, (1000, 500)), content_type)
    response = await _thumbnail(client, token, uri, width="96", height="96", method=method)
    assert response.status == 200, await response.text()
    check_security_headers(response)
    thumb_type = response.headers["Content-Type"]
    assert thumb_type == ("image/jpeg" if fmt == "JPEG" else "image/png")
    extension = thumb_type.split("/")[1]
    assert response.headers["Content-Disposition"] == f'inline; filename="thumbnail.{extension}"'
    first = await response.read()
    image = Image.open(io.BytesIO(first))
    if method == "crop":
        # The configured 96x96 crop: the box's aspect ratio.
        assert image.size == (96, 96)
    else:
        # The smallest configured scale at least as large as asked: 320x240, aspect kept.
        assert image.size == (320, 160)
    # Served from the cache the second time, the same bytes.
    again = await _thumbnail(client, token, uri, width="96", height="96", method=method)
    assert await again.read() == first


async def test_never_smaller_than_asked_nor_upscaled(serve: ServeFn) -> None:
    client, token = await media_server(serve)
    uri = await upload(client, token, image_bytes("PNG", (2000, 1500)), "image/png")
    response = await _thumbnail(client, token, uri, width="700", height="500", method="scale")
    image = Image.open(io.BytesIO(await response.read()))
    assert image.size == (800, 600)
    # Larger than every configured size: the largest one.
    response = await _thumbnail(client, token, uri, width="1200", height="1000", method="scale")
    assert Image.open(io.BytesIO(await response.read())).size == (800, 600)
    # Content smaller than asked: the original content itself.
    small = image_bytes("PNG", (20, 10))
    uri = await upload(client, token, small, "image/png")
    response = await _thumbnail(client, token, uri, width="32", height="32", method="crop")
    assert await response.read() == small
    assert target_size(20, 10, 32, 32, "crop") == (10, 10)
    assert target_size(20, 10, 32, 32, "scale") == (20, 10)


async def test_dynamic_thumbnails(serve: ServeFn) -> None:
    client, token = await media_server(serve, dynamic_thumbnails=True)
    uri = await upload(client, token, image_bytes("JPEG", (1000, 800)), "image/jpeg")
    response = await _thumbnail(client, token, uri, width="50", height="70", method="crop")
    assert Image.open(io.BytesIO(await response.read())).size == (50, 70)
    response = await _thumbnail(client, token, uri, width="50", height="70", method="scale")
    assert Image.open(io.BytesIO(await response.read())).size == (50, 40)


@pytest.mark.parametrize(("fmt", "content_type"), [("GIF", "image/gif"), ("WEBP", "image/webp")])
async def test_animated_thumbnails(serve: ServeFn, fmt: str, content_type: str) -> None:
    client, token = await media_server(serve)
    uri = await upload(client, token, image_bytes(fmt, (600, 400), frames=4), content_type)
    animated = await _thumbnail(
        client, token, uri, width="96", height="96", method="crop", animated="true"
    )
    assert animated.headers["Content-Type"] == "image/webp"
    image = Image.open(io.BytesIO(await animated.read()))
    assert getattr(image, "n_frames", 1) == 4 and image.size == (96, 96)
    for flag in ("false", None):
        params = {"width": "96", "height": "96", "method": "crop"}
        if flag is not None:
            params["animated"] = flag
        static = await _thumbnail(client, token, uri, **params)
        assert static.headers["Content-Type"] == "image/png"
        assert getattr(Image.open(io.BytesIO(await static.read())), "n_frames", 1) == 1
    # A static source asked for animation: a static thumbnail.
    still = await upload(client, token, image_bytes("PNG", (600, 400)), "image/png")
    response = await _thumbnail(client, token, still, width="96", height="96", animated="true")
    assert response.headers["Content-Type"] == "image/png"


@pytest.mark.parametrize(("fmt", "content_type"), FORMATS)
async def test_pixel_bombs_refused_at_upload(
    serve: ServeFn, tmp_path: Path, fmt: str, content_type: str
) -> None:
    client, token = await media_server(serve, max_image_pixels=1_000_000)
    # 2000x2000 = 4M pixels, a few KB compressed: refused, nothing left on disk.
    bomb = image_bytes(fmt, (2000, 2000))
    response = await client.post(
        f"{MEDIA}/upload", data=bomb, headers={**auth_header(token), "Content-Type": content_type}
    )
    await expect_error(response, 413, "M_TOO_LARGE")
    assert files_under(tmp_path / "media_store") == []
    # The asynchronous upload of a created ID too; the ID stays usable.
    created = await client.post(f"{MEDIA.replace('v3', 'v1')}/create", headers=auth_header(token))
    uri = (await created.json())["content_uri"]
    response = await client.put(
        f"{MEDIA}/upload/{media_path(uri)}",
        data=bomb,
        headers={**auth_header(token), "Content-Type": content_type},
    )
    await expect_error(response, 413, "M_TOO_LARGE")
    assert files_under(tmp_path / "media_store") == []
    small = image_bytes(fmt, (1000, 1000))
    response = await client.put(
        f"{MEDIA}/upload/{media_path(uri)}",
        data=small,
        headers={**auth_header(token), "Content-Type": content_type},
    )
    assert response.status == 200, await response.text()
    # At the limit is accepted.
    await upload(client, token, small, content_type)


async def test_pixel_bombs_not_declared_as_images_are_never_decoded(
    serve: ServeFn, tmp_path: Path
) -> None:
    client, token = await media_server(serve, max_image_pixels=1_000_000)
    # Not declared as an image: stored as any file, but never decoded for a thumbnail.
    bomb = image_bytes("PNG", (2000, 2000))
    uri = await upload(client, token, bomb, "application/octet-stream")
    before = files_under(tmp_path / "media_store")
    response = await _thumbnail(client, token, uri, width="32", height="32", method="crop")
    await expect_error(response, 413, "M_TOO_LARGE")
    check_security_headers(response)
    # No thumbnail was written.
    assert files_under(tmp_path / "media_store") == before


def test_pixel_check_reads_only_the_header() -> None:
    # A JPEG's header with its body cut off still gives the size: refused undecoded.
    head = image_bytes("JPEG", (3000, 3000))[:1000]
    with pytest.raises(ImageTooLarge):
        check_pixels(head, 1_000_000)
    check_pixels(head, 9_000_000)
    # Bytes that are not an image pass.
    check_pixels(b"%PDF-1.4 not an image", 1)


async def test_thumbnail_errors(serve: ServeFn) -> None:
    client, token = await media_server(serve)
    uri = await upload(client, token, image_bytes("PNG"), "image/png")
    for params, errcode in (
        ({"height": "32"}, "M_MISSING_PARAM"),
        ({"width": "32"}, "M_MISSING_PARAM"),
        ({"width": "x", "height": "32"}, "M_INVALID_PARAM"),
        ({"width": "0", "height": "32"}, "M_INVALID_PARAM"),
        ({"width": "-5", "height": "32"}, "M_INVALID_PARAM"),
        ({"width": "32", "height": "32", "method": "stretch"}, "M_INVALID_PARAM"),
        ({"width": "32", "height": "32", "animated": "yes"}, "M_INVALID_PARAM"),
    ):
        response = await _thumbnail(client, token, uri, **params)
        await expect_error(response, 400, errcode)
    not_image = await upload(client, token, b"%PDF-1.4 not an image", "application/pdf")
    response = await _thumbnail(client, token, not_image, width="32", height="32")
    await expect_error(response, 400, "M_UNKNOWN")
    # A lying content type does not matter: the bytes are probed.
    truncated = await upload(client, token, image_bytes("PNG")[:60], "image/png")
    response = await _thumbnail(client, token, truncated, width="32", height="32")
    await expect_error(response, 400, "M_UNKNOWN")
    missing = await client.get(
        f"{CLIENT_MEDIA}/thumbnail/{SERVER_NAME}/nothing",
        params={"width": "32", "height": "32"},
        headers=auth_header(token),
    )
    await expect_error(missing, 404, "M_NOT_FOUND")


async def test_legacy_thumbnails_follow_the_freeze(serve: ServeFn) -> None:
    client, token = await media_server(serve, enable_authenticated_media=False)
    uri = await upload(client, token, image_bytes("PNG"), "image/png")
    response = await client.get(
        f"{MEDIA}/thumbnail/{media_path(uri)}", params={"width": "32", "height": "32"}
    )
    assert response.status == 200 and response.headers["Content-Type"] == "image/png"
    check_security_headers(response)
