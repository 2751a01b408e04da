"""The token-bucket and federation rate limiters, driven by a clock the tests move."""

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from myelin.config import ConfigError, parse_config
from myelin.services.errors import MatrixError
from myelin.services.ratelimit import (
    ADMIN_REDACTION,
    DELAYED_EVENT_MGMT,
    INVITES_PER_ISSUER,
    INVITES_PER_ROOM,
    INVITES_PER_USER,
    JOINS_LOCAL,
    JOINS_REMOTE,
    LOGIN_ACCOUNT,
    LOGIN_ADDRESS,
    LOGIN_FAILED_ATTEMPTS,
    MEDIA_CREATE,
    MESSAGE,
    PRESENCE_PER_USER,
    REGISTRATION,
    REPORTS,
    ROOM_CREATION,
    THREEPID_VALIDATION,
    Decision,
    FederationLimits,
    FederationRateLimiter,
    RateLimit,
    RateLimiter,
    limits_from_config,
    ratelimiters_from_config,
    redaction_action,
)


class Clock:
    """Monotonic time that moves only when told; ``sleep`` records and advances."""

    def __init__(self) -> None:
        self.mono = 100.0
        self.slept: list[float] = []

    def now_ms(self) -> int:
        return int(self.mono * 1000)

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.mono += seconds
        await asyncio.sleep(0)


def _limiter(clock: Clock, **kwargs: Any) -> RateLimiter:
    limits = {"act": RateLimit(per_second=1, burst_count=3), "slow": RateLimit(0.1, 1)}
    return RateLimiter(clock, limits, **kwargs)


def test_burst_then_refused_with_retry_after() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    assert [limiter.check("act", "@a:x").allowed for _ in range(3)] == [True] * 3
    assert limiter.check("act", "@a:x") == Decision(False, 1000)
    # A refused action spends nothing: asking again gives the same answer.
    assert limiter.check("act", "@a:x") == Decision(False, 1000)


def test_refill_at_per_second() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    for _ in range(3):
        limiter.ratelimit("act", "k")
    clock.mono += 0.25
    assert limiter.check("act", "k") == Decision(False, 750)
    clock.mono += 0.75
    assert limiter.check("act", "k").allowed
    assert not limiter.check("act", "k").allowed
    # After two seconds' rest, two more (not three: the bucket had one spent).
    clock.mono += 2
    assert [limiter.check("act", "k").allowed for _ in range(3)] == [True, True, False]
    # A long rest refills up to burst_count, never beyond.
    clock.mono += 1000
    assert [limiter.check("act", "k").allowed for _ in range(4)] == [True] * 3 + [False]


def test_retry_after_is_rounded_up_and_positive() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    limiter.ratelimit("slow", "k")
    clock.mono += 9.9999
    decision = limiter.check("slow", "k")
    assert not decision.allowed and decision.retry_after_ms == 1


def test_keys_and_actions_are_isolated() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    for _ in range(3):
        limiter.ratelimit("act", "@a:x")
    assert not limiter.check("act", "@a:x").allowed
    assert limiter.check("act", "@b:x").allowed
    assert limiter.check("act", "10.0.0.1").allowed
    assert limiter.check("slow", "@a:x").allowed
    assert not limiter.check("slow", "@a:x").allowed
    assert limiter.check("act", "@b:x").allowed


def test_update_false_only_asks_and_cost_spends_more() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    for _ in range(5):
        assert limiter.check("act", "k", update=False).allowed
    assert limiter.check("act", "k", cost=2).allowed
    assert not limiter.check("act", "k", cost=2).allowed
    assert limiter.check("act", "k", cost=1).allowed
    clock.mono += 10
    # An action costing more than the burst happens only from an unused bucket.
    assert limiter.check("act", "k", cost=5).allowed
    assert limiter.check("act", "k", cost=5) == Decision(False, 5000)


def test_ratelimit_raises_limit_exceeded() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    limiter.ratelimit("slow", "k")
    with pytest.raises(MatrixError) as e:
        limiter.ratelimit("slow", "k")
    assert e.value.status == 429
    assert e.value.errcode == "M_LIMIT_EXCEEDED"
    assert e.value.to_json() == {
        "errcode": "M_LIMIT_EXCEEDED",
        "error": "Too many requests",
        "retry_after_ms": 10_000,
    }


