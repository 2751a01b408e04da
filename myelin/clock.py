"""Time as an injected dependency (GUIDE principle 11: inject time and randomness).

Services and the HTTP layer take a ``Clock`` through their constructors so that tests can control
time; ``SystemClock`` is the real one, made in the composition root.
"""

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """The current time and a way to wait."""

    def now_ms(self) -> int:
        """Milliseconds since the POSIX epoch (the unit of every Matrix timestamp)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards (for durations)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` seconds."""
        ...


class SystemClock:
    """The wall clock of this machine."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
