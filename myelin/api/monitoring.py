"""Health check and metrics endpoints (Myelin operations, as Synapse serves them; no spec section).

``GET /health`` answers ``OK`` on every http listener; ``/metrics`` (and Synapse's path
``/_synapse/metrics``) serve Prometheus metrics where a listener has the metrics resource.
"""

from aiohttp import web

from myelin.api.http import Context, Endpoint
from myelin.api.metrics import HttpMetrics


def health_endpoints() -> list[Endpoint]:
    async def health(ctx: Context) -> web.StreamResponse:
        return web.Response(text="OK", content_type="text/plain")

    return [Endpoint("health", "GET", "/health", "health", health)]


def metrics_endpoints(metrics: HttpMetrics) -> list[Endpoint]:
    async def serve(ctx: Context) -> web.StreamResponse:
        # Imported on the first scrape only (see myelin.api.metrics).
        from prometheus_client import CONTENT_TYPE_LATEST

        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return [
        Endpoint("metrics", "GET", path, "metrics", serve)
        for path in ("/metrics", "/_synapse/metrics")
    ]
