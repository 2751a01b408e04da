"""The first endpoints, over real HTTP, checked against the spec's OpenAPI definitions."""

from typing import Any

import signedjson.key
import signedjson.sign
from unpaddedbase64 import decode_base64

from myelin import __version__
from myelin.api.client_versions import SUPPORTED_CLIENT_VERSIONS
from myelin.core.signing import SigningKey
from tests.api.conftest import SERVER_NAME, FakeClock, ServeFn
from tests.api.openapi import error_schema, validate, validate_response

OLD_KEY = SigningKey.generate("old1")


async def test_client_versions(serve: ServeFn) -> None:
    client = await serve()
    response = await client.get("/_matrix/client/versions")
    assert response.status == 200
    body = await response.json()
    validate_response(body, "client-server/versions.yaml", "/versions", "get", 200)
    assert body["versions"] == list(SUPPORTED_CLIENT_VERSIONS)
    # The r0 versions old clients look for, then v1.1 to v1.19 (docs/spec-compliance.md).
    assert body["versions"][:8] == [
        "r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1"
    ]  # fmt: skip
    assert body["versions"][8:] == [f"v1.{minor}" for minor in range(1, 20)]
    assert body["unstable_features"]["org.matrix.msc3814"] is True
    assert all(value is True for value in body["unstable_features"].values())


async def test_client_wellknown(serve: ServeFn) -> None:
    client = await serve(
        public_baseurl="https://matrix.test.example/",
        extra_well_known_client_content={"org.example.app": {"url": "https://app.example"}},
    )
    response = await client.get("/.well-known/matrix/client")
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = await response.json()
    validate_response(body, "client-server/wellknown.yaml", "/matrix/client", "get", 200)
    assert body == {
        "m.homeserver": {"base_url": "https://matrix.test.example/"},
        "org.example.app": {"url": "https://app.example"},
    }


async def test_client_wellknown_without_public_baseurl_is_404(serve: ServeFn) -> None:
    # As in Synapse: without public_baseurl nothing is advertised (https://<server_name>/ may
    # not exist), even with extra content configured.
    client = await serve(extra_well_known_client_content={"org.example.app": {"url": "x"}})
    response = await client.get("/.well-known/matrix/client")
    assert response.status == 404
    body = await response.json()
    validate(body, error_schema())
    assert body["errcode"] == "M_NOT_FOUND"


async def test_server_wellknown_disabled_is_404(serve: ServeFn) -> None:
    client = await serve()
    response = await client.get("/.well-known/matrix/server")
    assert response.status == 404
    body = await response.json()
    validate(body, error_schema())
    assert body["errcode"] == "M_NOT_FOUND"


async def test_server_wellknown_enabled(serve: ServeFn) -> None:
    client = await serve(serve_server_wellknown=True, public_baseurl="https://matrix.test.example")
    response = await client.get("/.well-known/matrix/server")
    assert response.status == 200
    body = await response.json()
    validate_response(body, "server-server/wellknown.yaml", "/matrix/server", "get", 200)
    assert body == {"m.server": "matrix.test.example:443"}


async def test_server_wellknown_without_public_baseurl(serve: ServeFn) -> None:
    client = await serve(serve_server_wellknown=True)
    assert await (await client.get("/.well-known/matrix/server")).json() == {
        "m.server": f"{SERVER_NAME}:443"
    }


async def test_server_wellknown_keeps_explicit_port(serve: ServeFn) -> None:
    client = await serve(serve_server_wellknown=True, public_baseurl="https://hs.example:8448/")
    assert await (await client.get("/.well-known/matrix/server")).json() == {
        "m.server": "hs.example:8448"
    }


def _verify_with_signedjson(body: dict[str, Any]) -> None:
    for key_id, entry in body["verify_keys"].items():
        verify_key = signedjson.key.decode_verify_key_bytes(key_id, decode_base64(entry["key"]))
        signedjson.sign.verify_signed_json(body, SERVER_NAME, verify_key)


async def test_server_keys(serve: ServeFn, clock: FakeClock) -> None:
    old = {OLD_KEY.key_id: {"key": OLD_KEY.verify_key.encode(), "expired_ts": 1_600_000_000_000}}
    client = await serve(old_signing_keys=old, key_refresh_interval="2h")
    response = await client.get("/_matrix/key/v2/server")
    assert response.status == 200
    body = await response.json()
    validate_response(body, "server-server/keys_server.yaml", "/server", "get", 200)
    assert body["server_name"] == SERVER_NAME
    assert body["valid_until_ts"] == clock.now + 2 * 3600 * 1000
    assert body["old_verify_keys"] == old
    assert len(body["verify_keys"]) == 1
    _verify_with_signedjson(body)
    # A tampered response must not verify.
    body["valid_until_ts"] += 1
    try:
        _verify_with_signedjson(body)
    except signedjson.sign.SignatureVerifyException:
        pass
    else:
        raise AssertionError("tampered key response verified")


async def test_server_keys_are_stable_across_restarts(serve: ServeFn) -> None:
    first = await (await (await serve()).get("/_matrix/key/v2/server")).json()
    second = await (await (await serve()).get("/_matrix/key/v2/server")).json()
    assert first["verify_keys"] == second["verify_keys"]


async def test_federation_version(serve: ServeFn) -> None:
    client = await serve()
    response = await client.get("/_matrix/federation/v1/version")
    assert response.status == 200
    body = await response.json()
    validate_response(body, "server-server/version.yaml", "/version", "get", 200)
    assert body == {"server": {"name": "Myelin", "version": __version__}}


async def test_health(serve: ServeFn) -> None:
    client = await serve(resources=["client"])
    response = await client.get("/health")
    assert response.status == 200
    assert await response.text() == "OK"
    assert response.content_type == "text/plain"


async def test_resources_select_endpoints(serve: ServeFn) -> None:
    client_only = await serve(resources=["client"])
    assert (await client_only.get("/_matrix/key/v2/server")).status == 404
    assert (await client_only.get("/_matrix/federation/v1/version")).status == 404
    keys_only = await serve(resources=["keys"])
    assert (await keys_only.get("/_matrix/key/v2/server")).status == 200
    assert (await keys_only.get("/_matrix/client/versions")).status == 404


async def test_metrics_listener(serve: ServeFn) -> None:
    client = await serve()
    await client.get("/_matrix/client/versions")
    await client.get("/_matrix/client/nope")
    # A metrics listener of the same homeserver serves the shared registry, and nothing else.
    metrics = await serve(listener_type="metrics", reuse=True)
    assert (await metrics.get("/_matrix/client/versions")).status == 404
    response = await metrics.get("/metrics")
    assert response.status == 200
    text = await response.text()
    assert (
        'myelin_http_requests_total{endpoint="client.versions",method="GET",status="200"} 1.0'
        in text
    )
    assert 'myelin_http_requests_total{endpoint="unrecognized",method="GET",status="404"}' in text
    assert 'myelin_http_request_duration_seconds_bucket{endpoint="client.versions"' in text
