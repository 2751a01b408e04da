"""Federation endpoints of the room side (spec: Server-Server API, "Transactions"
(``PUT /send/{txnId}``), "Retrieving events" (``/event``, ``/state``, ``/state_ids``,
``/event_auth``), "Backfilling and retrieving missing events" (``/backfill``,
``/get_missing_events``), "Joining Rooms" (``make_join``, ``send_join`` v2) and "Leaving Rooms"
(``make_leave``, ``send_leave`` v2), "Knocking upon a room" (``make_knock``, ``send_knock``)
and "Inviting to a room" (``PUT /invite`` v2)).

Every endpoint is authenticated with ``X-Matrix``; the origin is the requester's server name.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, body_field, json_object_body, json_response
from myelin.services.errors import MatrixError
from myelin.services.federation.invites import FederatedInvites
from myelin.services.federation.membership import FederatedMembership
from myelin.services.federation.serving import RoomEventServer
from myelin.services.federation.transactions import TransactionHandler
from myelin.services.ratelimit import FEDERATION

V1 = "/_matrix/federation/v1"
V2 = "/_matrix/federation/v2"
_X = AuthKind.X_MATRIX
DEFAULT_BACKFILL_LIMIT = 10


def _origin(ctx: Context) -> str:
    assert ctx.requester is not None and ctx.requester.server_name is not None
    return ctx.requester.server_name


def _query_event_id(ctx: Context) -> str:
    event_id = ctx.request.query.get("event_id")
    if event_id is None:
        raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: event_id")
    return event_id


def _int_param(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as e:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be an integer") from e


def federation_room_endpoints(
    transactions: TransactionHandler,
    serving: RoomEventServer,
    membership: FederatedMembership,
    invites: FederatedInvites | None = None,
) -> list[Endpoint]:
    async def send_transaction(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        txn_id = ctx.request.match_info["txnId"]
        return json_response(await transactions.on_send(_origin(ctx), txn_id, body))

    async def get_event(ctx: Context) -> web.StreamResponse:
        pdu = await serving.get_event(_origin(ctx), ctx.request.match_info["eventId"])
        return json_response(
            {"origin": serving.server_name, "origin_server_ts": serving.now_ms(), "pdus": [pdu]}
        )

    async def get_state(ctx: Context) -> web.StreamResponse:
        room_id = ctx.request.match_info["roomId"]
        return json_response(await serving.state(_origin(ctx), room_id, _query_event_id(ctx)))

    async def get_state_ids(ctx: Context) -> web.StreamResponse:
        room_id = ctx.request.match_info["roomId"]
        return json_response(await serving.state_ids(_origin(ctx), room_id, _query_event_id(ctx)))

    async def get_event_auth(ctx: Context) -> web.StreamResponse:
        info = ctx.request.match_info
        return json_response(
            await serving.event_auth(_origin(ctx), info["roomId"], info["eventId"])
        )

    async def get_missing_events(ctx: Context) -> web.StreamResponse:
        body = await json_object_body(ctx.request)
        earliest = body_field(body, "earliest_events", list)
        latest = body_field(body, "latest_events", list)
        if not all(isinstance(e, str) for e in [*earliest, *latest]):
            raise MatrixError(400, "M_BAD_JSON", "Event IDs must be strings")
        limit = body_field(body, "limit", int, required=False)
        min_depth = body_field(body, "min_depth", int, required=False)
        result = await serving.get_missing_events(
            _origin(ctx),
            ctx.request.match_info["roomId"],
            earliest=earliest,
            latest=latest,
            limit=10 if limit is None else limit,
            min_depth=0 if min_depth is None else min_depth,
        )
        return json_response(result)

    async def backfill(ctx: Context) -> web.StreamResponse:
        query = ctx.request.query
        from_ids = query.getall("v", [])
        if not from_ids:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: v")
        limit = _int_param(query.get("limit"), "limit", DEFAULT_BACKFILL_LIMIT)
        pdus = await serving.backfill(
            _origin(ctx), ctx.request.match_info["roomId"], from_ids, limit
        )
        return json_response(
            {"origin": serving.server_name, "origin_server_ts": serving.now_ms(), "pdus": pdus}
        )

    async def timestamp_to_event(ctx: Context) -> web.StreamResponse:
        query = ctx.request.query
        if "ts" not in query:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: ts")
        ts = _int_param(query.get("ts"), "ts", 0)
        direction = query.get("dir")
        if direction is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: dir")
        if direction not in ("f", "b"):
            raise MatrixError(400, "M_INVALID_PARAM", "dir must be f or b")
        return json_response(
            await serving.timestamp_to_event(
                _origin(ctx), ctx.request.match_info["roomId"], ts, direction == "f"
            )
        )

    async def make_join(ctx: Context) -> web.StreamResponse:
        info = ctx.request.match_info
        versions = ctx.request.query.getall("ver", ["1"])
        return json_response(
            await membership.make_membership(
                _origin(ctx), info["roomId"], info["userId"], "join", versions
            )
        )

    async def make_leave(ctx: Context) -> web.StreamResponse:
        info = ctx.request.match_info
        return json_response(
            await membership.make_membership(
                _origin(ctx), info["roomId"], info["userId"], "leave", []
            )
        )

    async def send_join(ctx: Context) -> web.StreamResponse:
        info = ctx.request.match_info
        body = await json_object_body(ctx.request)
        return json_response(
            await membership.send_membership(
                _origin(ctx), info["roomId"], info["eventId"], body, "join"
            )
        )

    async def send_leave(ctx: Context) -> web.StreamResponse:
        info = ctx.request.match_info
        body = await json_object_body(ctx.request)
        return json_response(
            await membership.send_membership(
                _origin(ctx), info["roomId"], info["eventId"], body, "leave"
            )
        )

    async def make_knock(ctx: Context) -> web.StreamResponse:
        info = ctx.request.match_info
        versions = ctx.request.query.getall("ver", [])
        if not versions:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: ver")
        return json_response(
            await membership.make_membership(
                _origin(ctx), info["roomId"], info["userId"], "knock", versions
            )
        )

    async def send_knock(ctx: Context) -> web.StreamResponse:
        info = ctx.request.match_info
        body = await json_object_body(ctx.request)
        return json_response(
            await membership.send_membership(
                _origin(ctx), info["roomId"], info["eventId"], body, "knock"
            )
        )

    async def invite(ctx: Context) -> web.StreamResponse:
        if invites is None:
            raise MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request")
        info = ctx.request.match_info
        body = await json_object_body(ctx.request)
        return json_response(
            await invites.on_invite(_origin(ctx), info["roomId"], info["eventId"], body)
        )

    routes = [
        ("send", "PUT", f"{V1}/send/{{txnId}}", send_transaction),
        ("event", "GET", f"{V1}/event/{{eventId}}", get_event),
        ("state", "GET", f"{V1}/state/{{roomId}}", get_state),
        ("state_ids", "GET", f"{V1}/state_ids/{{roomId}}", get_state_ids),
        ("event_auth", "GET", f"{V1}/event_auth/{{roomId}}/{{eventId}}", get_event_auth),
        ("get_missing_events", "POST", f"{V1}/get_missing_events/{{roomId}}", get_missing_events),
        ("backfill", "GET", f"{V1}/backfill/{{roomId}}", backfill),
        (
            "timestamp_to_event",
            "GET",
            f"{V1}/timestamp_to_event/{{roomId}}",
            timestamp_to_event,
        ),
        ("make_join", "GET", f"{V1}/make_join/{{roomId}}/{{userId}}", make_join),
        ("send_join", "PUT", f"{V2}/send_join/{{roomId}}/{{eventId}}", send_join),
        ("make_leave", "GET", f"{V1}/make_leave/{{roomId}}/{{userId}}", make_leave),
        ("send_leave", "PUT", f"{V2}/send_leave/{{roomId}}/{{eventId}}", send_leave),
        ("make_knock", "GET", f"{V1}/make_knock/{{roomId}}/{{userId}}", make_knock),
        ("send_knock", "PUT", f"{V1}/send_knock/{{roomId}}/{{eventId}}", send_knock),
        ("invite", "PUT", f"{V2}/invite/{{roomId}}/{{eventId}}", invite),
    ]
    return [
        Endpoint(f"federation.{name}", method, path, "federation", handler, _X, FEDERATION)
        for name, method, path, handler in routes
    ]