def test_disabled_exempt_and_unknown_actions_are_not_limited() -> None:
    clock = Clock()
    disabled = _limiter(clock, enabled=False)
    assert all(disabled.check("slow", "k").allowed for _ in range(100))
    assert len(disabled) == 0
    exempt = _limiter(clock, exempt=["@bot:x"])
    assert all(exempt.check("slow", "@bot:x").allowed for _ in range(100))
    exempt.ratelimit("slow", "@human:x")
    assert not exempt.check("slow", "@human:x").allowed
    assert exempt.check("no such action", "k").allowed
    assert exempt.knows("slow") and not exempt.knows("no such action")
    assert exempt.limit("slow") == RateLimit(0.1, 1)


def test_refilled_buckets_are_swept() -> None:
    clock = Clock()
    limiter = _limiter(clock, sweep_interval=60)
    for n in range(50):
        limiter.ratelimit("act", f"user{n}")
    limiter.ratelimit("slow", "kept")
    assert len(limiter) == 51
    clock.mono += 1  # "act" buckets hold 1 token spent: 1 s to refill completely
    assert limiter.sweep() == 50
    assert len(limiter) == 1  # the "slow" bucket still needs 9 more seconds
    clock.mono += 9
    assert limiter.sweep() == 1
    assert len(limiter) == 0


def test_sweep_runs_by_itself_after_the_interval() -> None:
    clock = Clock()
    limiter = _limiter(clock, sweep_interval=60)
    for n in range(20):
        limiter.ratelimit("act", f"user{n}")
    clock.mono += 30
    limiter.ratelimit("act", "late")
    assert len(limiter) == 21  # no sweep before the interval
    clock.mono += 30
    limiter.ratelimit("act", "later")
    # The 20 idle buckets and "late" (refilled after 1 s) went; "later" was just made.
    assert len(limiter) == 1


def test_max_buckets_evicts_least_recently_used() -> None:
    clock = Clock()
    limiter = _limiter(clock, max_buckets=3)
    for key in ("a", "b", "c"):
        limiter.ratelimit("slow", key)
    limiter.ratelimit("act", "a")  # a different bucket: ("act", "a")
    assert len(limiter) == 3
    # ("slow", "a") was the least recently used and went: "a" may act again at once.
    assert limiter.check("slow", "a").allowed
    assert not limiter.check("slow", "c").allowed


def test_memory_stays_bounded_under_many_keys() -> None:
    clock = Clock()
    limiter = _limiter(clock, max_buckets=100)
    for n in range(10_000):
        limiter.check("act", f"10.0.{n // 256}.{n % 256}")
        clock.mono += 0.001
    assert len(limiter) <= 100


def test_rate_limit_values_are_checked() -> None:
    for per_second, burst in ((0, 1), (-1, 1), (1, 0), (float("inf"), 1), (1, float("nan"))):
        with pytest.raises(ValueError):
            RateLimit(per_second, burst)
    with pytest.raises(ValueError):
        RateLimiter(Clock(), {}, max_buckets=0)


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=5), st.integers(min_value=1, max_value=4)),
        max_size=60,
    ),
    st.floats(min_value=0.05, max_value=5),
    st.integers(min_value=1, max_value=20),
)
def test_never_more_than_burst_plus_refill(
    steps: list[tuple[float, int]], per_second: float, burst: int
) -> None:
    clock = Clock()
    limiter = RateLimiter(clock, {"a": RateLimit(per_second, burst)})
    start = clock.mono
    allowed = 0
    for advance, tries in steps:
        clock.mono += advance
        for _ in range(tries):
            decision = limiter.check("a", "k")
            if decision.allowed:
                allowed += 1
            else:
                # Waiting the announced time is always enough.
                assert decision.retry_after_ms >= 1
                assert limiter.check("a", "k", update=False).allowed is False
        assert allowed <= burst + per_second * (clock.mono - start) + 1e-6


@given(st.floats(min_value=0.01, max_value=10), st.integers(min_value=1, max_value=50))
def test_waiting_retry_after_is_enough(per_second: float, burst: int) -> None:
    clock = Clock()
    limiter = RateLimiter(clock, {"a": RateLimit(per_second, burst)})
    while limiter.check("a", "k").allowed:
        pass
    decision = limiter.check("a", "k")
    clock.mono += decision.retry_after_ms / 1000
    assert limiter.check("a", "k").allowed


# ---- configuration ------------------------------------------------------------------------------


def _config(**raw: Any) -> Any:
    return parse_config({"server_name": "test.example", **raw})


