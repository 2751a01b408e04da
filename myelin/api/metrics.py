"""Prometheus metrics of the HTTP layer (Myelin operations; no spec section).

Counts and times every request by endpoint name, method and status in a ``CollectorRegistry``
made by the composition root.
"""

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class HttpMetrics:
    """Request counters and duration histograms in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._requests = Counter(
            "myelin_http_requests",
            "HTTP requests answered, by endpoint, method and status",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self._duration = Histogram(
            "myelin_http_request_duration_seconds",
            "Time to answer HTTP requests, by endpoint and status",
            ["endpoint", "status"],
            registry=registry,
        )

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self._requests.labels(endpoint, method, str(status)).inc()
        self._duration.labels(endpoint, str(status)).observe(seconds)

    def render(self) -> bytes:
        """Every metric of the registry in the Prometheus text format."""
        return bytes(generate_latest(self.registry))
