"""Media benchmark scenario (Client-Server API, "Content repository": ``POST /_matrix/media/v3/
upload`` and the authenticated ``GET /_matrix/client/v1/media/download``).

``media_throughput`` uploads a large file of random bytes (``--media-mib``, 48 MiB by default:
under both servers' default 50M max_upload_size) a few times, one after another, then downloads
it one at a time and ``MEDIA_PARALLEL`` at once, reading every byte. Figures: upload and download
throughput (MiB/s, the median of the rounds; the parallel download counts the bytes of all), the
server's CPU per MiB moved, and the server's memory while it works: the highest RSS sampled every
``SAMPLE_SECONDS`` during the uploads and during the downloads, above its RSS just before (how
much of the file a server holds in memory).
"""

import asyncio
import contextlib
import os
import statistics
import time

import aiohttp

from bench.messaging import BenchError, register_users
from bench.scenarios import MIB, BenchOptions, Figure, Scenario, memory_after_load
from bench.server import ServerHandle

ROUNDS = 3
MEDIA_PARALLEL = 4
SAMPLE_SECONDS = 0.02
TIMEOUT = aiohttp.ClientTimeout(total=600)
READ_CHUNK = 1024 * 1024


class PeakRss:
    """Samples the server's RSS in the background; ``peak`` is the highest seen."""

    def __init__(self, handle: ServerHandle) -> None:
        self._handle = handle
        self.baseline = handle.memory().rss
        self.peak = self.baseline
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self._handle.memory().rss)
            await asyncio.sleep(SAMPLE_SECONDS)

    async def __aenter__(self) -> "PeakRss":
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.peak = max(self.peak, self._handle.memory().rss)

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.baseline) / MIB


async def _upload(session: aiohttp.ClientSession, url: str, token: str, data: bytes) -> str:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    async with session.post(url, data=data, headers=headers) as response:
        body = await response.json(content_type=None)
        if response.status != 200:
            raise BenchError(f"upload: {response.status} {body}")
        return str(body["content_uri"])


async def _download(session: aiohttp.ClientSession, url: str, token: str) -> int:
    """Read the whole body; its length."""
    total = 0
    async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
        if response.status != 200:
            raise BenchError(f"download: {response.status} {await response.text()}")
        async for chunk in response.content.iter_chunked(READ_CHUNK):
            total += len(chunk)
    return total


async def media_throughput(handle: ServerHandle, options: BenchOptions) -> list[Figure]:
    size = options.media_mib * MIB
    data = os.urandom(size)
    (user,) = await register_users(handle, "media", 1)
    await user.close()
    upload_url = handle.base_url + "/_matrix/media/v3/upload"
    cpu_start = handle.cpu_seconds()
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        uploads: list[float] = []
        async with PeakRss(handle) as upload_memory:
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                uri = await _upload(session, upload_url, user.token, data)
                uploads.append(time.perf_counter() - t0)
        upload_cpu = handle.cpu_seconds() - cpu_start
        download_url = (
            handle.base_url + "/_matrix/client/v1/media/download/" + uri.removeprefix("mxc://")
        )
        downloads: list[float] = []
        cpu_start = handle.cpu_seconds()
        async with PeakRss(handle) as download_memory:
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                got = await _download(session, download_url, user.token)
                downloads.append(time.perf_counter() - t0)
                if got != size:
                    raise BenchError(f"download: {got} bytes, not {size}")
            t0 = time.perf_counter()
            sizes = await asyncio.gather(
                *(_download(session, download_url, user.token) for _ in range(MEDIA_PARALLEL))
            )
            parallel = time.perf_counter() - t0
        download_cpu = handle.cpu_seconds() - cpu_start
    if any(s != size for s in sizes):
        raise BenchError(f"parallel downloads: {sizes} bytes, not {size} each")
    mib = options.media_mib
    title = f"media, {mib} MiB file"
    moved_down = mib * (ROUNDS + MEDIA_PARALLEL)
    note = f"{ROUNDS} rounds, median"
    return [
        Figure(
            f"{title}: upload throughput", mib / statistics.median(uploads), "MiB/s", False, note
        ),
        Figure(
            f"{title}: download throughput",
            mib / statistics.median(downloads),
            "MiB/s",
            False,
            note,
        ),
        Figure(
            f"{title}: download throughput, {MEDIA_PARALLEL} at once",
            mib * MEDIA_PARALLEL / parallel,
            "MiB/s",
            False,
            "all bytes of all downloads",
        ),
        Figure(
            f"{title}: server CPU per MiB uploaded",
            upload_cpu / (mib * ROUNDS) * 1000,
            "CPU-ms",
            True,
        ),
        Figure(
            f"{title}: server CPU per MiB downloaded",
            download_cpu / moved_down * 1000,
            "CPU-ms",
            True,
        ),
        Figure(
            f"{title}: RSS peak above baseline, uploading",
            upload_memory.growth_mib,
            "MiB",
            True,
            f"baseline {upload_memory.baseline / MIB:.0f} MiB",
        ),
        Figure(
            f"{title}: RSS peak above baseline, downloading",
            download_memory.growth_mib,
            "MiB",
            True,
            f"baseline {download_memory.baseline / MIB:.0f} MiB; {MEDIA_PARALLEL} at once included",
        ),
    ]


def with_media(scenarios: list[Scenario]) -> list[Scenario]:
    """``scenarios`` with the media scenario before the memory after load (which stays last)."""
    return [
        *(s for s in scenarios if s is not memory_after_load),
        media_throughput,
        *(s for s in scenarios if s is memory_after_load),
    ]
