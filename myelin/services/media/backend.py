"""Where media bytes live (spec: Client-Server API, "Content repository"; server internals).

``MediaBackend`` is the interface the media repository stores files through; files are
content-addressed by the SHA-256 of their bytes, so identical uploads share one file. A writer
streams an upload into a staging area while hashing it (an upload is never held in memory), and
``commit`` then makes it readable under its hash. ``LocalMediaBackend`` keeps files on the local
filesystem in a sharded layout (``blobs/ab/cd/abcd...``); an S3-compatible backend can implement
the same protocol (multipart upload for the writer, a copy for ``commit``, ranged GETs for
``read``) and return None from ``local_path``.
"""

import asyncio
import hashlib
import os
import secrets
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Reads and writes move through the event loop in pieces of this size.
CHUNK_SIZE = 256 * 1024
# An upload is hashed and written by a worker thread in batches of about this many bytes.
FLUSH_SIZE = 1024 * 1024


@dataclass(frozen=True)
class StagedBlob:
    """A fully written upload, not yet committed: its hash, size and staging handle."""

    sha256: str
    size: int
    handle: str


class BlobWriter(Protocol):
    """Streams one upload into staging."""

    @property
    def size(self) -> int:
        """Bytes written so far."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def finish(self) -> StagedBlob:
        """Flush and close; the staged blob is then committed or discarded."""
        ...

    async def abort(self) -> None:
        """Drop everything written (an upload refused or cut short)."""
        ...


class MediaBackend(Protocol):
    def writer(self) -> BlobWriter: ...

    async def commit(self, staged: StagedBlob) -> None:
        """Make the staged bytes readable under their hash (a no-op copy when a file with
        that hash exists already: the staged one is dropped)."""
        ...

    async def discard(self, staged: StagedBlob) -> None: ...

    async def delete(self, sha256: str) -> None:
        """Remove the file of this hash (no error when it is already gone)."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    def read(
        self, sha256: str, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The bytes ``offset .. offset+length`` (to the end when ``length`` is None), in
        chunks of at most ``CHUNK_SIZE``."""
        ...

    def local_path(self, sha256: str) -> Path | None:
        """A local file holding the bytes, for decoders that need one (None: not local)."""
        ...


def _check_hash(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


class _LocalWriter:
    """Hashes and writes an upload in a worker thread, one thread call per ``FLUSH_SIZE``
    gathered, while the event loop receives the next pieces (at most one call in flight, so
    the hash and the file see the pieces in order). The pieces are kept as received (no copy
    into a buffer); the file is fsynced once, at ``finish``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file = path.open("xb")
        self._hash = hashlib.sha256()
        self._size = 0
        self._pieces: list[bytes] = []
        self._pending = 0
        self._in_flight: asyncio.Future[None] | None = None

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self._size += len(data)
        self._pieces.append(data)
        self._pending += len(data)
        if self._pending >= FLUSH_SIZE:
            await self._flush()

    def _write_pieces(self, pieces: list[bytes]) -> None:
        # hashlib and file writes release the GIL on large buffers: the loop runs meanwhile.
        for piece in pieces:
            self._hash.update(piece)
            self._file.write(piece)

    async def _wait_in_flight(self) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    async def _flush(self) -> None:
        """Hand the gathered pieces to a worker thread once the previous call is done."""
        await self._wait_in_flight()
        if self._pieces:
            pieces, self._pieces, self._pending = self._pieces, [], 0
            loop = asyncio.get_running_loop()
            self._in_flight = loop.run_in_executor(None, self._write_pieces, pieces)

    async def finish(self) -> StagedBlob:
        await self._flush()
        await self._wait_in_flight()
        await asyncio.to_thread(self._close, True)
        return StagedBlob(self._hash.hexdigest(), self._size, str(self._path))

    def _close(self, sync: bool) -> None:
        if not self._file.closed:
            if sync:
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()

    async def abort(self) -> None:
        self._pieces.clear()
        self._pending = 0
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None and not in_flight.done():
            # A thread cannot be stopped: the file is closed and removed once its write ends.
            in_flight.add_done_callback(lambda _: self._drop())
        else:
            self._drop()

    def _drop(self) -> None:
        self._close(False)
        self._path.unlink(missing_ok=True)


class LocalMediaBackend:
    """Files under ``root``: ``blobs/ab/cd/<sha256>`` and a ``staging`` directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._staging = root / "staging"
        self._blobs = root / "blobs"
        self._staging.mkdir(parents=True, exist_ok=True)
        self._blobs.mkdir(parents=True, exist_ok=True)
        # Staged files of a previous run that never got committed.
        for leftover in self._staging.iterdir():
            leftover.unlink(missing_ok=True)

    def path_of(self, sha256: str) -> Path:
        sha256 = _check_hash(sha256)
        return self._blobs / sha256[0:2] / sha256[2:4] / sha256

    def writer(self) -> BlobWriter:
        return _LocalWriter(self._staging / secrets.token_hex(16))

    def _staged_path(self, staged: StagedBlob) -> Path:
        path = Path(staged.handle)
        if path.parent != self._staging:
            raise ValueError("not a staged file of this backend")
        return path

    async def commit(self, staged: StagedBlob) -> None:
        source = self._staged_path(staged)
        target = self.path_of(staged.sha256)

        def move() -> None:
            if target.exists():
                source.unlink(missing_ok=True)
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)

        await asyncio.to_thread(move)

    async def discard(self, staged: StagedBlob) -> None:
        self._staged_path(staged).unlink(missing_ok=True)

    async def delete(self, sha256: str) -> None:
        path = self.path_of(sha256)

        def remove() -> None:
            path.unlink(missing_ok=True)
            # Drop emptied shard directories so that deletion really frees the tree.
            for parent in (path.parent, path.parent.parent):
                try:
                    parent.rmdir()
                except OSError:
                    break

        await asyncio.to_thread(remove)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path_of(sha256).exists)

    async def read(
        self, sha256: str, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        # Opened here rather than in a thread: a cancelled thread would lose the open file.
        file = self.path_of(sha256).open("rb")
        try:
            if offset:
                await asyncio.to_thread(file.seek, offset)
            remaining = length
            while remaining is None or remaining > 0:
                size = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
                data = await asyncio.to_thread(file.read, size)
                if not data:
                    break
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            file.close()

    def local_path(self, sha256: str) -> Path | None:
        return self.path_of(sha256)
