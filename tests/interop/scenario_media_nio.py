"""The media scenario driven by matrix-nio (test harness; Client-Server API, "Content
repository" with authenticated media, profiles, ``m.image`` messages).

Alice uploads an avatar and sets it, creates a room, invites Bob and sends an ``m.image``
message with an uploaded PNG; Bob, once joined, reads the message from ``/sync``, downloads the
image (the same bytes, content type and file name), a cropped thumbnail (decoded to check its
size) and Alice's avatar from her profile. ``run(base_url, tag)`` returns the facts observed and
the steps that failed; ``EXPECTED`` is what nio observes against Synapse and Myelin alike.
"""

import io
import time
from typing import Any

from nio import (
    AsyncClient,
    DownloadResponse,
    JoinResponse,
    ProfileGetAvatarResponse,
    ProfileSetAvatarResponse,
    ResizingMethod,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomMessageImage,
    RoomSendResponse,
    SyncResponse,
    ThumbnailResponse,
    UploadResponse,
)
from PIL import Image

from tests.interop.facts import ALICE, BOB
from tests.interop.scenario_nio import ScenarioError, ok
from tests.interop.scenario_nio import _register_and_login as register_and_login

WAIT_SECONDS = 20.0

EXPECTED: dict[str, Any] = {
    "avatar": {"same_bytes": True, "content_type": "image/png"},
    "image": {"same_bytes": True, "content_type": "image/png", "filename": "photo.png"},
    "thumbnail": {"content_type": "image/png", "size": [32, 32]},
    "image_event": {"msgtype": "m.image", "info": {"mimetype": "image/png", "w": 320, "h": 200}},
}


def _png(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    image = Image.new("RGB", size, color)
    # Some texture, so that a thumbnail is not trivially one colour.
    for x in range(0, size[0], 7):
        for y in range(0, size[1], 5):
            image.putpixel((x, y), (x % 256, y % 256, 90))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def _upload(client: AsyncClient, step: str, data: bytes, filename: str) -> str:
    response, _ = await client.upload(
        io.BytesIO(data), content_type="image/png", filename=filename, filesize=len(data)
    )
    return str(ok(step, response, UploadResponse).content_uri)


async def _wait_for_image(client: AsyncClient, room_id: str) -> RoomMessageImage:
    """Sync until the image message arrives in the room's timeline."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        sync = ok("bob: GET /sync", await client.sync(timeout=1000), SyncResponse)
        room = sync.rooms.join.get(room_id)
        for event in room.timeline.events if room is not None else []:
            if isinstance(event, RoomMessageImage):
                return event
    raise ScenarioError("bob: the image message did not arrive")


async def run(base_url: str, tag: str) -> tuple[dict[str, Any], list[str]]:
    observed: dict[str, Any] = {}
    failures: list[str] = []
    clients: list[AsyncClient] = []
    try:
        a, _ = await register_and_login(base_url, ALICE, f"m{tag}")
        clients.append(a)
        b, b_id = await register_and_login(base_url, BOB, f"m{tag}")
        clients.append(b)
        avatar = _png((64, 64), (200, 40, 40))
        avatar_uri = await _upload(a, "alice: POST /upload (avatar)", avatar, "avatar.png")
        ok("alice: PUT avatar_url", await a.set_avatar(avatar_uri), ProfileSetAvatarResponse)
        created = ok(
            "alice: POST /createRoom", await a.room_create(name="Media"), RoomCreateResponse
        )
        ok("alice: POST /invite", await a.room_invite(created.room_id, b_id), RoomInviteResponse)
        photo = _png((320, 200), (30, 120, 200))
        photo_uri = await _upload(a, "alice: POST /upload (photo)", photo, "photo.png")
        content = {
            "msgtype": "m.image",
            "body": "photo.png",
            "url": photo_uri,
            "info": {"mimetype": "image/png", "size": len(photo), "w": 320, "h": 200},
        }
        await _wait_joined_then_send(a, b, created.room_id, content)
        event = await _wait_for_image(b, created.room_id)
        info = event.source["content"].get("info", {})
        observed["image_event"] = {
            "msgtype": event.source["content"].get("msgtype"),
            "info": {k: info.get(k) for k in ("mimetype", "w", "h")},
        }
        image = ok("bob: GET /download", await b.download(event.url), DownloadResponse)
        observed["image"] = {
            "same_bytes": image.body == photo,
            "content_type": image.content_type,
            "filename": image.filename,
        }
        server, media_id = event.url.removeprefix("mxc://").split("/", 1)
        thumb = ok(
            "bob: GET /thumbnail",
            await b.thumbnail(server, media_id, 32, 32, ResizingMethod.crop),
            ThumbnailResponse,
        )
        assert isinstance(thumb.body, bytes)
        with Image.open(io.BytesIO(thumb.body)) as decoded:
            observed["thumbnail"] = {
                "content_type": thumb.content_type,
                "size": list(decoded.size),
            }
        profile = ok(
            "bob: GET avatar_url",
            await b.get_avatar(a.user_id),
            ProfileGetAvatarResponse,
        )
        if profile.avatar_url != avatar_uri:
            raise ScenarioError(f"bob: avatar_url {profile.avatar_url!r}, not {avatar_uri!r}")
        got = ok("bob: GET /download (avatar)", await b.download(avatar_uri), DownloadResponse)
        observed["avatar"] = {"same_bytes": got.body == avatar, "content_type": got.content_type}
    except ScenarioError as error:
        failures.append(str(error))
    finally:
        for client in clients:
            await client.close()
    return observed, failures


async def _wait_joined_then_send(
    a: AsyncClient, b: AsyncClient, room_id: str, content: dict[str, Any]
) -> None:
    """Bob joins (through his own sync) before Alice sends, so he sees the message live."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        sync = ok("bob: GET /sync", await b.sync(timeout=500), SyncResponse)
        if room_id in sync.rooms.invite:
            ok("bob: POST /join", await b.join(room_id), JoinResponse)
            break
        if room_id in sync.rooms.join:
            break
    else:
        raise ScenarioError("bob: the invite did not arrive")
    ok(
        "alice: PUT /send m.image",
        await a.room_send(room_id, "m.room.message", content),
        RoomSendResponse,
    )
