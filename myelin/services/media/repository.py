"""The media repository (spec: Client-Server API, "Content repository").

Uploads (direct, and asynchronous through a created ``mxc://`` URI), downloads, thumbnails,
quotas and deletion of local media. Bytes go through a ``MediaBackend`` (content-addressed,
identical uploads share one file); metadata through ``MediaStore``. Uploads are streamed to
the backend and never held in memory. Media of other servers (Server-Server API, "Content
Repository") is fetched once through a ``RemoteMediaFetcher``, streamed into the backend with
the same size limit, cached as remote media and served from there like local media; its
thumbnails are generated here. Without a fetcher, remote media answers 404 ``M_NOT_FOUND``.
"""

import asyncio
import contextlib
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from myelin.clock import Clock
from myelin.core.identifiers import is_valid_server_name
from myelin.services.errors import MatrixError
from myelin.services.media import thumbnailer
from myelin.services.media.backend import BlobWriter, MediaBackend, StagedBlob
from myelin.services.media.thumbnailer import Method
from myelin.storage.media import (
    CompleteResult,
    MediaRecord,
    MediaStore,
    NewContent,
    RemoteMediaRecord,
    ThumbnailRecord,
)

# "Matrix Content (mxc://) URIs": a media ID is made of A-Za-z0-9, _ and - only.
MEDIA_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
# The longest a client may make a download wait for a created ID's content (Synapse's cap).
MAX_TIMEOUT_MS = 60_000
DEFAULT_TIMEOUT_MS = 20_000
DEFAULT_CONTENT_TYPE = "application/octet-stream"
T = TypeVar("T")

# A media type as RFC 9110 allows it (type/subtype, optional parameters), printable ASCII.
_CONTENT_TYPE_RE = re.compile(
    r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(;[ -~]*)?$"
)
# How often the lazy purge (expired created IDs, media_retention) runs at most.
_PURGE_INTERVAL_MS = 3_600_000
# Thumbnails rendered at once (each decodes an image in a worker thread).
_RENDER_CONCURRENCY = 4
# The first bytes of an image upload kept to read its header (dimensions) from: enough for
# the metadata segments a JPEG may carry before its frame header.
_HEADER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class MediaSettings:
    """The media options of the configuration."""

    server_name: str
    max_upload_size: int
    max_image_pixels: int
    dynamic_thumbnails: bool
    thumbnail_sizes: tuple[tuple[int, int, Method], ...]
    enable_authenticated_media: bool = True
    max_pending_media_uploads: int = 5
    unused_expiration_time: int = 86_400_000
    upload_limits: tuple[tuple[int, int], ...] = ()
    local_media_lifetime: int | None = None


@dataclass(frozen=True)
class StoredFile:
    """Bytes to serve: from the backend by hash."""

    sha256: str
    size: int
    content_type: str
    filename: str | None


@dataclass(frozen=True)
class RemoteMedia:
    """Media being fetched from another server: its metadata and a stream of its bytes
    (``length`` when the origin declared it)."""

    content_type: str
    filename: str | None
    content: AsyncIterator[bytes]
    length: int | None = None


class RemoteMediaFetcher(Protocol):
    """Fetches media from its origin server (federation: ``GET /_matrix/federation/v1/media/
    download/{mediaId}``, multipart/mixed, with the legacy fallback).

    The context manager gives the media with its bytes streaming in and raises ``MatrixError``:
    404 ``M_NOT_FOUND`` when the origin has no such media, 504 ``M_NOT_YET_UPLOADED``, 502
    when the origin cannot be reached or answers wrongly, 403 when federation with it is
    refused.
    """

    def fetch_download(
        self, server_name: str, media_id: str, *, timeout_ms: int
    ) -> AbstractAsyncContextManager[RemoteMedia]: ...


def valid_content_type(value: str | None) -> str:
    """The content type to store for an upload: as given when well-formed, else the default."""
    if value is None or not _CONTENT_TYPE_RE.match(value.strip()):
        return DEFAULT_CONTENT_TYPE
    return value.strip()


def _is_image_type(content_type: str | None) -> bool:
    return valid_content_type(content_type).lower().startswith("image/")


