"""End-to-end encryption keys (spec: Client-Server API, "End-to-End Encryption": ``POST
/keys/upload``, ``/keys/query``, ``/keys/claim``, ``GET /keys/changes``, and cross-signing's
``POST /keys/device_signing/upload`` and ``/keys/signatures/upload``).
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.auth_sessions import UserInteractiveAuth
from myelin.services.device_lists import DeviceListService
from myelin.services.e2e_keys import E2EKeyService
from myelin.services.errors import MatrixError
from myelin.services.login import LoginService
from myelin.services.sync.token import InvalidSyncTokenError, SyncToken

_TOKEN = AuthKind.ACCESS_TOKEN


def _timeout(body: dict[str, object]) -> int | None:
    """The request's ``timeout`` for remote servers (ms), bounded to a minute."""
    timeout = body.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)):
        raise MatrixError(400, "M_BAD_JSON", "timeout must be an integer")
    return None if timeout is None else max(0, min(timeout, 60_000))


def _token(ctx: Context, name: str) -> SyncToken:
    text = ctx.request.query.get(name)
    if text is None:
        raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameter: {name}")
    try:
        return SyncToken.parse(text)
    except InvalidSyncTokenError as e:
        raise MatrixError(400, "M_INVALID_PARAM", f"Invalid {name} token") from e


def keys_endpoints(
    keys: E2EKeyService,
    device_lists: DeviceListService,
    login: LoginService,
    uia: UserInteractiveAuth,
) -> list[Endpoint]:
    async def upload(ctx: Context) -> web.StreamResponse:
        user_id, device_id = requester_ids(ctx)
        if device_id is None:
            raise MatrixError(400, "M_UNKNOWN", "This access token has no device")
        body = await json_object_body(ctx.request)
        counts = await keys.upload_keys(user_id, device_id, body)
        return json_response({"one_time_key_counts": counts})

    async def query(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        timeout = _timeout(body)
        if "device_keys" not in body:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: device_keys")
        return json_response(await keys.query_keys(user_id, body["device_keys"], timeout))

    async def claim(ctx: Context) -> web.StreamResponse:
        requester_ids(ctx)
        body = await json_object_body(ctx.request)
        timeout = _timeout(body)
        if "one_time_keys" not in body:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: one_time_keys")
        return json_response(await keys.claim_keys(body["one_time_keys"], timeout))

    async def changes(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        start = _token(ctx, "from").device_lists
        end = _token(ctx, "to").device_lists
        current = await device_lists.current_position()
        # "to" is a hint; a token past the stream (from before a reset) is capped.
        end = min(end, current)
        result = await device_lists.changes_between(user_id, min(start, end), end)
        return json_response(result.to_json())

    async def device_signing_upload(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        # v1.17: "no longer requires User-Interactive Authentication when used by an
        # application service" (its as_token, acting as itself or a namespace user).
        by_appservice = ctx.requester is not None and ctx.requester.appservice_id is not None
        if not by_appservice and await keys.cross_signing_needs_auth(user_id, body):
            # UIA unless there is no master key yet or nothing new is uploaded.
            result = await uia.authenticate(
                body.get("auth"),
                await login.uia_flows(user_id),
                method=ctx.request.method,
                uri=ctx.request.path,
                user_id=user_id,
            )
            await keys.upload_cross_signing_keys(user_id, body)
            await uia.finish(result)
        else:
            await keys.upload_cross_signing_keys(user_id, body)
        return json_response({})

    async def signatures_upload(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        failures = await keys.upload_signatures(user_id, body)
        return json_response({"failures": failures})

    return [
        Endpoint(
            "client.keys_upload", "POST", f"{CLIENT_V3}/keys/upload", "client", upload, _TOKEN
        ),
        Endpoint("client.keys_query", "POST", f"{CLIENT_V3}/keys/query", "client", query, _TOKEN),
        Endpoint("client.keys_claim", "POST", f"{CLIENT_V3}/keys/claim", "client", claim, _TOKEN),
        Endpoint(
            "client.keys_changes", "GET", f"{CLIENT_V3}/keys/changes", "client", changes, _TOKEN
        ),
        Endpoint(
            "client.keys_device_signing_upload",
            "POST",
            f"{CLIENT_V3}/keys/device_signing/upload",
            "client",
            device_signing_upload,
            _TOKEN,
        ),
        Endpoint(
            "client.keys_signatures_upload",
            "POST",
            f"{CLIENT_V3}/keys/signatures/upload",
            "client",
            signatures_upload,
            _TOKEN,
        ),
    ]
