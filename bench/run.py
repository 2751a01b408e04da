"""``make bench``: Myelin beside Synapse in one run, loopback only (benchmark harness; no spec
section).

For each server in turn, on the same database engine (a fresh SQLite file, or a fresh PostgreSQL
database with ``--engine postgres``): start it on a new data directory and time it until
``GET /health`` answers; let it idle and read its memory and idle CPU; run every scenario of
``bench.scenarios.SCENARIOS``; stop it with SIGTERM and time the shutdown; start it again on the
same data and time that. Then print the comparison and write it into bench/RESULTS.md.

Everything is bounded (request counts, time caps, start and stop time-outs) and every server
process is killed when this program exits, whatever the reason.
"""

import argparse
import asyncio
import datetime
import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from types import FrameType

from bench import federation, measure, myelin, postgres, synapse
from bench.media import with_media
from bench.messaging import ALL_SCENARIOS as LOADS_AND_MESSAGING
from bench.report import ServerRun, comparison_rows, engine_section, machine, merge_results
from bench.report import text_table as render_text
from bench.scenarios import MIB, BenchOptions, Figure, Scenario
from bench.server import Engine, ServerHandle, free_port, stop

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCRATCH = REPO / ".bench"
DEFAULT_RESULTS = REPO / "bench" / "RESULTS.md"
SERVERS = ("myelin", "synapse")
ALL_SCENARIOS = with_media(LOADS_AND_MESSAGING)


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


async def _start(
    kind: str, scratch: Path, data_dir: Path, port: int, engine: Engine, *, fresh: bool
) -> ServerHandle:
    if kind == "myelin":
        return await myelin.start(data_dir, port, engine, fresh=fresh)
    return await synapse.start(scratch, data_dir, port, engine, fresh=fresh)


async def _idle(handle: ServerHandle, seconds: float) -> list[Figure]:
    """Idle memory and CPU after ``seconds`` without requests."""
    cpu_before = handle.cpu_seconds()
    await asyncio.sleep(seconds)
    cpu = handle.cpu_seconds() - cpu_before
    memory = handle.memory()
    return [
        Figure(f"idle {seconds:g} s after start: RSS", memory.rss / MIB, "MiB", True),
        Figure(f"idle {seconds:g} s after start: PSS", memory.pss / MIB, "MiB", True),
        Figure(f"idle {seconds:g} s after start: USS", memory.uss / MIB, "MiB", True),
        Figure(f"idle {seconds:g} s after start: CPU used", cpu, "CPU-s", True),
    ]


def _check_loopback(handle: ServerHandle) -> None:
    """Note (and shout about) any TCP connection of the server to a non-loopback address."""
    for connection in measure.foreign_connections(handle.pid):
        note = f"non-loopback TCP connection seen: {connection}"
        if note not in handle.notes:
            _log(f"WARNING: {handle.name}: {note}")
            handle.notes.append(note)


def _exit_note(handle: ServerHandle) -> None:
    code = handle.process.returncode
    if code not in (0, -signal.SIGTERM):
        handle.notes.append(f"exit status {code} after SIGTERM")


async def bench_server(
    kind: str,
    scratch: Path,
    engine_kind: str,
    options: BenchOptions,
    scenarios: list[Scenario] = ALL_SCENARIOS,
) -> ServerRun:
    """Every figure of one server, on a data directory and database of its own."""
    data_dir = scratch / f"{engine_kind}-{kind}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    engine = (
        postgres.postgres_engine(f"bench_{kind}") if engine_kind == "postgres" else Engine("sqlite")
    )
    port = free_port()
    figures: list[Figure] = []
    notes: list[str] = []
    try:
        _log(f"starting {kind} on 127.0.0.1:{port} ({engine_kind}, data in {data_dir})")
        handle = await _start(kind, scratch, data_dir, port, engine, fresh=True)
        version = handle.version
        _log(f"{version} healthy after {handle.startup_seconds:.2f} s")
        figures.append(
            Figure("startup to healthy, new database", handle.startup_seconds, "s", True)
        )
        try:
            figures += await _idle(handle, options.idle_seconds)
            _check_loopback(handle)
            for scenario in scenarios:
                _log(f"{kind}: {scenario.__name__}")
                figures += await scenario(handle, options)
                _check_loopback(handle)
        finally:
            shutdown = await stop(handle)
        _exit_note(handle)
        notes += handle.notes
        figures.append(Figure("shutdown after SIGTERM", shutdown, "s", True))

        _log(f"restarting {kind} on its existing data")
        again = await _start(kind, scratch, data_dir, port, engine, fresh=False)
        try:
            figures.append(
                Figure("startup to healthy, existing database", again.startup_seconds, "s", True)
            )
        finally:
            await stop(again)
        _exit_note(again)
        notes += again.notes
    finally:
        if engine_kind == "postgres":
            await postgres.drop_database(engine)
    return ServerRun(name=handle.name, version=version, figures=figures, notes=notes)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.decode().strip()