def test_defaults_are_synapses() -> None:
    limits = limits_from_config(_config())
    assert limits == {
        MESSAGE: RateLimit(0.2, 10),
        REGISTRATION: RateLimit(0.17, 3),
        LOGIN_ADDRESS: RateLimit(0.003, 5),
        LOGIN_ACCOUNT: RateLimit(0.003, 5),
        LOGIN_FAILED_ATTEMPTS: RateLimit(0.17, 3),
        JOINS_LOCAL: RateLimit(0.1, 10),
        JOINS_REMOTE: RateLimit(0.01, 10),
        INVITES_PER_ROOM: RateLimit(0.3, 10),
        INVITES_PER_USER: RateLimit(0.003, 5),
        INVITES_PER_ISSUER: RateLimit(0.3, 10),
        THREEPID_VALIDATION: RateLimit(0.003, 5),
        PRESENCE_PER_USER: RateLimit(0.1, 1),
        DELAYED_EVENT_MGMT: RateLimit(1, 5),
        ROOM_CREATION: RateLimit(0.016, 10),
        REPORTS: RateLimit(1, 5),
        MEDIA_CREATE: RateLimit(10, 50),
    }
    config = _config()
    assert config.rc_federation == {
        "window_size": 1000,
        "sleep_limit": 10,
        "sleep_delay": 500,
        "reject_limit": 50,
        "concurrent": 3,
    }
    assert config.max_request_size == 200 * 65536
    assert config.ratelimiting.enabled is True


def test_keys_left_out_keep_their_defaults() -> None:
    config = _config(
        rc_message={"per_second": 2},
        rc_login={"account": {"burst_count": 7.9}},
        rc_admin_redaction={"per_second": 1, "burst_count": 50},
        rc_federation={"concurrent": 9},
        max_request_size="1M",
    )
    limits = limits_from_config(config)
    assert limits[MESSAGE] == RateLimit(2, 10)
    # Synapse truncates burst_count to an integer.
    assert limits[LOGIN_ACCOUNT] == RateLimit(0.003, 7)
    assert limits[LOGIN_ADDRESS] == RateLimit(0.003, 5)
    assert limits[ADMIN_REDACTION] == RateLimit(1, 50)
    limiter, _ = ratelimiters_from_config(config, Clock())
    assert redaction_action(limiter, by_room_admin=True) == ADMIN_REDACTION
    assert redaction_action(limiter, by_room_admin=False) == MESSAGE
    # Unset, admins' redactions share the buckets of their messages.
    unset, _ = ratelimiters_from_config(_config(), Clock())
    assert redaction_action(unset, by_room_admin=True) == MESSAGE
    assert config.rc_federation["concurrent"] == 9
    assert config.rc_federation["reject_limit"] == 50
    assert config.max_request_size == 1024 * 1024
    assert _config(max_request_size="12K").max_request_size == 12 * 1024
    assert _config(max_request_size=5000).max_request_size == 5000


