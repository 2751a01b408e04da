"""HttpMetrics renders what prometheus_client's own Counter and Histogram render."""

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from myelin.api.metrics import HttpMetrics

OBSERVATIONS = [
    ("client.versions", "GET", 200, 0.003),
    ("client.versions", "GET", 200, 0.005),  # on a bucket bound: counted in that bucket
    ("client.sync", "GET", 200, 29.7),  # beyond the largest bound: only +Inf
    ("unrecognized", "POST", 404, 0.0),
    ("client.versions", "GET", 500, 0.26),
    ("client.sync", "GET", 200, 0.0751),
]


def _reference() -> str:
    registry = CollectorRegistry()
    requests = Counter(
        "myelin_http_requests",
        "HTTP requests answered, by endpoint, method and status",
        ["endpoint", "method", "status"],
        registry=registry,
    )
    duration = Histogram(
        "myelin_http_request_duration_seconds",
        "Time to answer HTTP requests, by endpoint and status",
        ["endpoint", "status"],
        registry=registry,
    )
    for endpoint, method, status, seconds in OBSERVATIONS:
        requests.labels(endpoint, method, str(status)).inc()
        duration.labels(endpoint, str(status)).observe(seconds)
    return bytes(generate_latest(registry)).decode()


def _without_timestamps(text: str) -> str:
    # The _created series hold creation times, which differ between the two.
    return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", text)


@pytest.mark.parametrize("created", [True, False])
def test_same_text_as_prometheus_client(created: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not created:
        monkeypatch.setenv("PROMETHEUS_DISABLE_CREATED_SERIES", "true")
        monkeypatch.setattr("prometheus_client.metrics._use_created", False)
    metrics = HttpMetrics()
    for endpoint, method, status, seconds in OBSERVATIONS:
        metrics.observe(endpoint, method, status, seconds)
    text = metrics.render().decode()
    assert ("_created{" in text) is created
    assert _without_timestamps(text) == _without_timestamps(_reference())


def test_nothing_observed_yet() -> None:
    text = HttpMetrics().render().decode()
    assert "# TYPE myelin_http_requests_total counter" in text
    assert "# TYPE myelin_http_request_duration_seconds histogram" in text
    assert "myelin_http_requests_total{" not in text


def test_a_given_registry_collects_too() -> None:
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)
    metrics.observe("client.versions", "GET", 200, 0.01)
    text = bytes(generate_latest(registry)).decode()
    assert (
        'myelin_http_requests_total{endpoint="client.versions",method="GET",status="200"} 1.0'
        in text
    )
    assert metrics.render().decode() == text
