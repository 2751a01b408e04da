"""Rate-limit and request-size options (spec: Client-Server API, "Rate limiting"; Synapse's names).

Synapse's ``rc_*`` options, each a mapping ``{per_second, burst_count}`` (or a mapping of such
mappings, like ``rc_login.address``) with Synapse's defaults; a key left out keeps its default,
as in Synapse. ``rc_federation`` has its own shape. ``ratelimiting`` is Myelin's switch and
exemption list, and ``max_request_size`` bounds every request body. The fields are declared
on ``HomeserverConfig`` with the helpers below so that each option is one short declaration.
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from myelin.config.schema import option

# Synapse limits request bodies to 200 PDUs of 64 KiB (about 12.5 MiB).
DEFAULT_MAX_REQUEST_SIZE = 200 * 65536

_LIMIT_KEYS = ("per_second", "burst_count")
_FEDERATION_DEFAULTS = {
    "window_size": 1000,
    "sleep_limit": 10,
    "sleep_delay": 500,
    "reject_limit": 50,
    "concurrent": 3,
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _limit(raw: Any, defaults: Mapping[str, float], where: str) -> dict[str, float]:
    """One ``{per_second, burst_count}`` mapping, missing keys taken from ``defaults``."""
    if raw is None:
        return dict(defaults)
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected a mapping{where} with per_second and burst_count")
    unknown = sorted(str(k) for k in raw if k not in _LIMIT_KEYS)
    if unknown:
        expected = "expected per_second or burst_count"
        raise ValueError(f"unknown key{where} {', '.join(unknown)} ({expected})")
    per_second = _number(raw.get("per_second", defaults["per_second"]))
    if per_second is None or per_second <= 0:
        raise ValueError(f"expected per_second{where} to be a number above 0")
    burst = _number(raw.get("burst_count", defaults["burst_count"]))
    if burst is None or burst < 1:
        raise ValueError(f"expected burst_count{where} to be a number of at least 1")
    # Synapse truncates burst_count to an integer.
    return {"per_second": per_second, "burst_count": float(int(burst))}


def rate_limit_option(per_second: float, burst_count: int, doc: str) -> Any:
    """An ``rc_*`` option: ``{per_second, burst_count}`` with these defaults."""
    defaults = {"per_second": per_second, "burst_count": burst_count}
    return option(
        default_factory=lambda: dict(defaults),
        doc=f"{doc} Keys left out keep their default.",
        fix="use a mapping such as {per_second: 0.5, burst_count: 10}",
        convert=lambda raw: _limit(raw, defaults, ""),
        type_name="rate limit {per_second, burst_count}",
    )


def optional_rate_limit_option(doc: str, example: Mapping[str, float]) -> Any:
    """An ``rc_*`` option that is unset by default (another limit applies instead)."""
    defaults = dict(example)
    return option(
        None,
        doc=doc,
        fix="use a mapping such as {per_second: 1, burst_count: 50}",
        convert=lambda raw: None if raw is None else _limit(raw, defaults, ""),
        type_name="rate limit {per_second, burst_count} (optional)",
        example=dict(example),
    )


def grouped_rate_limit_option(defaults: Mapping[str, tuple[float, int]], doc: str) -> Any:
    """An option like ``rc_login``: a mapping of named ``{per_second, burst_count}`` limits."""
    limits = {
        name: {"per_second": per_second, "burst_count": burst}
        for name, (per_second, burst) in defaults.items()
    }

    def convert(raw: Any) -> dict[str, dict[str, float]]:
        if not isinstance(raw, Mapping):
            raise ValueError(f"expected a mapping with {', '.join(limits)}")
        unknown = sorted(str(k) for k in raw if k not in limits)
        if unknown:
            raise ValueError(f"unknown key {', '.join(unknown)} (expected {', '.join(limits)})")
        return {name: _limit(raw.get(name), limits[name], f" in {name}") for name in limits}

    return option(
        default_factory=lambda: {name: dict(limit) for name, limit in limits.items()},
        doc=f"{doc} Keys left out keep their default.",
        fix=f"use a mapping of {', '.join(limits)} to {{per_second, burst_count}}",
        convert=convert,
        type_name="mapping of rate limits",
    )


def _federation(raw: Any) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected a mapping with {', '.join(_FEDERATION_DEFAULTS)}")
    unknown = sorted(str(k) for k in raw if k not in _FEDERATION_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown key {', '.join(unknown)}")
    result = {}
    for name, default in _FEDERATION_DEFAULTS.items():
        value = raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected {name} to be a positive integer")
        result[name] = value
    return result


def federation_option() -> Any:
    return option(
        default_factory=lambda: dict(_FEDERATION_DEFAULTS),
        doc="Limits on requests from each other server: window_size (ms) is the sliding"
        " window; past sleep_limit requests in it, each waits sleep_delay ms; at most"
        " concurrent requests are processed at once, the others wait; more than reject_limit"
        " waiting or running are refused with 429. Keys left out keep their default.",
        fix="use a mapping of window_size, sleep_limit, sleep_delay, reject_limit, concurrent",
        convert=_federation,
        type_name="mapping of string to integer",
    )


_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE_RE = re.compile(r"\s*(\d+)\s*([KMGT]?)B?\s*", re.IGNORECASE)


def parse_size(value: Any) -> int:
    """A size in bytes: an integer, or a string with Synapse's suffixes K, M, G, T (1024s)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError("expected a positive size")
        return value
    if isinstance(value, str):
        match = _SIZE_RE.fullmatch(value)
        if match is not None and int(match.group(1)) > 0:
            return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]
    raise ValueError("expected a size: bytes, or a number with K, M, G or T (e.g. 10M)")


def size_option(default: int, doc: str) -> Any:
    return option(
        default,
        doc=doc,
        fix="use a size such as 12M or 13107200",
        convert=parse_size,
        type_name="size",
    )


def _user_ids_check(users: tuple[str, ...]) -> str | None:
    bad = [u for u in users if not (u.startswith("@") and ":" in u)]
    return f"expected user IDs such as @admin:example.org ({bad[0]})" if bad else None


@dataclass(frozen=True)
class RatelimitingConfig:
    """``ratelimiting``: Myelin's switch over every rc_* limit."""

    enabled: bool = option(
        True,
        doc="Whether the rc_* limits apply. false lifts every limit (a warning is logged at"
        " start); only for tests and closed deployments.",
    )
    exempt_users: tuple[str, ...] = option(
        (),
        doc="Users never rate limited (e.g. bots and bridges).",
        fix="list full user IDs such as @bot:example.org",
        check=_user_ids_check,
        example=["@bot:example.org"],
    )
