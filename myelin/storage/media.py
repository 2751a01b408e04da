"""Media metadata (spec: Client-Server API, "Content repository": local media, thumbnails;
Server-Server API, "Content Repository": remote media cached here).

Rows for local media IDs and their cached thumbnails, and the reference counts of the
content-addressed files they point at (``media_blobs``): a file is shared by every upload of
identical bytes and removed only when the last row using it goes. Functions that drop a
reference return the hashes whose count reached zero, so that the caller removes those files.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from myelin.storage.database import Database, Row, Transaction, chunks, in_list


@dataclass(frozen=True)
class MediaRecord:
    """One local media ID. ``sha256`` is None while a created ID waits for its content."""

    media_id: str
    user_id: str
    content_type: str | None
    upload_name: str | None
    size: int | None
    sha256: str | None
    created_ts: int
    unused_expires_ts: int | None
    last_access_ts: int
    quarantined: bool
    unauthenticated_allowed: bool


@dataclass(frozen=True)
class ThumbnailRecord:
    """A cached thumbnail of ``media_id`` made for the box ``width`` x ``height``."""

    media_id: str
    width: int
    height: int
    method: str
    animated: bool
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class RemoteMediaRecord:
    """Media of another server (``mxc://origin/media_id``) fetched and cached here."""

    origin: str
    media_id: str
    content_type: str
    upload_name: str | None
    size: int
    sha256: str
    created_ts: int
    last_access_ts: int
    quarantined: bool = False


@dataclass(frozen=True)
class NewContent:
    """Content that has been stored under ``sha256`` and is to be attached to a media ID."""

    sha256: str
    size: int
    content_type: str
    upload_name: str | None


class CompleteResult(Enum):
    """What ``complete_pending`` found."""

    DONE = "done"
    NOT_FOUND = "not_found"
    OTHER_USER = "other_user"
    ALREADY_UPLOADED = "already_uploaded"


_MEDIA_COLUMNS = (
    "media_id, user_id, content_type, upload_name, size, sha256, created_ts, unused_expires_ts,"
    " last_access_ts, quarantined, unauthenticated_allowed"
)

_REMOTE_COLUMNS = (
    "origin, media_id, content_type, upload_name, size, sha256, created_ts, last_access_ts,"
    " quarantined"
)


def _media(row: Row) -> MediaRecord:
    return MediaRecord(
        media_id=row["media_id"],
        user_id=row["user_id"],
        content_type=row["content_type"],
        upload_name=row["upload_name"],
        size=None if row["size"] is None else int(row["size"]),
        sha256=row["sha256"],
        created_ts=int(row["created_ts"]),
        unused_expires_ts=(
            None if row["unused_expires_ts"] is None else int(row["unused_expires_ts"])
        ),
        last_access_ts=int(row["last_access_ts"]),
        quarantined=bool(row["quarantined"]),
        unauthenticated_allowed=bool(row["unauthenticated_allowed"]),
    )


def _remote(row: Row) -> RemoteMediaRecord:
    return RemoteMediaRecord(
        origin=row["origin"],
        media_id=row["media_id"],
        content_type=row["content_type"],
        upload_name=row["upload_name"],
        size=int(row["size"]),
        sha256=row["sha256"],
        created_ts=int(row["created_ts"]),
        last_access_ts=int(row["last_access_ts"]),
        quarantined=bool(row["quarantined"]),
    )


def _thumbnail(row: Row) -> ThumbnailRecord:
    return ThumbnailRecord(
        media_id=row["media_id"],
        width=int(row["width"]),
        height=int(row["height"]),
        method=row["method"],
        animated=bool(row["animated"]),
        content_type=row["content_type"],
        size=int(row["size"]),
        sha256=row["sha256"],
    )


async def _ref(txn: Transaction, sha256: str, size: int) -> None:
    await txn.execute(
        "INSERT INTO media_blobs (sha256, size, refcount) VALUES ($1, $2, 1)"
        " ON CONFLICT (sha256) DO UPDATE SET refcount = media_blobs.refcount + 1",
        sha256,
        size,
    )


async def _unref(txn: Transaction, sha256: str, freed: list[str]) -> None:
    await txn.execute("UPDATE media_blobs SET refcount = refcount - 1 WHERE sha256 = $1", sha256)
    if await txn.execute("DELETE FROM media_blobs WHERE sha256 = $1 AND refcount <= 0", sha256):
        freed.append(sha256)


async def _add_thumbnail(
    txn: Transaction,
    exists_sql: str,
    insert_sql: str,
    keys: tuple[str, ...],
    thumbnail: ThumbnailRecord,
) -> bool:
    """Insert a thumbnail row under ``keys`` (the media's key columns, first in both
    statements) and take a reference to its blob; False when ``exists_sql`` finds no media or
    the row was already there (no reference taken)."""
    if await txn.fetchval(exists_sql, *keys) is None:
        return False
    added = await txn.execute(
        insert_sql,
        *keys,
        thumbnail.width,
        thumbnail.height,
        thumbnail.method,
        thumbnail.animated,
        thumbnail.content_type,
        thumbnail.size,
        thumbnail.sha256,
    )
    if not added:
        return False
    await _ref(txn, thumbnail.sha256, thumbnail.size)
    return True


class MediaStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_pending(
        self, media_id: str, user_id: str, now: int, expires_ts: int, max_pending: int
    ) -> bool:
        """Record a media ID awaiting content; False when the user already has ``max_pending``
        unexpired ones (counted in the same transaction)."""
        async with self._db.transaction() as txn:
            pending = await txn.fetchval(
                "SELECT COUNT(*) FROM local_media WHERE user_id = $1 AND sha256 IS NULL"
                " AND unused_expires_ts > $2",
                user_id,
                now,
            )
            if int(pending) >= max_pending:
                return False
            await txn.execute(
                f"INSERT INTO local_media ({_MEDIA_COLUMNS})"
                " VALUES ($1, $2, NULL, NULL, NULL, NULL, $3, $4, $3, FALSE, FALSE)",
                media_id,
                user_id,
                now,
                expires_ts,
            )
        return True

    async def add_media(
        self,
        media_id: str,
        user_id: str,
        content: NewContent,
        now: int,
        *,
        unauthenticated_allowed: bool,
    ) -> None:
        """Record an uploaded file under a new media ID, taking a reference to its blob."""
        async with self._db.transaction() as txn:
            await txn.execute(
                f"INSERT INTO local_media ({_MEDIA_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $7, FALSE, $8)",
                media_id,
                user_id,
                content.content_type,
                content.upload_name,
                content.size,
                content.sha256,
                now,
                unauthenticated_allowed,
            )
            await _ref(txn, content.sha256, content.size)

    async def complete_pending(
        self,
        media_id: str,
        user_id: str,
        content: NewContent,
        now: int,
        *,
        unauthenticated_allowed: bool,
    ) -> CompleteResult:
        """Attach content to a created media ID (the spec's checks for PUT /upload)."""
        async with self._db.transaction() as txn:
            row = await txn.fetchrow(
                "SELECT user_id, sha256, unused_expires_ts FROM local_media WHERE media_id = $1",
                media_id,
            )
            if row is None:
                return CompleteResult.NOT_FOUND
            if row["sha256"] is not None:
                return CompleteResult.ALREADY_UPLOADED
            if row["unused_expires_ts"] is None or int(row["unused_expires_ts"]) <= now:
                return CompleteResult.NOT_FOUND
            if row["user_id"] != user_id:
                return CompleteResult.OTHER_USER
            await txn.execute(
                "UPDATE local_media SET content_type = $2, upload_name = $3, size = $4,"
                " sha256 = $5, unused_expires_ts = NULL, created_ts = $6, last_access_ts = $6,"
                " unauthenticated_allowed = $7 WHERE media_id = $1",
                media_id,
                content.content_type,
                content.upload_name,
                content.size,
                content.sha256,
                now,
                unauthenticated_allowed,
            )
            await _ref(txn, content.sha256, content.size)
        return CompleteResult.DONE

    async def get_media(self, media_id: str) -> MediaRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_MEDIA_COLUMNS} FROM local_media WHERE media_id = $1", media_id
        )
        return None if row is None else _media(row)

    async def blob_exists(self, sha256: str) -> bool:
        found = await self._db.fetchval("SELECT 1 FROM media_blobs WHERE sha256 = $1", sha256)
        return found is not None

    async def touch(self, media_id: str, now: int) -> None:
        """Record a download (what media_retention measures)."""
        await self._db.execute(
            "UPDATE local_media SET last_access_ts = $2"
            " WHERE media_id = $1 AND last_access_ts < $2",
            media_id,
            now,
        )

    async def uploaded_bytes_since(self, user_id: str, since_ts: int) -> int:
        """Bytes the user uploaded from ``since_ts`` on (for media_upload_limits)."""
        total = await self._db.fetchval(
            "SELECT COALESCE(SUM(size), 0) FROM local_media WHERE user_id = $1"
            " AND created_ts >= $2 AND size IS NOT NULL",
            user_id,
            since_ts,
        )
        return int(total)

    async def set_quarantined(self, media_id: str, quarantined: bool) -> bool:
        changed = await self._db.execute(
            "UPDATE local_media SET quarantined = $2 WHERE media_id = $1", media_id, quarantined
        )
        return changed > 0

    # ---- thumbnails -------------------------------------------------------------------------

    async def get_thumbnail(
        self, media_id: str, width: int, height: int, method: str, animated: bool
    ) -> ThumbnailRecord | None:
        row = await self._db.fetchrow(
            "SELECT * FROM local_media_thumbnails WHERE media_id = $1 AND width = $2"
            " AND height = $3 AND method = $4 AND animated = $5",
            media_id,
            width,
            height,
            method,
            animated,
        )
        return None if row is None else _thumbnail(row)

    async def add_thumbnail(self, thumbnail: ThumbnailRecord) -> bool:
        """Record a generated thumbnail (taking a reference to its blob); False when the media
        is gone or an identical thumbnail was recorded concurrently (no reference taken)."""
        async with self._db.transaction() as txn:
            return await _add_thumbnail(
                txn,
                "SELECT 1 FROM local_media WHERE media_id = $1",
                "INSERT INTO local_media_thumbnails (media_id, width, height, method, animated,"
                " content_type, size, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT DO NOTHING",
                (thumbnail.media_id,),
                thumbnail,
            )

    async def list_thumbnails(self, media_id: str) -> list[ThumbnailRecord]:
        rows = await self._db.fetch(
            "SELECT * FROM local_media_thumbnails WHERE media_id = $1 ORDER BY width, height",
            media_id,
        )
        return [_thumbnail(r) for r in rows]

    # ---- finding and deleting media ---------------------------------------------------------

    async def media_ids_of_user(self, user_id: str) -> list[str]:
        rows = await self._db.fetch(
            "SELECT media_id FROM local_media WHERE user_id = $1 ORDER BY created_ts", user_id
        )
        return [r["media_id"] for r in rows]

    async def media_ids_before(self, before_ts: int, size_gt: int = 0) -> list[str]:
        """Uploaded media created and last downloaded before ``before_ts``, larger than
        ``size_gt`` bytes (Synapse's admin "delete media by date")."""
        rows = await self._db.fetch(
            "SELECT media_id FROM local_media WHERE sha256 IS NOT NULL AND created_ts < $1"
            " AND last_access_ts < $1 AND size > $2 ORDER BY created_ts",
            before_ts,
            size_gt,
        )
        return [r["media_id"] for r in rows]

    async def expired_pending_ids(self, now: int) -> list[str]:
        """Created media IDs whose content never came before their expiry."""
        rows = await self._db.fetch(
            "SELECT media_id FROM local_media WHERE sha256 IS NULL AND unused_expires_ts <= $1",
            now,
        )
        return [r["media_id"] for r in rows]

    async def delete_media(self, media_ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Delete media rows and their thumbnails; return (deleted IDs, freed blob hashes)."""
        deleted: list[str] = []
        freed: list[str] = []
        for part in chunks(list(media_ids)):
            async with self._db.transaction() as txn:
                placeholders = in_list(1, len(part))
                media_rows = await txn.fetch(
                    f"SELECT media_id, sha256 FROM local_media WHERE media_id IN ({placeholders})",
                    *part,
                )
                thumb_rows = await txn.fetch(
                    f"SELECT sha256 FROM local_media_thumbnails WHERE media_id IN ({placeholders})",
                    *part,
                )
                await txn.execute(
                    f"DELETE FROM local_media_thumbnails WHERE media_id IN ({placeholders})",
                    *part,
                )
                await txn.execute(
                    f"DELETE FROM local_media WHERE media_id IN ({placeholders})", *part
                )
                for row in [*media_rows, *thumb_rows]:
                    if row["sha256"] is not None:
                        await _unref(txn, row["sha256"], freed)
                deleted.extend(r["media_id"] for r in media_rows)
        return deleted, freed

    # ---- remote media (Server-Server API, "Content Repository") -----------------------------

    async def get_remote_media(self, origin: str, media_id: str) -> RemoteMediaRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_REMOTE_COLUMNS} FROM remote_media WHERE origin = $1 AND media_id = $2",
            origin,
            media_id,
        )
        return None if row is None else _remote(row)

    async def add_remote_media(self, record: RemoteMediaRecord) -> bool:
        """Cache fetched remote media, taking a reference to its blob; False (no reference
        taken) when it was cached concurrently."""
        async with self._db.transaction() as txn:
            added = await txn.execute(
                f"INSERT INTO remote_media ({_REMOTE_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                record.origin,
                record.media_id,
                record.content_type,
                record.upload_name,
                record.size,
                record.sha256,
                record.created_ts,
                record.last_access_ts,
                record.quarantined,
            )
            if not added:
                return False
            await _ref(txn, record.sha256, record.size)
        return True

    async def touch_remote(self, origin: str, media_id: str, now: int) -> None:
        await self._db.execute(
            "UPDATE remote_media SET last_access_ts = $3"
            " WHERE origin = $1 AND media_id = $2 AND last_access_ts < $3",
            origin,
            media_id,
            now,
        )

    async def get_remote_thumbnail(
        self, origin: str, media_id: str, width: int, height: int, method: str, *, animated: bool
    ) -> ThumbnailRecord | None:
        row = await self._db.fetchrow(
            "SELECT * FROM remote_media_thumbnails WHERE origin = $1 AND media_id = $2"
            " AND width = $3 AND height = $4 AND method = $5 AND animated = $6",
            origin,
            media_id,
            width,
            height,
            method,
            animated,
        )
        return None if row is None else _thumbnail(row)

    async def add_remote_thumbnail(self, origin: str, thumbnail: ThumbnailRecord) -> bool:
        """Like ``add_thumbnail``, for cached remote media."""
        async with self._db.transaction() as txn:
            return await _add_thumbnail(
                txn,
                "SELECT 1 FROM remote_media WHERE origin = $1 AND media_id = $2",
                "INSERT INTO remote_media_thumbnails (origin, media_id, width, height, method,"
                " animated, content_type, size, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                " $9) ON CONFLICT DO NOTHING",
                (origin, thumbnail.media_id),
                thumbnail,
            )

    async def remote_media_before(self, before_ts: int) -> list[tuple[str, str]]:
        """Cached remote media last downloaded before ``before_ts``: (origin, media_id)."""
        rows = await self._db.fetch(
            "SELECT origin, media_id FROM remote_media WHERE last_access_ts < $1"
            " ORDER BY last_access_ts",
            before_ts,
        )
        return [(r["origin"], r["media_id"]) for r in rows]

    async def delete_remote_media(self, origin: str, media_id: str) -> list[str]:
        """Drop cached remote media and its thumbnails; return the freed blob hashes."""
        freed: list[str] = []
        async with self._db.transaction() as txn:
            rows = [
                *await txn.fetch(
                    "SELECT sha256 FROM remote_media WHERE origin = $1 AND media_id = $2",
                    origin,
                    media_id,
                ),
                *await txn.fetch(
                    "SELECT sha256 FROM remote_media_thumbnails WHERE origin = $1"
                    " AND media_id = $2",
                    origin,
                    media_id,
                ),
            ]
            await txn.execute(
                "DELETE FROM remote_media_thumbnails WHERE origin = $1 AND media_id = $2",
                origin,
                media_id,
            )
            await txn.execute(
                "DELETE FROM remote_media WHERE origin = $1 AND media_id = $2", origin, media_id
            )
            for row in rows:
                await _unref(txn, row["sha256"], freed)
        return freed