async def main_async(args: argparse.Namespace) -> int:
    scratch: Path = args.scratch
    options = BenchOptions(
        concurrency=args.concurrency,
        requests=args.requests,
        time_cap=args.time_cap,
        warmup=args.warmup,
        idle_seconds=args.idle_seconds,
        senders=args.senders,
        messages=args.messages,
        sync_rounds=args.sync_rounds,
        many_rooms=args.many_rooms,
        media_mib=args.media_mib,
    )
    scenarios = [s for s in ALL_SCENARIOS if not args.only or args.only in s.__name__]
    synapse_version = synapse.ensure_installed(scratch)
    _log(f"Synapse {synapse_version} ready in {scratch / 'synapse-venv'}")
    runs: dict[str, ServerRun] = {}
    for kind in SERVERS:
        runs[kind] = await bench_server(kind, scratch, args.engine, options, scenarios)
    runs["myelin"].version += f" (commit {_git_commit()})"
    # Synapse's own version string names the git commit of the directory it is installed in,
    # which is this checkout; the package version is the one that means something.
    runs["synapse"].version = f"Synapse {synapse_version}"

    rows = comparison_rows(runs["myelin"], runs["synapse"])
    print(render_text(rows))
    settings = (
        f"{options.requests} requests per endpoint (time cap {options.time_cap:g} s) over"
        f" {options.concurrency} keep-alive connections after {options.warmup} warm-up"
        " requests; Python aiohttp load generator on the same cores"
    )
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = engine_section(
        engine=args.engine,
        when=when,
        host=machine(),
        myelin=runs["myelin"],
        synapse=runs["synapse"],
        settings=settings,
    )
    raw = {
        "engine": args.engine,
        "date": when,
        "machine": asdict(machine()),
        "options": asdict(options),
        "runs": {kind: asdict(run) for kind, run in runs.items()},
    }
    (scratch / f"last-{args.engine}.json").write_text(
        json.dumps(raw, indent=2, default=str), encoding="utf-8"
    )
    if args.results is not None:
        existing = args.results.read_text(encoding="utf-8") if args.results.exists() else ""
        args.results.write_text(merge_results(existing, args.engine, section), encoding="utf-8")
        _log(f"wrote {args.results}")
    if args.with_federation:
        await _federation(args)
    return 0


async def _federation(args: argparse.Namespace) -> None:
    """``--with-federation``: the federation figures (on ``--engine``; the peer Synapse on
    SQLite)."""
    _log(f"federation: Myelin, then Synapse, on {args.engine}, each with a peer Synapse (SQLite)")
    commit = _git_commit()
    run = await federation.run_federation(
        args.scratch, args.federation_rounds, args.federation_messages, args.engine
    )
    print(render_text(comparison_rows(run.myelin, run.synapse)))
    federation.save_json(args.scratch, run)
    if args.results is not None:
        section = federation.federation_section(run, machine(), commit)
        federation.write_results(args.results, args.engine, section)
        _log(f"wrote the federation section of {args.results}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark Myelin beside Synapse (installed from PyPI into the scratch"
        " directory) on loopback, and write the comparison to bench/RESULTS.md.",
    )
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--requests", type=int, default=20000, help="requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent connections")
    parser.add_argument("--time-cap", type=float, default=30.0, help="seconds per endpoint")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests first")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--senders", type=int, default=16, help="users sending into one room")
    parser.add_argument("--messages", type=int, default=3000, help="messages sent in all")
    parser.add_argument("--sync-rounds", type=int, default=200, help="/sync wake-up rounds")
    parser.add_argument("--many-rooms", type=int, default=200, help="rooms for initial /sync")
    parser.add_argument("--media-mib", type=int, default=48, help="media file size, MiB")
    parser.add_argument(
        "--only", default="", help="run only the scenarios whose name contains this"
    )
    parser.add_argument(
        "--with-federation",
        action="store_true",
        help="then the federation figures (bench.federation, on --engine, with a peer Synapse"
        " on SQLite; about two minutes more)",
    )
    parser.add_argument(
        "--federation-rounds", type=int, default=30, help="federation latency rounds each way"
    )
    parser.add_argument(
        "--federation-messages", type=int, default=300, help="PDUs for the inbound figure"
    )
    parser.add_argument("--scratch", type=Path, default=DEFAULT_SCRATCH)
    parser.add_argument(
        "--results", type=Path, default=DEFAULT_RESULTS, help="the Markdown file to update"
    )
    parser.add_argument(
        "--no-results",
        dest="results",
        action="store_const",
        const=None,
        help="print only; leave RESULTS.md alone",
    )
    return parser


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through every `finally`, and atexit kills what is still running.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in (
        "requests",
        "concurrency",
        "warmup",
        "senders",
        "messages",
        "sync_rounds",
        "many_rooms",
        "federation_rounds",
        "federation_messages",
    ):
        if getattr(args, name) < (0 if name == "warmup" else 1):
            build_parser().error(f"--{name} is too small")
    if args.time_cap <= 0 or args.idle_seconds < 0:
        build_parser().error("--time-cap must be positive and --idle-seconds not negative")
    args.scratch = args.scratch.resolve()
    args.scratch.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.perf_counter()
    try:
        return asyncio.run(main_async(args))
    finally:
        # Anything still running after an error is killed by bench.server's atexit handler.
        _log(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
