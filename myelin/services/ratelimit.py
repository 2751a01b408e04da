"""Rate limiting (spec: Client-Server API, "Rate limiting"; Synapse's rc_* option names).

Two limiters, both driven by an injected ``Clock``:

- ``RateLimiter``: one token bucket per (action, key). An action is a named limit (the Synapse
  option that configures it, e.g. ``rc_message`` or ``rc_login.address``); a key is who is
  limited (a user ID, a client IP, a server name). A bucket holds ``burst_count`` tokens and
  refills at ``per_second``; an action spends one token (or ``cost``). Refused actions raise
  ``M_LIMIT_EXCEEDED`` (429) with ``retry_after_ms``. Memory is bounded: a bucket that has
  refilled completely is the same as no bucket and is dropped by a periodic sweep, and past
  ``max_buckets`` the least recently used buckets are dropped.
- ``FederationRateLimiter``: Synapse's ``rc_federation`` shape for requests from one origin
  server: a sliding window of ``window_size`` ms, a delay of ``sleep_delay`` ms for requests past
  ``sleep_limit`` in the window, at most ``concurrent`` requests processed at once (the rest
  wait), and more than ``reject_limit`` waiting or running refused with 429.
"""

import asyncio
import math
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from myelin.clock import Clock
from myelin.config import HomeserverConfig
from myelin.services.errors import MatrixError

# The named limits, after the Synapse options that configure them.
MESSAGE = "rc_message"
REGISTRATION = "rc_registration"
LOGIN_ADDRESS = "rc_login.address"
LOGIN_ACCOUNT = "rc_login.account"
LOGIN_FAILED_ATTEMPTS = "rc_login.failed_attempts"
ADMIN_REDACTION = "rc_admin_redaction"
JOINS_LOCAL = "rc_joins.local"
JOINS_REMOTE = "rc_joins.remote"
INVITES_PER_ROOM = "rc_invites.per_room"
INVITES_PER_USER = "rc_invites.per_user"
INVITES_PER_ISSUER = "rc_invites.per_issuer"
THREEPID_VALIDATION = "rc_3pid_validation"
PRESENCE_PER_USER = "rc_presence.per_user"
DELAYED_EVENT_MGMT = "rc_delayed_event_mgmt"
ROOM_CREATION = "rc_room_creation"
REPORTS = "rc_reports"
MEDIA_CREATE = "rc_media_create"
# Endpoints declaring this limit go through the FederationRateLimiter, keyed by origin.
FEDERATION = "rc_federation"


# Token arithmetic is in floats: differences below this are rounding, not spent tokens.
_EPSILON = 1e-9


@dataclass(frozen=True)
class RateLimit:
    """One token-bucket limit: ``burst_count`` actions at once, refilled at ``per_second``."""

    per_second: float
    burst_count: float

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second)):
            raise ValueError("per_second must be a positive number")
        if not (self.burst_count >= 1 and math.isfinite(self.burst_count)):
            raise ValueError("burst_count must be at least 1")


@dataclass(frozen=True)
class Decision:
    """Whether an action may happen now; if not, how long until it may (milliseconds)."""

    allowed: bool
    retry_after_ms: int = 0


def limit_exceeded(retry_after_ms: int) -> MatrixError:
    """The standard 429 ``M_LIMIT_EXCEEDED`` error (the HTTP layer adds ``Retry-After``)."""
    return MatrixError(429, "M_LIMIT_EXCEEDED", "Too many requests", retry_after_ms=retry_after_ms)


class _Bucket:
    """How full a bucket is (``level`` tokens spent) as of ``updated`` (monotonic seconds)."""

    __slots__ = ("level", "updated")

    def __init__(self, level: float, updated: float) -> None:
        self.level = level
        self.updated = updated


