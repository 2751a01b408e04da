"""Upload quotas and media administration over HTTP (Client-Server API, "Content repository",
"Security considerations"; Synapse's admin media API)."""

from pathlib import Path

from tests.api.account_support import auth_header, register, shared_secret_register
from tests.api.conftest import SERVER_NAME, FakeClock, ServeFn
from tests.api.media_support import (
    MEDIA,
    download,
    expect_error,
    files_under,
    image_bytes,
    media_path,
    media_server,
    upload,
)

ADMIN = "/_synapse/admin/v1"


async def test_upload_quota(serve: ServeFn, clock: FakeClock, tmp_path: Path) -> None:
    client, token = await media_server(
        serve, media_upload_limits=[{"time_period": "1h", "max_size": 1000}]
    )
    await upload(client, token, b"a" * 600)
    before = files_under(tmp_path / "media_store")
    response = await client.post(f"{MEDIA}/upload", data=b"b" * 600, headers=auth_header(token))
    await expect_error(response, 403, "M_FORBIDDEN")
    assert files_under(tmp_path / "media_store") == before
    # Another user has their own quota; the window moves on.
    bob = await register(client, "bob")
    await upload(client, bob["access_token"], b"c" * 600)
    clock.now += 3_600_001
    await upload(client, token, b"d" * 600)


async def test_admin_deletion_removes_files(
    serve: ServeFn, clock: FakeClock, tmp_path: Path
) -> None:
    client, token = await media_server(serve)
    admin = await shared_secret_register(client, "root", admin=True)
    admin_headers = auth_header(admin["access_token"])
    store = tmp_path / "media_store"
    shared = await upload(client, token, b"shared bytes")
    shared_too = await upload(client, admin["access_token"], b"shared bytes")
    image = await upload(client, token, image_bytes("PNG", (500, 500)), "image/png")
    thumb = await client.get(
        f"/_matrix/client/v1/media/thumbnail/{media_path(image)}",
        params={"width": "32", "height": "32", "method": "crop"},
        headers=auth_header(token),
    )
    assert thumb.status == 200
    assert len(files_under(store / "blobs")) == 3  # shared, image, thumbnail
    # Not an admin.
    forbidden = await client.delete(
        f"{ADMIN}/media/{media_path(image)}", headers=auth_header(token)
    )
    await expect_error(forbidden, 403, "M_FORBIDDEN")
    # By ID: the image and its thumbnail go, files included.
    deleted = await client.delete(f"{ADMIN}/media/{media_path(image)}", headers=admin_headers)
    assert deleted.status == 200
    assert await deleted.json() == {"deleted_media": [media_path(image).split("/")[1]], "total": 1}
    assert len(files_under(store / "blobs")) == 1
    await expect_error(await download(client, token, image), 404, "M_NOT_FOUND")
    again = await client.delete(f"{ADMIN}/media/{media_path(image)}", headers=admin_headers)
    await expect_error(again, 404, "M_NOT_FOUND")
    # By user: alice's copy goes, the file stays for the admin's copy of the same bytes.
    by_user = await client.delete(
        f"{ADMIN}/users/@alice:{SERVER_NAME}/media", headers=admin_headers
    )
    assert (await by_user.json())["total"] == 1
    await expect_error(await download(client, token, shared), 404, "M_NOT_FOUND")
    got = await download(client, token, shared_too)
    assert await got.read() == b"shared bytes"
    # Older than a date (not downloaded since either).
    clock.now += 10_000
    newer = await upload(client, token, b"newer")
    old_cutoff = await client.post(
        f"{ADMIN}/media/delete", params={"before_ts": str(clock.now - 1)}, headers=admin_headers
    )
    assert await old_cutoff.json() == {
        "deleted_media": [media_path(shared_too).split("/")[1]],
        "total": 1,
    }
    assert (await download(client, token, newer)).status == 200
    for params in ({}, {"before_ts": "yesterday"}, {"before_ts": "1", "size_gt": "-1"}):
        bad = await client.post(f"{ADMIN}/media/delete", params=params, headers=admin_headers)
        assert bad.status == 400
    everything = await client.post(
        f"{ADMIN}/media/{SERVER_NAME}/delete",
        params={"before_ts": str(clock.now + 1)},
        headers=admin_headers,
    )
    assert (await everything.json())["total"] == 1
    assert files_under(store / "blobs") == []


async def test_quarantine(serve: ServeFn) -> None:
    client, token = await media_server(serve)
    admin = await shared_secret_register(client, "root", admin=True)
    admin_headers = auth_header(admin["access_token"])
    uri = await upload(client, token, b"questionable")
    response = await client.post(
        f"{ADMIN}/media/quarantine/{media_path(uri)}", headers=admin_headers
    )
    assert response.status == 200
    await expect_error(await download(client, token, uri), 404, "M_NOT_FOUND")
    response = await client.post(
        f"{ADMIN}/media/unquarantine/{media_path(uri)}", headers=admin_headers
    )
    assert response.status == 200
    assert (await download(client, token, uri)).status == 200
    unknown = await client.post(
        f"{ADMIN}/media/quarantine/{SERVER_NAME}/nothing", headers=admin_headers
    )
    await expect_error(unknown, 404, "M_NOT_FOUND")
