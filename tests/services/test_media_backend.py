"""The local media backend's staging writer (Client-Server API, "Content repository"; server
internals): an upload streamed in pieces is hashed and written in order, reaches the disk
before it ends, and leaves nothing behind when aborted."""

import asyncio
import hashlib
import random
from pathlib import Path

from myelin.services.media.backend import FLUSH_SIZE, LocalMediaBackend


def _pieces(total: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    pieces: list[bytes] = []
    size = 0
    while size < total:
        piece = rng.randbytes(rng.randint(1, 300_000))
        pieces.append(piece)
        size += len(piece)
    return pieces


async def test_pieces_of_any_size_are_hashed_and_written_in_order(tmp_path: Path) -> None:
    backend = LocalMediaBackend(tmp_path)
    pieces = _pieces(5 * FLUSH_SIZE + 12345, seed=1)
    body = b"".join(pieces)
    writer = backend.writer()
    for piece in pieces:
        await writer.write(piece)
        await writer.write(b"")
    assert writer.size == len(body)
    staged = await writer.finish()
    assert staged.sha256 == hashlib.sha256(body).hexdigest()
    assert staged.size == len(body)
    await backend.commit(staged)
    assert backend.path_of(staged.sha256).read_bytes() == body
    assert not list((tmp_path / "staging").iterdir())
    read = b"".join([chunk async for chunk in backend.read(staged.sha256, 100, 2 * FLUSH_SIZE)])
    assert read == body[100 : 100 + 2 * FLUSH_SIZE]


async def test_an_empty_upload(tmp_path: Path) -> None:
    backend = LocalMediaBackend(tmp_path)
    staged = await backend.writer().finish()
    assert (staged.sha256, staged.size) == (hashlib.sha256(b"").hexdigest(), 0)


async def test_the_bytes_reach_the_disk_while_the_upload_goes_on(tmp_path: Path) -> None:
    backend = LocalMediaBackend(tmp_path)
    writer = backend.writer()
    piece = b"x" * (FLUSH_SIZE // 4)
    for _ in range(12):
        await writer.write(piece)
    # Three batches handed over; starting the third waited for the first two.
    (staging_file,) = (tmp_path / "staging").iterdir()
    assert staging_file.stat().st_size >= 2 * FLUSH_SIZE
    staged = await writer.finish()
    assert staged.size == 3 * FLUSH_SIZE


async def test_an_abort_with_a_write_in_flight_leaves_nothing(tmp_path: Path) -> None:
    backend = LocalMediaBackend(tmp_path)
    writer = backend.writer()
    await writer.write(b"y" * (2 * FLUSH_SIZE))  # handed to a worker thread, not awaited
    await writer.abort()
    for _ in range(200):
        if not list((tmp_path / "staging").iterdir()):
            break
        await asyncio.sleep(0.01)
    assert not list((tmp_path / "staging").iterdir())
    assert not list((tmp_path / "blobs").iterdir())
