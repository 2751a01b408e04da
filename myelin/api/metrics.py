"""Prometheus metrics of the HTTP layer (Myelin operations; no spec section).

Counts and times every request by endpoint name, method and status. The counts live in plain
dictionaries, and prometheus_client is imported only to render them when ``/metrics`` is
scraped: a server nobody scrapes never loads it (about 1 MiB). The text is the one
prometheus_client's ``Counter`` and ``Histogram`` (default buckets) give, ``_created`` series
included unless ``PROMETHEUS_DISABLE_CREATED_SERIES`` is set, as in prometheus_client.
"""

import os
import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

REQUESTS = "myelin_http_requests"
REQUESTS_DOC = "HTTP requests answered, by endpoint, method and status"
DURATION = "myelin_http_request_duration_seconds"
DURATION_DOC = "Time to answer HTTP requests, by endpoint and status"
# prometheus_client's default histogram buckets (seconds); +Inf follows.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# The bounds as the "le" label writes them.
_LE = (*(repr(bound) for bound in BUCKETS), "+Inf")


class _Count:
    __slots__ = ("created", "value")

    def __init__(self, created: float) -> None:
        self.value = 0.0
        self.created = created


class _Histogram:
    __slots__ = ("buckets", "created", "total")

    def __init__(self, created: float) -> None:
        self.buckets = [0.0] * (len(BUCKETS) + 1)  # per bucket, not cumulative; last is +Inf
        self.total = 0.0
        self.created = created


def _created_series_enabled() -> bool:
    # prometheus_client's own switch.
    flag = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower()
    return flag not in ("true", "1", "t")


class HttpMetrics:
    """Request counters and duration histograms, rendered in the Prometheus text format.

    ``registry``: a prometheus_client registry to collect them in as well (tests); by default
    ``render`` makes its own on first use.
    """

    def __init__(self, registry: "CollectorRegistry | None" = None) -> None:
        self._requests: dict[tuple[str, str, str], _Count] = {}
        self._durations: dict[tuple[str, str], _Histogram] = {}
        self._registry = registry
        if registry is not None:
            registry.register(_Collector(self))

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        status_text = str(status)
        count = self._requests.get((endpoint, method, status_text))
        if count is None:
            count = self._requests[endpoint, method, status_text] = _Count(time.time())
        count.value += 1.0
        histogram = self._durations.get((endpoint, status_text))
        if histogram is None:
            histogram = self._durations[endpoint, status_text] = _Histogram(time.time())
        # A value falls in the first bucket whose upper bound is at least the value.
        histogram.buckets[bisect_left(BUCKETS, seconds)] += 1.0
        histogram.total += seconds

    def render(self) -> bytes:
        """Every metric in the Prometheus text format."""
        from prometheus_client import CollectorRegistry, generate_latest

        if self._registry is None:
            self._registry = CollectorRegistry()
            self._registry.register(_Collector(self))
        return bytes(generate_latest(self._registry))

    def collect(self) -> Iterator[Any]:
        """prometheus_client ``Metric`` families of the counts (prometheus_client's
        ``Counter`` and ``Histogram`` samples, in the same order)."""
        from prometheus_client.core import Metric

        created = _created_series_enabled()
        requests = Metric(REQUESTS, REQUESTS_DOC, "counter")
        for (endpoint, method, status), count in self._requests.items():
            labels = {"endpoint": endpoint, "method": method, "status": status}
            requests.add_sample(f"{REQUESTS}_total", labels, count.value)
            if created:
                requests.add_sample(f"{REQUESTS}_created", labels, count.created)
        yield requests
        durations = Metric(DURATION, DURATION_DOC, "histogram")
        for (endpoint, status), histogram in self._durations.items():
            labels = {"endpoint": endpoint, "status": status}
            cumulative = 0.0
            for le, in_bucket in zip(_LE, histogram.buckets, strict=True):
                cumulative += in_bucket
                durations.add_sample(f"{DURATION}_bucket", {**labels, "le": le}, cumulative)
            durations.add_sample(f"{DURATION}_count", labels, cumulative)
            durations.add_sample(f"{DURATION}_sum", labels, histogram.total)
            if created:
                durations.add_sample(f"{DURATION}_created", labels, histogram.created)
        yield durations


class _Collector:
    """What a prometheus_client registry collects from (``collect`` only: no describe)."""

    def __init__(self, metrics: HttpMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        return self._metrics.collect()
