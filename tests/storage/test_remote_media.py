"""The remote media cache of MediaStore on both engines (Server-Server API, "Content
Repository": media of other servers fetched and cached, with thumbnails and blob references
shared with local media)."""

from myelin.storage import Database
from myelin.storage.media import MediaStore, NewContent, RemoteMediaRecord, ThumbnailRecord

SHA_A = "a" * 64
SHA_B = "b" * 64


async def test_remote_media_cache(database: Database) -> None:
    await database.migrate()
    store = MediaStore(database)
    record = RemoteMediaRecord("other.test", "m1", "image/png", "p.png", 10, SHA_A, 1000, 1000)
    assert await store.get_remote_media("other.test", "m1") is None
    assert await store.add_remote_media(record)
    # A second copy (cached concurrently) is refused and takes no reference.
    assert not await store.add_remote_media(record)
    assert await store.get_remote_media("other.test", "m1") == record
    # The same media ID of another origin, and local media, are different media.
    assert await store.get_remote_media("third.test", "m1") is None
    assert await store.get_media("m1") is None
    # Local media with the same bytes shares the blob.
    await store.add_media(
        "local",
        "@a:x",
        NewContent(SHA_A, 10, "image/png", None),
        1000,
        unauthenticated_allowed=False,
    )
    thumb = ThumbnailRecord("m1", 32, 32, "crop", False, "image/png", 3, SHA_B)
    assert await store.add_remote_thumbnail("other.test", thumb)
    assert not await store.add_remote_thumbnail("other.test", thumb)
    assert not await store.add_remote_thumbnail(
        "third.test", ThumbnailRecord("m1", 8, 8, "crop", False, "image/png", 3, SHA_B)
    )
    got = await store.get_remote_thumbnail("other.test", "m1", 32, 32, "crop", animated=False)
    assert got == thumb
    assert await store.get_thumbnail("m1", 32, 32, "crop", False) is None

    await store.touch_remote("other.test", "m1", 5000)
    assert await store.remote_media_before(5000) == []
    assert await store.remote_media_before(5001) == [("other.test", "m1")]
    # Deleting frees the thumbnail's blob; the media's blob is still used by local media.
    assert await store.delete_remote_media("other.test", "m1") == [SHA_B]
    assert await store.get_remote_media("other.test", "m1") is None
    assert await store.blob_exists(SHA_A) and not await store.blob_exists(SHA_B)
    _, freed = await store.delete_media(["local"])
    assert freed == [SHA_A]
    assert await store.delete_remote_media("other.test", "m1") == []
