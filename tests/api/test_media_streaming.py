"""Uploads are streamed (Client-Server API, "Content repository", ``POST /upload``): the
server never holds a whole upload in memory. Python's allocations are traced while a large
file goes up over HTTP; their peak stays a small fraction of the file's size."""

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

from tests.api.account_support import auth_header
from tests.api.conftest import ServeFn
from tests.api.media_support import MEDIA, download, media_server

MIB = 1024 * 1024
SIZE = 40 * MIB
PIECE = 256 * 1024


def _piece(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (PIECE // 32)


async def test_a_large_upload_is_never_held_in_memory(serve: ServeFn, tmp_path: Path) -> None:
    client, token = await media_server(serve, max_upload_size="64M")
    # Sixteen distinct pieces, made before tracing starts, sent again and again.
    pieces = [_piece(i) for i in range(16)]
    expected = hashlib.sha256()
    for i in range(SIZE // PIECE):
        expected.update(pieces[i % 16])

    async def body() -> AsyncIterator[bytes]:
        for i in range(SIZE // PIECE):
            yield pieces[i % 16]
            await asyncio.sleep(0)

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        response = await client.post(
            f"{MEDIA}/upload",
            data=body(),
            headers={**auth_header(token), "Content-Type": "application/octet-stream"},
        )
        assert response.status == 200, await response.text()
        uri = (await response.json())["content_uri"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Client and server share this process: both sides' buffers count, and still stay far
    # below the 40 MiB sent (a server reading the body whole would need all of it at once).
    assert peak - baseline < 8 * MIB, f"peak {(peak - baseline) / MIB:.1f} MiB"
    # The bytes arrived whole, in the content-addressed file.
    digest = expected.hexdigest()
    stored = tmp_path / "media_store" / "blobs" / digest[:2] / digest[2:4] / digest
    assert stored.stat().st_size == SIZE
    got = await download(client, token, uri, headers={"Range": f"bytes={SIZE - 10}-"})
    assert got.status == 206 and await got.read() == pieces[(SIZE // PIECE - 1) % 16][-10:]
