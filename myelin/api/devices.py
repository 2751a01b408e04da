"""Device management (spec: Client-Server API, "Device Management" module).

GET /devices, GET/PUT/DELETE /devices/{deviceId} and POST /delete_devices; deletions run
user-interactive authentication and delete the devices' access tokens.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids, require_non_guest
from myelin.services.auth_sessions import UserInteractiveAuth
from myelin.services.devices import DeviceService, device_json
from myelin.services.errors import MatrixError
from myelin.services.login import LoginService

_TOKEN = AuthKind.ACCESS_TOKEN


def device_endpoints(
    devices: DeviceService, login: LoginService, uia: UserInteractiveAuth
) -> list[Endpoint]:
    async def list_devices(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        records = await devices.list_devices(user_id)
        return json_response({"devices": [device_json(d) for d in records]})

    async def get_device(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        device = await devices.get_device(user_id, ctx.request.match_info["deviceId"])
        return json_response(device_json(device))

    async def put_device(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        device_id = ctx.request.match_info["deviceId"]
        body = await json_object_body(ctx.request)
        display_name = body_field(body, "display_name", str, required=False)
        # Creating devices here is for application services only (spec v1.17, 201 Created):
        # regular clients may only update their existing devices.
        if _is_appservice(ctx) and not await devices.has_device(user_id, device_id):
            await devices.ensure_device(user_id, device_id, display_name)
            return json_response({}, status=201)
        if display_name is None:
            await devices.require_device(user_id, device_id)
        else:
            await devices.set_display_name(user_id, device_id, display_name)
        return json_response({})

    async def delete(ctx: Context, user_id: str, device_ids: list[str]) -> web.StreamResponse:
        # Clients probing for the UIA flows of DELETE /devices/{deviceId} may send no body.
        raw = await ctx.request.read()
        body = await json_object_body(ctx.request) if raw.strip() else {}
        if device_ids == []:
            listed = body_field(body, "devices", list)
            if not all(isinstance(d, str) for d in listed):
                raise MatrixError(400, "M_BAD_JSON", "devices must be a list of strings")
            device_ids = listed
        if _is_appservice(ctx):  # no user-interactive auth for application services (v1.17)
            await devices.delete_devices(user_id, device_ids)
            return json_response({})
        result = await uia.authenticate(
            body.get("auth"),
            await login.uia_flows(user_id),
            method=ctx.request.method,
            uri=ctx.request.path,
            user_id=user_id,
        )
        await devices.delete_devices(user_id, device_ids)
        await uia.finish(result)
        return json_response({})

    async def delete_device(ctx: Context) -> web.StreamResponse:
        user_id, _ = await require_non_guest(ctx, login)
        return await delete(ctx, user_id, [ctx.request.match_info["deviceId"]])

    async def delete_devices(ctx: Context) -> web.StreamResponse:
        user_id, _ = await require_non_guest(ctx, login)
        return await delete(ctx, user_id, [])

    one = f"{CLIENT_V3}/devices/{{deviceId}}"
    return [
        Endpoint("client.devices", "GET", f"{CLIENT_V3}/devices", "client", list_devices, _TOKEN),
        Endpoint("client.device", "GET", one, "client", get_device, _TOKEN),
        Endpoint("client.device_update", "PUT", one, "client", put_device, _TOKEN),
        Endpoint("client.device_delete", "DELETE", one, "client", delete_device, _TOKEN),
        Endpoint(
            "client.delete_devices",
            "POST",
            f"{CLIENT_V3}/delete_devices",
            "client",
            delete_devices,
            _TOKEN,
        ),
    ]


def _is_appservice(ctx: Context) -> bool:
    return ctx.requester is not None and ctx.requester.appservice_id is not None
