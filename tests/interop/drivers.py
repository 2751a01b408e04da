"""Running the scenario through each client library (test harness; no spec section).

``run_nio`` plays it in this process with matrix-nio; ``run_js`` runs ``js/scenario.mjs`` under
Node with matrix-js-sdk (installed by ``make interop-deps``) and reads the JSON line it prints.
Both are bounded in time and give the facts observed and the steps that failed (with what the
server answered); ``check`` turns those into one assertion against ``facts.EXPECTED``.
"""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import uuid
from pathlib import Path
from typing import Any

from tests.interop import scenario_nio
from tests.interop.facts import EXPECTED
from tests.interop.scenario_nio import ScenarioError

JS_DIR = Path(__file__).resolve().parent / "js"
SCENARIO_SECONDS = 240.0


def new_tag() -> str:
    """A suffix making this run's user names unique on a server that outlives the run."""
    return uuid.uuid4().hex[:8]


Outcome = tuple[dict[str, Any], list[str]]


def check(outcome: Outcome) -> None:
    """Fail with every failed step and every fact that differs from ``EXPECTED``."""
    observed, failures = outcome
    report = list(failures)
    for key, expected in EXPECTED.items():
        got = observed.get(key, "(not observed)")
        if got != expected:
            report.append(f"fact {key}: expected {expected!r}, observed {got!r}")
    report += [f"unexpected fact {key}" for key in observed.keys() - EXPECTED.keys()]
    assert not report, "\n".join(report)


async def run_nio(base_url: str) -> Outcome:
    """What matrix-nio observes against ``base_url``."""
    return await asyncio.wait_for(scenario_nio.run(base_url, new_tag()), SCENARIO_SECONDS)


async def run_node_scenario(
    script: str, base_url: str, required: str
) -> tuple[dict[str, Any], str]:
    """Run ``script`` (in tests/interop/js) against ``base_url`` in its own process group, killed
    on timeout; return its last JSON line and the tail of its stderr. ``required`` is the
    node_modules package whose absence means `make interop-deps` has not run."""
    node = shutil.which("node")
    if node is None:
        raise ScenarioError("node is not installed (Node 20 or later is needed)")
    if not (JS_DIR / "node_modules" / required).is_dir():
        raise ScenarioError(f"{required} is not installed: run `make interop-deps`")
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS_DIR / script),
        base_url,
        new_tag(),
        cwd=JS_DIR,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), SCENARIO_SECONDS)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    lines = stdout.decode(errors="replace").strip().splitlines()
    tail = "\n".join(stderr.decode(errors="replace").splitlines()[-20:])
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise ScenarioError(
            f"node exited {process.returncode} without a result; stderr:\n{tail}"
        ) from None
    return result, tail


async def run_js(base_url: str) -> Outcome:
    """What matrix-js-sdk observes against ``base_url`` (Node subprocess)."""
    result, tail = await run_node_scenario("scenario.mjs", base_url, "matrix-js-sdk")
    observed: dict[str, Any] = result.get("facts", {})
    if "error" not in result:
        return observed, []
    exchanges = json.dumps(result.get("requests", []), indent=1, ensure_ascii=False)
    return observed, [f"{result['error']}\nlast HTTP exchanges:\n{exchanges}\nstderr:\n{tail}"]