class RateLimiter:
    """Token buckets keyed by (action, key), for the limits it is given.

    ``enabled=False`` allows everything (and keeps no buckets). Keys in ``exempt`` (user IDs)
    are never limited. An action with no configured limit is never limited: ``knows`` tells
    whether an action is configured.
    """

    def __init__(
        self,
        clock: Clock,
        limits: Mapping[str, RateLimit],
        *,
        enabled: bool = True,
        exempt: Collection[str] = (),
        max_buckets: int = 100_000,
        sweep_interval: float = 60.0,
    ) -> None:
        if max_buckets < 1:
            raise ValueError("max_buckets must be at least 1")
        self._clock = clock
        self._limits = dict(limits)
        self.enabled = enabled
        self._exempt = frozenset(exempt)
        self._max_buckets = max_buckets
        self._sweep_interval = sweep_interval
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._last_sweep = clock.monotonic()

    def knows(self, action: str) -> bool:
        return action in self._limits

    def limit(self, action: str) -> RateLimit | None:
        return self._limits.get(action)

    def __len__(self) -> int:
        """How many buckets are held (for tests and metrics)."""
        return len(self._buckets)

    def check(self, action: str, key: str, *, cost: float = 1.0, update: bool = True) -> Decision:
        """Whether ``key`` may do ``action`` now; spend ``cost`` tokens when allowed and
        ``update`` (``update=False`` only asks)."""
        limit = self._limits.get(action)
        if not self.enabled or limit is None or key in self._exempt:
            return Decision(True)
        now = self._clock.monotonic()
        self._maybe_sweep(now)
        bucket = self._buckets.get((action, key))
        level = 0.0
        if bucket is not None:
            # Refill: the spent level drains at per_second since the last update.
            level = max(0.0, bucket.level - (now - bucket.updated) * limit.per_second)
            if level <= _EPSILON:
                level = 0.0
        # An action costing more than the whole burst may still happen from an unused bucket.
        if level + cost <= limit.burst_count + _EPSILON or level <= _EPSILON:
            if update:
                if bucket is None:
                    self._buckets[(action, key)] = _Bucket(level + cost, now)
                    self._evict_over_capacity()
                else:
                    bucket.level = level + cost
                    bucket.updated = now
                    self._buckets.move_to_end((action, key))
            return Decision(True)
        # Until the level has drained to burst_count - cost (to empty for oversized actions).
        wait = (level - max(0.0, limit.burst_count - cost)) / limit.per_second
        return Decision(False, max(1, math.ceil(wait * 1000)))

    def ratelimit(self, action: str, key: str, *, cost: float = 1.0, update: bool = True) -> None:
        """Like ``check``, raising ``M_LIMIT_EXCEEDED`` (429) when the action is refused."""
        decision = self.check(action, key, cost=cost, update=update)
        if not decision.allowed:
            raise limit_exceeded(decision.retry_after_ms)

    def _maybe_sweep(self, now: float) -> None:
        if now - self._last_sweep >= self._sweep_interval:
            self.sweep()

    def sweep(self) -> int:
        """Drop every bucket that has refilled completely; return how many were dropped."""
        now = self._clock.monotonic()
        self._last_sweep = now
        drained = [
            bucket_key
            for bucket_key, bucket in self._buckets.items()
            if bucket.level - (now - bucket.updated) * self._rate(bucket_key[0]) <= _EPSILON
        ]
        for bucket_key in drained:
            del self._buckets[bucket_key]
        return len(drained)

    def _rate(self, action: str) -> float:
        limit = self._limits.get(action)
        return limit.per_second if limit is not None else math.inf

    def _evict_over_capacity(self) -> None:
        if len(self._buckets) <= self._max_buckets:
            return
        self.sweep()
        while len(self._buckets) > self._max_buckets:
            # Least recently used first.
            self._buckets.popitem(last=False)


# How often (seconds) the federation limiter drops the state of idle origins.
_SWEEP_INTERVAL = 60.0


@dataclass(frozen=True)
class FederationLimits:
    """Synapse's ``rc_federation`` (milliseconds and request counts)."""

    window_size: int = 1000
    sleep_limit: int = 10
    sleep_delay: int = 500
    reject_limit: int = 50
    concurrent: int = 3


@dataclass
class _Origin:
    starts: deque[float] = field(default_factory=deque)
    pending: int = 0
    running: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)


