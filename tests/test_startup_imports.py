"""What a server on SQLite loads at start (Myelin operations; no spec section).

Modules an idle server does not need are imported where first used (docs/operations.md,
"Memory"): asyncpg with a PostgreSQL pool, Pillow with the first image, prometheus_client with
the first ``/metrics`` scrape, html.parser with the first URL preview. Checked in a fresh
interpreter, since this test process has imported them all long ago.
"""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

NOT_AT_START = ["asyncpg", "PIL", "prometheus_client", "html.parser", "difflib", "zipfile"]

_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from myelin.app import listener_app, open_homeserver
from myelin.config import Report, generate_config, load_config

async def start(data_dir: Path) -> dict[str, object]:
    path = data_dir / "homeserver.yaml"
    path.write_text(generate_config("start.example", data_dir, 8008))
    hs = await open_homeserver(load_config(path, Report()))
    try:
        for listener in hs.config.listeners:
            listener_app(hs, listener)
        return {
            "modules": sorted(sys.modules),
            "tls_made": hs.federation._ssl.made,  # a LazyClientContext
        }
    finally:
        await hs.close()

print(json.dumps(asyncio.run(start(Path(sys.argv[1])))))
"""


def test_sqlite_server_starts_without_optional_modules(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=120,
    )
    started = json.loads(result.stdout.decode().splitlines()[-1])
    modules = set(started["modules"])
    assert "myelin.storage.sqlite_engine" in modules  # it did start
    loaded = [m for m in NOT_AT_START if m in modules]
    assert not loaded, f"imported at start: {loaded}"
    # The outbound TLS context (the system trust store) waits for the first federation request.
    assert started["tls_made"] is False
