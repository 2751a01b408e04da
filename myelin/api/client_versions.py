"""Spec versions (spec: Client-Server API, "API Versions"): GET /_matrix/client/versions."""

from aiohttp import web

from myelin.api.http import Context, Endpoint, json_response

# The Client-Server API versions Myelin implements completely. Empty on purpose: the
# Client-Server API is not implemented yet; versions get added here as it lands.
SUPPORTED_CLIENT_VERSIONS: tuple[str, ...] = ()

# Namespaced unstable features this server supports (none yet).
UNSTABLE_FEATURES: dict[str, bool] = {}


def versions_endpoints() -> list[Endpoint]:
    async def versions(ctx: Context) -> web.StreamResponse:
        return json_response(
            {"versions": list(SUPPORTED_CLIENT_VERSIONS), "unstable_features": UNSTABLE_FEATURES}
        )

    return [Endpoint("client.versions", "GET", "/_matrix/client/versions", "client", versions)]
