"""MediaStore on both engines (Client-Server API, "Content repository": media metadata,
pending uploads, thumbnails and content-addressed blob references)."""

from myelin.storage import Database
from myelin.storage.media import CompleteResult, MediaStore, NewContent, ThumbnailRecord

SHA_A = "a" * 64
SHA_B = "b" * 64


async def test_pending_upload_lifecycle(database: Database) -> None:
    await database.migrate()
    store = MediaStore(database)
    assert await store.create_pending("m1", "@a:x", 1000, 5000, max_pending=2)
    assert await store.create_pending("m2", "@a:x", 1000, 5000, max_pending=2)
    assert not await store.create_pending("m3", "@a:x", 1000, 5000, max_pending=2)
    assert await store.create_pending("m3", "@b:x", 1000, 5000, max_pending=2)
    content = NewContent(SHA_A, 10, "text/plain", "a.txt")
    complete = store.complete_pending
    assert await complete("m1", "@b:x", content, 2000, unauthenticated_allowed=False) is (
        CompleteResult.OTHER_USER
    )
    assert await complete("m1", "@a:x", content, 2000, unauthenticated_allowed=True) is (
        CompleteResult.DONE
    )
    assert await complete("m1", "@a:x", content, 2000, unauthenticated_allowed=True) is (
        CompleteResult.ALREADY_UPLOADED
    )
    assert await complete("m2", "@a:x", content, 6000, unauthenticated_allowed=True) is (
        CompleteResult.NOT_FOUND
    )
    assert await complete("zz", "@a:x", content, 2000, unauthenticated_allowed=True) is (
        CompleteResult.NOT_FOUND
    )
    record = await store.get_media("m1")
    assert record is not None and record.sha256 == SHA_A and record.unauthenticated_allowed
    assert record.upload_name == "a.txt" and record.size == 10 and not record.quarantined
    # Completed uploads no longer count as pending.
    assert await store.create_pending("m4", "@a:x", 1000, 5000, max_pending=2)
    assert sorted(await store.expired_pending_ids(5000)) == ["m2", "m3", "m4"]
    assert await store.expired_pending_ids(4999) == []
    assert await store.uploaded_bytes_since("@a:x", 0) == 10


async def test_blob_references(database: Database) -> None:
    await database.migrate()
    store = MediaStore(database)
    content = NewContent(SHA_A, 3, "t/p", None)
    await store.add_media("m1", "@a:x", content, 1, unauthenticated_allowed=False)
    await store.add_media("m2", "@b:x", content, 2, unauthenticated_allowed=False)
    thumb = ThumbnailRecord("m1", 32, 32, "crop", False, "image/png", 5, SHA_B)
    assert await store.add_thumbnail(thumb)
    assert not await store.add_thumbnail(thumb)  # the same thumbnail, no second reference
    missing = ThumbnailRecord("nope", 32, 32, "crop", False, "image/png", 5, SHA_B)
    assert not await store.add_thumbnail(missing)
    assert await store.get_thumbnail("m1", 32, 32, "crop", False) == thumb
    assert await store.get_thumbnail("m1", 32, 32, "crop", True) is None
    deleted, freed = await store.delete_media(["m1", "unknown"])
    assert deleted == ["m1"] and freed == [SHA_B]
    assert await store.blob_exists(SHA_A) and not await store.blob_exists(SHA_B)
    assert await store.list_thumbnails("m1") == []
    assert await store.media_ids_of_user("@b:x") == ["m2"]
    assert await store.set_quarantined("m2", True)
    assert not await store.set_quarantined("m1", True)
    await store.touch("m2", 100)
    assert await store.media_ids_before(50) == []
    assert await store.media_ids_before(101) == ["m2"]
    deleted, freed = await store.delete_media(["m2"])
    assert deleted == ["m2"] and freed == [SHA_A]