@pytest.mark.parametrize(
    ("raw", "where", "message"),
    [
        ({"rc_message": {"per_second": 0}}, "rc_message", "per_second"),
        ({"rc_message": {"per_second": "fast"}}, "rc_message", "per_second"),
        ({"rc_message": {"burst_count": 0}}, "rc_message", "burst_count"),
        ({"rc_message": {"burst": 3}}, "rc_message", "unknown key burst"),
        ({"rc_message": 5}, "rc_message", "expected a mapping"),
        ({"rc_login": {"adress": {}}}, "rc_login", "unknown key adress"),
        ({"rc_joins": {"local": {"per_second": -1}}}, "rc_joins", "per_second in local"),
        ({"rc_federation": {"concurrent": 0}}, "rc_federation", "concurrent"),
        ({"rc_federation": {"window": 1}}, "rc_federation", "unknown key window"),
        ({"max_request_size": "lots"}, "max_request_size", "expected a size"),
        ({"max_request_size": 0}, "max_request_size", "positive"),
        ({"ratelimiting": {"enabled": "no"}}, "ratelimiting.enabled", "true or false"),
        ({"ratelimiting": {"exempt_users": ["bot"]}}, "ratelimiting.exempt_users", "user IDs"),
    ],
)
def test_bad_values_name_the_key(raw: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        _config(**raw)
    assert any(p.path == where and message in p.message for p in e.value.problems), str(e.value)


def test_ratelimiters_from_config_follow_the_switch() -> None:
    clock = Clock()
    limiter, federation = ratelimiters_from_config(
        _config(
            rc_message={"per_second": 1, "burst_count": 1},
            ratelimiting={"exempt_users": ["@bot:test.example"]},
        ),
        clock,
    )
    assert limiter.enabled and federation.enabled
    limiter.ratelimit(MESSAGE, "@a:test.example")
    assert not limiter.check(MESSAGE, "@a:test.example").allowed
    assert all(limiter.check(MESSAGE, "@bot:test.example").allowed for _ in range(5))
    off, federation_off = ratelimiters_from_config(_config(ratelimiting={"enabled": False}), clock)
    assert not off.enabled and not federation_off.enabled
    assert all(off.check(REGISTRATION, "1.2.3.4").allowed for _ in range(100))


# ---- federation ---------------------------------------------------------------------------------


async def _hold(
    limiter: FederationRateLimiter, origin: str, entered: asyncio.Event, leave: asyncio.Event
) -> None:
    async with limiter.request(origin):
        entered.set()
        await leave.wait()


async def test_federation_concurrency_queues_in_order() -> None:
    clock = Clock()
    limiter = FederationRateLimiter(clock, FederationLimits(concurrent=2, sleep_limit=100))
    events = [(asyncio.Event(), asyncio.Event()) for _ in range(4)]
    tasks = [
        asyncio.create_task(_hold(limiter, "other.example", entered, leave))
        for entered, leave in events
    ]
    await asyncio.sleep(0.01)
    assert [entered.is_set() for entered, _ in events] == [True, True, False, False]
    events[0][1].set()
    await asyncio.sleep(0.01)
    assert [entered.is_set() for entered, _ in events] == [True, True, True, False]
    # Another origin is not held up by this one.
    async with limiter.request("third.example"):
        pass
    for _, leave in events:
        leave.set()
    await asyncio.gather(*tasks)
    assert all(entered.is_set() for entered, _ in events)


async def test_federation_rejects_past_reject_limit() -> None:
    clock = Clock()
    limiter = FederationRateLimiter(
        clock, FederationLimits(concurrent=1, reject_limit=2, sleep_limit=100, window_size=750)
    )
    leave = asyncio.Event()
    first = asyncio.create_task(_hold(limiter, "o.example", asyncio.Event(), leave))
    second = asyncio.create_task(_hold(limiter, "o.example", asyncio.Event(), leave))
    await asyncio.sleep(0.01)
    with pytest.raises(MatrixError) as e:
        async with limiter.request("o.example"):
            pass
    assert e.value.status == 429 and e.value.errcode == "M_LIMIT_EXCEEDED"
    assert e.value.extra == {"retry_after_ms": 750}
    leave.set()
    await asyncio.gather(first, second)
    async with limiter.request("o.example"):
        pass


async def test_federation_sleeps_past_sleep_limit() -> None:
    clock = Clock()
    limiter = FederationRateLimiter(
        clock, FederationLimits(window_size=1000, sleep_limit=2, sleep_delay=500)
    )
    for _ in range(2):
        async with limiter.request("o.example"):
            pass
    assert clock.slept == []
    async with limiter.request("o.example"):
        pass
    assert clock.slept == [0.5]
    # The window slides: after a second without requests, no more delay.
    clock.mono += 2
    async with limiter.request("o.example"):
        pass
    assert clock.slept == [0.5]


async def test_federation_forgets_idle_origins() -> None:
    clock = Clock()
    limiter = FederationRateLimiter(clock, FederationLimits(window_size=1000))
    for n in range(30):
        async with limiter.request(f"s{n}.example"):
            pass
    assert len(limiter) == 30  # their starts are still in the window
    clock.mono += 1.5
    limiter.sweep()
    assert len(limiter) == 0
    async with limiter.request("a.example"):
        pass
    clock.mono += 61
    async with limiter.request("b.example"):
        pass
    assert len(limiter) == 1  # a.example went in the sweep that runs by itself


async def test_federation_cancelled_waiter_does_not_leak_a_slot() -> None:
    clock = Clock()
    limiter = FederationRateLimiter(clock, FederationLimits(concurrent=1, sleep_limit=100))
    leave = asyncio.Event()
    holder = asyncio.create_task(_hold(limiter, "o.example", asyncio.Event(), leave))
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(_hold(limiter, "o.example", asyncio.Event(), asyncio.Event()))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    leave.set()
    await holder
    entered = asyncio.Event()
    done = asyncio.Event()
    done.set()
    await asyncio.wait_for(_hold(limiter, "o.example", entered, done), 1)
    assert entered.is_set()


async def test_federation_disabled_never_waits() -> None:
    clock = Clock()
    limiter = FederationRateLimiter(
        clock, FederationLimits(concurrent=1, reject_limit=1, sleep_limit=1), enabled=False
    )
    leave = asyncio.Event()
    held = [
        asyncio.create_task(_hold(limiter, "o.example", asyncio.Event(), leave)) for _ in range(5)
    ]
    await asyncio.sleep(0.01)
    async with limiter.request("o.example"):
        pass
    leave.set()
    await asyncio.gather(*held)
    assert clock.slept == [] and len(limiter) == 0