def new_media_id() -> str:
    return secrets.token_urlsafe(18)


class MediaRepository:
    def __init__(
        self,
        settings: MediaSettings,
        store: MediaStore,
        backend: MediaBackend,
        clock: Clock,
        *,
        remote: RemoteMediaFetcher | None = None,
        ids: Callable[[], str] = new_media_id,
    ) -> None:
        self.settings = settings
        self._store = store
        self._backend = backend
        self._clock = clock
        self._remote = remote
        self._ids = ids
        # Serialises blob reference changes with the file operations they imply, so that a
        # deletion never removes a file an upload of the same bytes has just reused.
        self._blob_lock = asyncio.Lock()
        # Downloads waiting for a created ID's content: the event and how many wait on it.
        self._uploaded: dict[str, tuple[asyncio.Event, int]] = {}
        self._render_locks: dict[tuple[str, str, int, int, str, bool], asyncio.Lock] = {}
        self._fetch_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._render_slots = asyncio.Semaphore(_RENDER_CONCURRENCY)
        self._last_purge = 0

    @property
    def backend(self) -> MediaBackend:
        return self._backend

    def mxc(self, media_id: str) -> str:
        return f"mxc://{self.settings.server_name}/{media_id}"

    # ---- uploads ----------------------------------------------------------------------------

    async def check_quota(self, user_id: str, size: int) -> None:
        """403 M_FORBIDDEN when ``size`` more bytes would pass one of the user's quotas."""
        now = self._clock.now_ms()
        for period, max_size in self.settings.upload_limits:
            used = await self._store.uploaded_bytes_since(user_id, now - period)
            if used + size > max_size:
                raise MatrixError(403, "M_FORBIDDEN", "Media upload limit exceeded")

    async def _receive(
        self,
        chunks: AsyncIterator[bytes],
        too_large_status: int = 413,
        *,
        content_type: str | None = None,
    ) -> StagedBlob:
        """Stream the body into staging; M_TOO_LARGE (nothing kept) past the limit.

        An upload declared as an image whose header gives more pixels than max_image_pixels
        is refused too, 413 M_TOO_LARGE with nothing kept (decompression bombs): only its
        first bytes are kept in memory to read the header from, and nothing is decoded.
        """
        writer: BlobWriter = self._backend.writer()
        head = bytearray() if _is_image_type(content_type) else None
        try:
            async for chunk in chunks:
                if writer.size + len(chunk) > self.settings.max_upload_size:
                    raise MatrixError(too_large_status, "M_TOO_LARGE", "Content is too large")
                if head is not None and len(head) < _HEADER_BYTES:
                    head += chunk[: _HEADER_BYTES - len(head)]
                await writer.write(chunk)
            if head is not None:
                try:
                    await asyncio.to_thread(
                        thumbnailer.check_pixels, bytes(head), self.settings.max_image_pixels
                    )
                except thumbnailer.ImageTooLarge as e:
                    raise MatrixError(
                        413, "M_TOO_LARGE", "The image has more pixels than this server accepts"
                    ) from e
            return await writer.finish()
        except BaseException:
            await writer.abort()
            raise

    async def _store_content(
        self, staged: StagedBlob, user_id: str, content_type: str, filename: str | None
    ) -> NewContent:
        try:
            await self.check_quota(user_id, staged.size)
        except MatrixError:
            await self._backend.discard(staged)
            raise
        return NewContent(staged.sha256, staged.size, content_type, filename)

    async def _commit(self, staged: StagedBlob, record: Callable[[], Awaitable[T]]) -> T:
        """Make the staged bytes permanent and record them (the reference taken in ``record``);
        a failed record leaves no unreferenced file behind."""
        async with self._blob_lock:
            await self._backend.commit(staged)
            try:
                return await record()
            except BaseException:
                if not await self._store.blob_exists(staged.sha256):
                    await self._backend.delete(staged.sha256)
                raise

    async def upload(
        self,
        user_id: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str | None,
        filename: str | None,
        declared_length: int | None = None,
    ) -> str:
        """POST /upload: store the content under a new media ID; return its mxc URI."""
        await self.check_quota(user_id, declared_length or 0)
        staged = await self._receive(chunks, content_type=content_type)
        content = await self._store_content(
            staged, user_id, valid_content_type(content_type), filename
        )
        media_id = self._ids()

        async def record() -> None:
            await self._store.add_media(
                media_id,
                user_id,
                content,
                self._clock.now_ms(),
                unauthenticated_allowed=not self.settings.enable_authenticated_media,
            )

        await self._commit(staged, record)
        self._notify_uploaded(media_id)
        return self.mxc(media_id)

    async def create(self, user_id: str) -> tuple[str, int]:
        """POST /create: a media ID awaiting content; (mxc URI, unused_expires_at)."""
        now = self._clock.now_ms()
        await self.purge_if_due(now)
        expires = now + self.settings.unused_expiration_time
        media_id = self._ids()
        created = await self._store.create_pending(
            media_id, user_id, now, expires, self.settings.max_pending_media_uploads
        )
        if not created:
            # The spec: too many pending uploads is answered like a rate limit.
            raise MatrixError(429, "M_LIMIT_EXCEEDED", "Too many pending media uploads")
        return self.mxc(media_id), expires

    async def upload_to(
        self,
        user_id: str,
        server_name: str,
        media_id: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str | None,
        filename: str | None,
        declared_length: int | None = None,
    ) -> None:
        """PUT /upload/{serverName}/{mediaId}: the content of a created media ID."""
        if server_name != self.settings.server_name or not MEDIA_ID_RE.match(media_id):
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media ID")
        # Checked before the body is read, and again (atomically) when it is recorded.
        record = await self._store.get_media(media_id)
        now = self._clock.now_ms()
        self._check_pending(record, user_id, now)
        await self.check_quota(user_id, declared_length or 0)
        staged = await self._receive(chunks, content_type=content_type)
        content = await self._store_content(
            staged, user_id, valid_content_type(content_type), filename
        )

        async def complete() -> CompleteResult:
            return await self._store.complete_pending(
                media_id,
                user_id,
                content,
                self._clock.now_ms(),
                unauthenticated_allowed=not self.settings.enable_authenticated_media,
            )

        result = await self._commit(staged, complete)
        if result is not CompleteResult.DONE:
            # Nothing was recorded: drop the file unless other media uses the same bytes.
            async with self._blob_lock:
                if not await self._store.blob_exists(staged.sha256):
                    await self._backend.delete(staged.sha256)
            self._check_pending(await self._store.get_media(media_id), user_id, now)
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media ID")
        self._notify_uploaded(media_id)

    def _check_pending(self, record: MediaRecord | None, user_id: str, now: int) -> None:
        """The spec's answers for PUT /upload: 404, 409 M_CANNOT_OVERWRITE_MEDIA, 403."""
        if record is None:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media ID")
        if record.sha256 is not None:
            raise MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded")
        if record.unused_expires_ts is None or record.unused_expires_ts <= now:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media ID (expired)")
        if record.user_id != user_id:
            raise MatrixError(403, "M_FORBIDDEN", "This media ID was created by another user")

    def _notify_uploaded(self, media_id: str) -> None:
        entry = self._uploaded.pop(media_id, None)
        if entry is not None:
            entry[0].set()

    # ---- downloads --------------------------------------------------------------------------

    async def local_media(
        self, server_name: str, media_id: str, *, timeout_ms: int, legacy: bool
    ) -> MediaRecord:
        """The uploaded media ``mxc://server_name/media_id`` of this server.

        404 ``M_NOT_FOUND`` for unknown, quarantined or expired media, media of another server
        (until federation exists), and, on the deprecated unauthenticated endpoints (``legacy``),
        media uploaded while enable_authenticated_media was on. Content that has not arrived
        yet is waited for up to ``timeout_ms``, then 504 ``M_NOT_YET_UPLOADED``.
        """
        if not is_valid_server_name(server_name) or not MEDIA_ID_RE.match(media_id):
            # "Security considerations": sanitised, never used as a path.
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media")
        if server_name != self.settings.server_name:
            raise MatrixError(404, "M_NOT_FOUND", "Remote media is not available")
        record = await self._store.get_media(media_id)
        now = self._clock.now_ms()
        if record is not None and record.sha256 is None:
            expires = record.unused_expires_ts
            if expires is None or expires <= now:
                record = None
            else:
                record = await self._wait_for_content(media_id, timeout_ms)
        if record is None or record.quarantined:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media")
        if legacy and not record.unauthenticated_allowed:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media (use the authenticated endpoints)")
        await self._store.touch(media_id, now)
        return record

    async def _wait_for_content(self, media_id: str, timeout_ms: int) -> MediaRecord:
        event, waiters = self._uploaded.get(media_id, (asyncio.Event(), 0))
        self._uploaded[media_id] = (event, waiters + 1)
        try:
            record = await self._store.get_media(media_id)
            if record is not None and record.sha256 is None:
                timeout = max(0, min(timeout_ms, MAX_TIMEOUT_MS)) / 1000
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout)
                record = await self._store.get_media(media_id)
        finally:
            entry = self._uploaded.get(media_id)
            if entry is not None and entry[0] is event:
                if entry[1] <= 1:
                    del self._uploaded[media_id]
                else:
                    self._uploaded[media_id] = (event, entry[1] - 1)
        if record is not None and record.sha256 is None:
            raise MatrixError(504, "M_NOT_YET_UPLOADED", "Content has not yet been uploaded")
        if record is None:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media")
        return record

    def _is_remote(self, server_name: str, media_id: str) -> bool:
        return (
            server_name != self.settings.server_name
            and self._remote is not None
            and is_valid_server_name(server_name)
            and MEDIA_ID_RE.match(media_id) is not None
        )

    async def remote_media(
        self, server_name: str, media_id: str, *, timeout_ms: int, legacy: bool
    ) -> RemoteMediaRecord:
        """Media of another server: from the cache, else fetched from its origin once (one
        fetch however many requests wait for it), stored and cached.

        On the deprecated unauthenticated endpoints (``legacy``) remote media is served only
        while enable_authenticated_media is off (the spec's "freeze").
        """
        if self._remote is None or (legacy and self.settings.enable_authenticated_media):
            raise MatrixError(404, "M_NOT_FOUND", "Remote media is not available")
        record = await self._store.get_remote_media(server_name, media_id)
        if record is None:
            key = (server_name, media_id)
            lock = self._fetch_locks.setdefault(key, asyncio.Lock())
            try:
                async with lock:
                    record = await self._store.get_remote_media(server_name, media_id)
                    if record is None:
                        record = await self._fetch_remote(server_name, media_id, timeout_ms)
            finally:
                if not lock.locked() and self._fetch_locks.get(key) is lock:
                    del self._fetch_locks[key]
        if record.quarantined:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media")
        await self._store.touch_remote(server_name, media_id, self._clock.now_ms())
        return record

    async def _fetch_remote(
        self, server_name: str, media_id: str, timeout_ms: int
    ) -> RemoteMediaRecord:
        assert self._remote is not None
        fetch = self._remote.fetch_download(
            server_name, media_id, timeout_ms=max(0, min(timeout_ms, MAX_TIMEOUT_MS))
        )
        async with fetch as remote:
            if remote.length is not None and remote.length > self.settings.max_upload_size:
                # The spec's 502 M_TOO_LARGE: "too large for the server to serve".
                raise MatrixError(502, "M_TOO_LARGE", "Content is too large")
            staged = await self._receive(remote.content, too_large_status=502)
        now = self._clock.now_ms()
        record = RemoteMediaRecord(
            server_name,
            media_id,
            valid_content_type(remote.content_type),
            remote.filename,
            staged.size,
            staged.sha256,
            now,
            now,
        )

        async def cache() -> bool:
            return await self._store.add_remote_media(record)

        if not await self._commit(staged, cache):
            # Cached meanwhile (by another process): that copy is the one kept.
            async with self._blob_lock:
                if not await self._store.blob_exists(staged.sha256):
                    await self._backend.delete(staged.sha256)
            cached = await self._store.get_remote_media(server_name, media_id)
            if cached is None:
                raise MatrixError(404, "M_NOT_FOUND", "Unknown media")
            return cached
        return record

    async def delete_remote_media(self, before_ts: int) -> list[tuple[str, str]]:
        """Drop cached remote media last downloaded before ``before_ts`` (fetched again when
        asked for); the (origin, media_id) pairs dropped."""
        dropped = await self._store.remote_media_before(before_ts)
        for origin, media_id in dropped:
            async with self._blob_lock:
                for sha256 in await self._store.delete_remote_media(origin, media_id):
                    await self._backend.delete(sha256)
        return dropped

    async def download(
        self, server_name: str, media_id: str, *, timeout_ms: int, legacy: bool
    ) -> StoredFile:
        """Local media, or remote media (fetched and cached first), from the backend."""
        if self._is_remote(server_name, media_id):
            remote = await self.remote_media(
                server_name, media_id, timeout_ms=timeout_ms, legacy=legacy
            )
            return StoredFile(remote.sha256, remote.size, remote.content_type, remote.upload_name)
        record = await self.local_media(server_name, media_id, timeout_ms=timeout_ms, legacy=legacy)
        assert record.sha256 is not None and record.size is not None
        return StoredFile(
            record.sha256,
            record.size,
            record.content_type or DEFAULT_CONTENT_TYPE,
            record.upload_name,
        )

    # ---- thumbnails -------------------------------------------------------------------------

    def thumbnail_box(self, width: int, height: int, method: Method) -> tuple[int, int, Method]:
        """The box a thumbnail is made for: the request itself with dynamic_thumbnails, else
        the smallest configured size of that method at least as large as the request (the spec
        never returns less than asked), else the largest one."""
        if self.settings.dynamic_thumbnails or not self.settings.thumbnail_sizes:
            return width, height, method
        sizes = [s for s in self.settings.thumbnail_sizes if s[2] == method]
        if not sizes:
            sizes = list(self.settings.thumbnail_sizes)
        large_enough = [s for s in sizes if s[0] >= width and s[1] >= height]
        if large_enough:
            return min(large_enough, key=lambda s: (s[0] * s[1], s[0]))
        return max(sizes, key=lambda s: (s[0] * s[1], s[0]))

    async def thumbnail(
        self,
        server_name: str,
        media_id: str,
        *,
        width: int,
        height: int,
        method: Method,
        animated: bool,
        timeout_ms: int,
        legacy: bool,
    ) -> StoredFile:
        if width < 1 or height < 1:
            raise MatrixError(400, "M_INVALID_PARAM", "width and height must be positive")
        # Remote media is fetched whole and thumbnailed here, as Synapse does.
        origin = server_name if self._is_remote(server_name, media_id) else None
        if origin is not None:
            remote = await self.remote_media(origin, media_id, timeout_ms=timeout_ms, legacy=legacy)
            sha256, size = remote.sha256, remote.size
        else:
            record = await self.local_media(
                server_name, media_id, timeout_ms=timeout_ms, legacy=legacy
            )
            assert record.sha256 is not None and record.size is not None
            sha256, size = record.sha256, record.size
        path = self._backend.local_path(sha256)
        if path is None:
            raise MatrixError(400, "M_UNKNOWN", "Cannot generate thumbnails for this content")
        info = await asyncio.to_thread(self._probe, path)
        want_animation = animated and info.animated
        if (
            info.width <= width
            and info.height <= height
            and info.content_type in thumbnailer.THUMBNAIL_TYPES
            and (want_animation or not info.animated)
        ):
            # "When the content is smaller than the requested dimensions, servers should
            # return the original content rather than thumbnail it."
            return StoredFile(sha256, size, info.content_type, None)
        box_w, box_h, box_method = self.thumbnail_box(width, height, method)
        key = (media_id, box_w, box_h, box_method, want_animation)
        lock_key = (origin or "", *key)
        lock = self._render_locks.setdefault(lock_key, asyncio.Lock())
        try:
            async with lock:
                if origin is None:
                    cached = await self._store.get_thumbnail(*key)
                else:
                    cached = await self._store.get_remote_thumbnail(
                        origin, *key[:4], animated=want_animation
                    )
                if cached is None:
                    cached = await self._render(path, origin, key)
        finally:
            if not lock.locked() and self._render_locks.get(lock_key) is lock:
                del self._render_locks[lock_key]
        return StoredFile(cached.sha256, cached.size, cached.content_type, None)

    def _probe(self, path: Path) -> thumbnailer.ImageInfo:
        try:
            return thumbnailer.probe(path, self.settings.max_image_pixels)
        except thumbnailer.ImageTooLarge as e:
            raise MatrixError(413, "M_TOO_LARGE", "Content is too large to thumbnail") from e
        except thumbnailer.CannotThumbnail as e:
            raise MatrixError(
                400, "M_UNKNOWN", "Cannot generate thumbnails for the requested content"
            ) from e

    async def _render(
        self, path: Path, origin: str | None, key: tuple[str, int, int, Method, bool]
    ) -> ThumbnailRecord:
        """Render and record a thumbnail of local media (``origin`` None) or cached remote
        media."""
        media_id, box_w, box_h, method, animated = key
        async with self._render_slots:
            try:
                thumb = await asyncio.to_thread(
                    thumbnailer.render,
                    path,
                    box_w,
                    box_h,
                    method,
                    animated=animated,
                    max_pixels=self.settings.max_image_pixels,
                )
            except thumbnailer.ImageTooLarge as e:
                raise MatrixError(413, "M_TOO_LARGE", "Content is too large to thumbnail") from e
            except thumbnailer.CannotThumbnail as e:
                raise MatrixError(
                    400, "M_UNKNOWN", "Cannot generate thumbnails for the requested content"
                ) from e
        writer = self._backend.writer()
        try:
            await writer.write(thumb.data)
            staged = await writer.finish()
        except BaseException:
            await writer.abort()
            raise
        result = ThumbnailRecord(
            media_id, box_w, box_h, method, animated, thumb.content_type, staged.size, staged.sha256
        )

        async def record_thumbnail() -> bool:
            if origin is None:
                return await self._store.add_thumbnail(result)
            return await self._store.add_remote_thumbnail(origin, result)

        if not await self._commit(staged, record_thumbnail):
            # The media was deleted meanwhile: nothing references the file.
            async with self._blob_lock:
                if not await self._store.blob_exists(staged.sha256):
                    await self._backend.delete(staged.sha256)
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media")
        return result

    # ---- deletion, quarantine, retention ----------------------------------------------------

    async def delete_media(self, media_ids: list[str]) -> list[str]:
        """Delete media and thumbnails, and the files no other media uses; the IDs deleted."""
        async with self._blob_lock:
            deleted, freed = await self._store.delete_media(media_ids)
            for sha256 in freed:
                await self._backend.delete(sha256)
        return deleted

    async def delete_user_media(self, user_id: str) -> list[str]:
        return await self.delete_media(await self._store.media_ids_of_user(user_id))

    async def delete_media_before(self, before_ts: int, size_gt: int = 0) -> list[str]:
        return await self.delete_media(await self._store.media_ids_before(before_ts, size_gt))

    async def set_quarantined(self, server_name: str, media_id: str, quarantined: bool) -> None:
        if server_name != self.settings.server_name or not MEDIA_ID_RE.match(media_id):
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media")
        if not await self._store.set_quarantined(media_id, quarantined):
            raise MatrixError(404, "M_NOT_FOUND", "Unknown media")

    async def purge(self, now: int) -> list[str]:
        """Delete created IDs whose content never came, and (media_retention) local media
        not downloaded within local_media_lifetime."""
        ids = await self._store.expired_pending_ids(now)
        lifetime = self.settings.local_media_lifetime
        if lifetime is not None:
            ids += await self._store.media_ids_before(now - lifetime)
        return await self.delete_media(ids) if ids else []

    async def purge_if_due(self, now: int) -> None:
        if now - self._last_purge >= _PURGE_INTERVAL_MS:
            self._last_purge = now
            await self.purge(now)
