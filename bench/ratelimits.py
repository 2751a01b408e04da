"""Lifting Synapse-style ``rc_*`` rate limits for a benchmark deployment (benchmark harness; no
spec section).

Both servers read Synapse's shapes: a limiter is ``{per_second, burst_count}``, a group of them
is a mapping of such limiters (``rc_login: {address: {...}, account: {...}}``, written here as
dotted paths ``rc_login.address``), and ``rc_federation`` has its own keys. Limits are raised
rather than switched off, so that the servers still run their limiter code as a deployment does.
"""

import copy
from collections.abc import Iterable
from typing import Any

UNLIMITED = 1_000_000

UNLIMITED_FEDERATION = {
    "window_size": 1000,
    "sleep_limit": UNLIMITED,
    "sleep_delay": 1,
    "reject_limit": UNLIMITED,
    "concurrent": UNLIMITED,
}


def _limiter() -> dict[str, int]:
    return {"per_second": UNLIMITED, "burst_count": UNLIMITED}


def _set_dotted(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = value


def limiter_paths(config: dict[str, Any]) -> list[str]:
    """The dotted paths of the limiters in ``config`` (top-level ``rc_*`` keys)."""
    paths = []
    for key, value in config.items():
        if not key.startswith("rc_") or key == "rc_federation" or not isinstance(value, dict):
            continue
        if "per_second" in value or "burst_count" in value:
            paths.append(key)
        else:
            paths += [f"{key}.{sub}" for sub, limiter in value.items() if isinstance(limiter, dict)]
    return paths


def lift(config: dict[str, Any], paths: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of ``config`` with every limiter in it, and those named by ``paths``, unlimited."""
    lifted = copy.deepcopy(config)
    for path in [*limiter_paths(config), *paths]:
        _set_dotted(lifted, path, _limiter())
    lifted["rc_federation"] = dict(UNLIMITED_FEDERATION)
    return lifted