class FederationRateLimiter:
    """Limits concurrent and bursty requests from each origin server (``rc_federation``)."""

    def __init__(self, clock: Clock, limits: FederationLimits, *, enabled: bool = True) -> None:
        self._clock = clock
        self._limits = limits
        self.enabled = enabled
        self._origins: dict[str, _Origin] = {}
        self._last_sweep = clock.monotonic()

    def __len__(self) -> int:
        """How many origins have state (requests in the window, waiting or running)."""
        return len(self._origins)

    @asynccontextmanager
    async def request(self, origin: str) -> AsyncIterator[None]:
        """Hold a slot for one request from ``origin`` while the body of the ``async with`` runs.

        Raise ``M_LIMIT_EXCEEDED`` when ``reject_limit`` requests are already waiting or running.
        """
        if not self.enabled:
            yield
            return
        limits = self._limits
        now = self._clock.monotonic()
        if now - self._last_sweep >= _SWEEP_INTERVAL:
            self.sweep()
        state = self._origins.setdefault(origin, _Origin())
        # 1. Forget request starts that have left the window.
        while state.starts and state.starts[0] <= now - limits.window_size / 1000:
            state.starts.popleft()
        # 2. Too many requests in flight: reject.
        if state.pending >= limits.reject_limit:
            self._forget_if_idle(origin, state)
            raise limit_exceeded(limits.window_size)
        state.starts.append(now)
        state.pending += 1
        try:
            # 3. Past sleep_limit requests in the window: delay this one.
            if len(state.starts) > limits.sleep_limit:
                await self._clock.sleep(limits.sleep_delay / 1000)
            # 4. At most `concurrent` requests run at once; the others queue in arrival order.
            if state.running >= limits.concurrent or state.waiters:
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                state.waiters.append(waiter)
                try:
                    await waiter
                except BaseException:
                    if waiter in state.waiters:
                        state.waiters.remove(waiter)
                    elif waiter.done() and not waiter.cancelled():
                        # Woken just as we were cancelled: give the slot back and pass it on.
                        state.running -= 1
                        self._wake_next(state)
                    raise
            else:
                state.running += 1
            try:
                yield
            finally:
                state.running -= 1
                self._wake_next(state)
        finally:
            state.pending -= 1
            self._forget_if_idle(origin, state)

    @staticmethod
    def _wake_next(state: _Origin) -> None:
        while state.waiters:
            waiter = state.waiters.popleft()
            if not waiter.done():
                # The slot passes directly to the waiter.
                state.running += 1
                waiter.set_result(None)
                return

    def _forget_if_idle(self, origin: str, state: _Origin) -> None:
        now = self._clock.monotonic()
        while state.starts and state.starts[0] <= now - self._limits.window_size / 1000:
            state.starts.popleft()
        if not state.pending and not state.starts and self._origins.get(origin) is state:
            del self._origins[origin]

    def sweep(self) -> None:
        """Drop the state of every origin with nothing in its window or in flight."""
        self._last_sweep = self._clock.monotonic()
        for origin, state in list(self._origins.items()):
            self._forget_if_idle(origin, state)


def _grouped(prefix: str, groups: Mapping[str, Mapping[str, float]]) -> dict[str, RateLimit]:
    return {
        f"{prefix}.{name}": RateLimit(limit["per_second"], limit["burst_count"])
        for name, limit in groups.items()
    }


def redaction_action(limiter: RateLimiter, *, by_room_admin: bool) -> str:
    """The limit a redaction counts against: ``rc_admin_redaction`` for room admins when it is
    configured, else ``rc_message`` (the same buckets as their messages, as in Synapse)."""
    return ADMIN_REDACTION if by_room_admin and limiter.knows(ADMIN_REDACTION) else MESSAGE


def limits_from_config(config: HomeserverConfig) -> dict[str, RateLimit]:
    """Every token-bucket limit by action name, from the rc_* options (``rc_admin_redaction``
    only when set: see ``redaction_action``)."""

    def single(values: Mapping[str, float]) -> RateLimit:
        return RateLimit(values["per_second"], values["burst_count"])

    optional = {}
    if config.rc_admin_redaction is not None:
        optional[ADMIN_REDACTION] = single(config.rc_admin_redaction)
    return {
        MESSAGE: single(config.rc_message),
        REGISTRATION: single(config.rc_registration),
        **_grouped("rc_login", config.rc_login),
        **optional,
        **_grouped("rc_joins", config.rc_joins),
        **_grouped("rc_invites", config.rc_invites),
        THREEPID_VALIDATION: single(config.rc_3pid_validation),
        **_grouped("rc_presence", config.rc_presence),
        DELAYED_EVENT_MGMT: single(config.rc_delayed_event_mgmt),
        ROOM_CREATION: single(config.rc_room_creation),
        REPORTS: single(config.rc_reports),
        MEDIA_CREATE: single(config.rc_media_create),
    }


def ratelimiters_from_config(
    config: HomeserverConfig, clock: Clock
) -> tuple[RateLimiter, FederationRateLimiter]:
    """The limiters the configuration asks for (``ratelimiting.enabled: false`` lifts all)."""
    enabled = config.ratelimiting.enabled
    limiter = RateLimiter(
        clock,
        limits_from_config(config),
        enabled=enabled,
        exempt=config.ratelimiting.exempt_users,
    )
    federation = FederationRateLimiter(
        clock, FederationLimits(**config.rc_federation), enabled=enabled
    )
    return limiter, federation
