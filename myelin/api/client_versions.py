"""Spec versions (spec: Client-Server API, "API Versions"): GET /_matrix/client/versions."""

from aiohttp import web

from myelin.api.http import Context, Endpoint, json_response

# The Client-Server API versions whose changes Myelin implements: every version up to the
# highest one whose mandatory Client-Server changes are all implemented (docs/spec-compliance.md
# has the table per version and the judgement on each optional feature). The r0 versions stay
# listed because older clients only look for them (Synapse lists them too). Every version up
# to v1.19, the spec this server is written against, is complete.
SUPPORTED_CLIENT_VERSIONS: tuple[str, ...] = (
    "r0.0.1",
    "r0.1.0",
    "r0.2.0",
    "r0.3.0",
    "r0.4.0",
    "r0.5.0",
    "r0.6.0",
    "r0.6.1",
    *(f"v1.{minor}" for minor in range(1, 20)),
)

# Feature keys clients look for when the version list is older than the feature, each one
# really served (docs/spec-compliance.md).
UNSTABLE_FEATURES: dict[str, bool] = {
    # Dehydrated devices under /unstable/org.matrix.msc3814.v1/dehydrated_device (Element
    # checks this key before it offers them).
    "org.matrix.msc3814": True,
    # Private read receipts (m.read.private, stable since v1.4); clients of servers with an
    # older spec version look for this key.
    "org.matrix.msc2285.stable": True,
    # Threads with stable identifiers (v1.4): /threads, thread filters, threaded receipts.
    "org.matrix.msc3440.stable": True,
    # The room_types filter of /publicRooms (v1.4).
    "org.matrix.msc3827.stable": True,
    # Authenticated media under /_matrix/client/v1/media (v1.11).
    "org.matrix.msc3916.stable": True,
}


def versions_endpoints() -> list[Endpoint]:
    async def versions(ctx: Context) -> web.StreamResponse:
        return json_response(
            {"versions": list(SUPPORTED_CLIENT_VERSIONS), "unstable_features": UNSTABLE_FEATURES}
        )

    return [Endpoint("client.versions", "GET", "/_matrix/client/versions", "client", versions)]
