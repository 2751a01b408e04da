"""Push rules (spec: Client-Server API, "Push Rules: API"): ``GET /pushrules/``,
``GET /pushrules/global/``, and ``GET``/``PUT``/``DELETE /pushrules/global/{kind}/{ruleId}``
with its ``/enabled`` and ``/actions`` sub-resources.
"""

from aiohttp import web

from myelin.api.auth import AuthKind
from myelin.api.http import Context, Endpoint, json_object_body, json_response
from myelin.api.login import CLIENT_V3, requester_ids
from myelin.services.errors import MatrixError
from myelin.services.push import PushRuleService

_TOKEN = AuthKind.ACCESS_TOKEN


def push_rule_endpoints(rules: PushRuleService) -> list[Endpoint]:
    async def get_all(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        return json_response({"global": (await rules.ruleset(user_id)).to_json()})

    async def get_global(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        return json_response((await rules.ruleset(user_id)).to_json())

    def kind_and_id(ctx: Context) -> tuple[str, str]:
        return ctx.request.match_info["kind"], ctx.request.match_info["ruleId"]

    async def get_rule(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        rule = await rules.get_rule(user_id, *kind_and_id(ctx))
        return json_response(rule.to_json())

    async def put_rule(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        kind, rule_id = kind_and_id(ctx)
        query = ctx.request.query
        await rules.put_rule(
            user_id, kind, rule_id, body, before=query.get("before"), after=query.get("after")
        )
        return json_response({})

    async def delete_rule(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        await rules.delete_rule(user_id, *kind_and_id(ctx))
        return json_response({})

    async def get_enabled(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        rule = await rules.get_rule(user_id, *kind_and_id(ctx))
        return json_response({"enabled": rule.enabled})

    async def put_enabled(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        if "enabled" not in body:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: enabled")
        await rules.set_enabled(user_id, *kind_and_id(ctx), body["enabled"])
        return json_response({})

    async def get_actions(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        rule = await rules.get_rule(user_id, *kind_and_id(ctx))
        return json_response({"actions": rule.to_json()["actions"]})

    async def put_actions(ctx: Context) -> web.StreamResponse:
        user_id, _ = requester_ids(ctx)
        body = await json_object_body(ctx.request)
        if "actions" not in body:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: actions")
        await rules.set_actions(user_id, *kind_and_id(ctx), body["actions"])
        return json_response({})

    base = f"{CLIENT_V3}/pushrules"
    rule = f"{base}/global/{{kind}}/{{ruleId}}"
    return [
        Endpoint("client.pushrules", "GET", f"{base}/", "client", get_all, _TOKEN),
        Endpoint("client.pushrules_global", "GET", f"{base}/global/", "client", get_global, _TOKEN),
        Endpoint("client.pushrule", "GET", rule, "client", get_rule, _TOKEN),
        Endpoint("client.pushrule_set", "PUT", rule, "client", put_rule, _TOKEN),
        Endpoint("client.pushrule_delete", "DELETE", rule, "client", delete_rule, _TOKEN),
        Endpoint(
            "client.pushrule_enabled", "GET", f"{rule}/enabled", "client", get_enabled, _TOKEN
        ),
        Endpoint(
            "client.pushrule_enabled_set", "PUT", f"{rule}/enabled", "client", put_enabled, _TOKEN
        ),
        Endpoint(
            "client.pushrule_actions", "GET", f"{rule}/actions", "client", get_actions, _TOKEN
        ),
        Endpoint(
            "client.pushrule_actions_set", "PUT", f"{rule}/actions", "client", put_actions, _TOKEN
        ),
    ]
