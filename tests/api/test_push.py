"""Push rules API, unread notification counts in /sync, /notifications and pushers over HTTP."""

import json
from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, serve_accounts
from tests.api.conftest import ServeFn
from tests.api.openapi import error_schema, validate, validate_response
from tests.api.room_support import User, new_user

RULES = "client-server/pushrules.yaml"


async def sync(user: User, **params: Any) -> Any:
    if isinstance(params.get("filter"), dict):
        params["filter"] = json.dumps(params["filter"])
    body = await user.request("GET", f"{V3}/sync", params=params)
    validate_response(body, "client-server/sync.yaml", "/sync", "get", 200)
    return body


def rule_path(kind: str, rule_id: str, suffix: str = "") -> str:
    return f"{V3}/pushrules/global/{kind}/{quote(rule_id)}{suffix}"


async def test_push_rules_api(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    everything = await alice.request("GET", f"{V3}/pushrules/")
    validate_response(everything, RULES, "/pushrules/", "get", 200)
    ids = [r["rule_id"] for r in everything["global"]["override"]]
    assert ids[0] == ".m.rule.master"
    glob = await alice.request("GET", f"{V3}/pushrules/global/")
    validate_response(glob, RULES, "/pushrules/global/", "get", 200)
    assert glob == everything["global"]
    first = await sync(alice)
    # Create two content rules, the second before the first.
    await alice.request(
        "PUT", rule_path("content", "cake"), json={"pattern": "cake*", "actions": ["notify"]}
    )
    await alice.request(
        "PUT",
        rule_path("content", "pie"),
        json={"pattern": "pie", "actions": ["notify"]},
        params={"before": "cake"},
    )
    content = (await alice.request("GET", f"{V3}/pushrules/global/"))["content"]
    assert [r["rule_id"] for r in content][:2] == ["pie", "cake"]
    rule = await alice.request("GET", rule_path("content", "cake"))
    validate_response(rule, RULES, "/pushrules/global/{kind}/{ruleId}", "get", 200)
    assert rule["pattern"] == "cake*" and rule["enabled"] and not rule["default"]
    # enabled and actions, on user rules and server-default rules alike.
    await alice.request("PUT", rule_path("content", "cake", "/enabled"), json={"enabled": False})
    enabled = await alice.request("GET", rule_path("content", "cake", "/enabled"))
    validate_response(enabled, RULES, "/pushrules/global/{kind}/{ruleId}/enabled", "get", 200)
    assert enabled == {"enabled": False}
    await alice.request(
        "PUT", rule_path("override", ".m.rule.master", "/enabled"), json={"enabled": True}
    )
    assert (await alice.request("GET", rule_path("override", ".m.rule.master", "/enabled")))[
        "enabled"
    ]
    await alice.request(
        "PUT", rule_path("underride", ".m.rule.message", "/actions"), json={"actions": []}
    )
    actions = await alice.request("GET", rule_path("underride", ".m.rule.message", "/actions"))
    validate_response(actions, RULES, "/pushrules/global/{kind}/{ruleId}/actions", "get", 200)
    assert actions == {"actions": []}
    # Changes are the user's m.push_rules account data in /sync.
    later = await sync(alice, since=first["next_batch"])
    (push_rules,) = [e for e in later["account_data"]["events"] if e["type"] == "m.push_rules"]
    master = push_rules["content"]["global"]["override"][0]
    assert master["rule_id"] == ".m.rule.master" and master["enabled"]
    await alice.request("DELETE", rule_path("content", "pie"))
    error = await alice.request("GET", rule_path("content", "pie"), status=404)
    assert error["errcode"] == "M_NOT_FOUND"
    validate(error, error_schema())


async def test_push_rules_errors(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice = await new_user(client, "alice")
    cases: list[tuple[str, str, Any, dict[str, str], int, str]] = [
        ("PUT", rule_path("content", "x"), {"actions": ["notify"]}, {}, 400, "M_BAD_JSON"),
        ("PUT", rule_path("content", "x"), {"pattern": "x"}, {}, 400, "M_BAD_JSON"),
        (
            "PUT",
            rule_path("content", ".x"),
            {"pattern": "x", "actions": []},
            {},
            400,
            "M_INVALID_PARAM",
        ),
        ("PUT", rule_path("nonsense", "x"), {"actions": []}, {}, 400, "M_INVALID_PARAM"),
        ("PUT", rule_path("room", "notaroom"), {"actions": []}, {}, 400, "M_INVALID_PARAM"),
        (
            "PUT",
            rule_path("override", "x"),
            {"actions": ["wobble"]},
            {},
            400,
            "M_INVALID_PARAM",
        ),
        (
            "PUT",
            rule_path("override", "x"),
            {"actions": []},
            {"after": "missing"},
            400,
            "M_UNKNOWN",
        ),
        ("DELETE", rule_path("override", ".m.rule.master"), None, {}, 400, "M_INVALID_PARAM"),
        ("DELETE", rule_path("override", "missing"), None, {}, 404, "M_NOT_FOUND"),
        ("GET", rule_path("override", "missing", "/enabled"), None, {}, 404, "M_NOT_FOUND"),
        (
            "PUT",
            rule_path("override", "missing", "/enabled"),
            {"enabled": True},
            {},
            404,
            "M_NOT_FOUND",
        ),
        (
            "PUT",
            rule_path("override", ".m.rule.master", "/enabled"),
            {},
            {},
            400,
            "M_MISSING_PARAM",
        ),
        (
            "PUT",
            rule_path("override", ".m.rule.master", "/enabled"),
            {"enabled": "yes"},
            {},
            400,
            "M_BAD_JSON",
        ),
        (
            "PUT",
            rule_path("override", ".m.rule.master", "/actions"),
            {},
            {},
            400,
            "M_MISSING_PARAM",
        ),
        ("GET", rule_path("sender", "@nobody:x", "/actions"), None, {}, 404, "M_NOT_FOUND"),
    ]
    for method, path, body, params, status, errcode in cases:
        error = await alice.request(method, path, json=body, params=params, status=status)
        assert error["errcode"] == errcode, (method, path, body, error)
        validate(error, error_schema())


def counts(body: Any, room_id: str) -> dict[str, Any]:
    room = body["rooms"]["join"][room_id]
    return {
        "unread": room["unread_notifications"],
        "threads": room.get("unread_thread_notifications"),
    }


async def test_counts_rise_and_reset(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    first = await sync(bob)
    assert counts(first, room_id)["unread"] == {"notification_count": 0, "highlight_count": 0}
    await alice.send(room_id, "hello")
    # An @room mention from someone allowed to (the creator): a highlight.
    await alice.send(
        room_id, content={"msgtype": "m.text", "body": "all", "m.mentions": {"room": True}}
    )
    mention = await alice.send(
        room_id,
        content={"msgtype": "m.text", "body": "hey", "m.mentions": {"user_ids": [bob.user_id]}},
    )
    body = await sync(bob, since=first["next_batch"])
    assert counts(body, room_id)["unread"] == {"notification_count": 3, "highlight_count": 2}
    # Alice's own messages do not count for her.
    assert counts(await sync(alice), room_id)["unread"]["notification_count"] == 0
    # /notifications lists them newest first.
    listed = await bob.request("GET", f"{V3}/notifications")
    validate_response(listed, "client-server/notifications.yaml", "/notifications", "get", 200)
    assert listed["notifications"][0]["event"]["event_id"] == mention
    assert len(listed["notifications"]) == 3 and not any(n["read"] for n in listed["notifications"])
    highlights = await bob.request("GET", f"{V3}/notifications", params={"only": "highlight"})
    assert len(highlights["notifications"]) == 2
    page = await bob.request("GET", f"{V3}/notifications", params={"limit": "2"})
    assert len(page["notifications"]) == 2
    rest = await bob.request(
        "GET", f"{V3}/notifications", params={"limit": "2", "from": page["next_token"]}
    )
    assert len(rest["notifications"]) == 1
    # A receipt on the latest event resets the counts and marks them read.
    await bob.request(
        "POST", f"{V3}/rooms/{quote(room_id)}/receipt/m.read.private/{quote(mention)}", json={}
    )
    after = await sync(bob, since=body["next_batch"])
    assert counts(after, room_id)["unread"] == {"notification_count": 0, "highlight_count": 0}
    listed = await bob.request("GET", f"{V3}/notifications")
    assert all(n["read"] for n in listed["notifications"])
    for bad in ({"from": "abc"}, {"limit": "x"}, {"limit": "0"}):
        error = await bob.request("GET", f"{V3}/notifications", params=bad, status=400)
        assert error["errcode"] == "M_INVALID_PARAM"
    # Bob's own message never counts for him; it does for Alice (a one-to-one room: notify).
    await bob.send(room_id, "my own message never counts")
    assert counts(await sync(bob), room_id)["unread"]["notification_count"] == 0
    assert counts(await sync(alice), room_id)["unread"]["notification_count"] == 1


async def test_thread_counts_apart(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    root = await alice.send(room_id, "root")
    in_thread = {
        "msgtype": "m.text",
        "body": "reply",
        "m.relates_to": {"rel_type": "m.thread", "event_id": root},
    }
    await alice.send(room_id, content=in_thread)
    last = await alice.send(room_id, content=in_thread)
    threaded_filter = {"room": {"timeline": {"unread_thread_notifications": True}}}
    body = await sync(bob, filter=threaded_filter)
    assert counts(body, room_id) == {
        "unread": {"notification_count": 1, "highlight_count": 0},
        "threads": {root: {"notification_count": 2, "highlight_count": 0}},
    }
    # Without the filter option everything is summed.
    assert counts(await sync(bob), room_id)["unread"]["notification_count"] == 3
    # A threaded receipt clears the thread only.
    await bob.request(
        "POST",
        f"{V3}/rooms/{quote(room_id)}/receipt/m.read/{quote(last)}",
        json={"thread_id": root},
    )
    body = await sync(bob, filter=threaded_filter)
    assert counts(body, room_id) == {
        "unread": {"notification_count": 1, "highlight_count": 0},
        "threads": {},
    }
    # An unthreaded receipt on the root clears the main timeline.
    await bob.request("POST", f"{V3}/rooms/{quote(room_id)}/receipt/m.read/{quote(root)}", json={})
    assert counts(await sync(bob), room_id)["unread"]["notification_count"] == 0


async def test_disabled_rule_stops_counting(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    room_id = await alice.create_room(preset="public_chat")
    await bob.join(room_id)
    await bob.request(
        "PUT", rule_path("room", room_id), json={"actions": []}
    )  # mute the room: no notify
    await alice.send(room_id, "quiet")
    assert counts(await sync(bob), room_id)["unread"]["notification_count"] == 0
    # A room of one notifies nobody (and evaluates nothing).
    lonely = await alice.create_room()
    await alice.send(lonely, "echo")
    assert counts(await sync(alice), lonely)["unread"]["notification_count"] == 0


def pusher(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pushkey": "key1",
        "kind": "http",
        "app_id": "org.example.app",
        "app_display_name": "App",
        "device_display_name": "Phone",
        "lang": "en",
        "data": {
            "url": "https://push.example.org/_matrix/push/v1/notify",
            "format": "event_id_only",
        },
    }
    body.update(changes)
    return body


async def test_pushers(serve: ServeFn) -> None:
    client = await serve_accounts(serve)
    alice, bob = await new_user(client, "alice"), await new_user(client, "bob")
    empty = await alice.request("GET", f"{V3}/pushers")
    validate_response(empty, "client-server/pusher.yaml", "/pushers", "get", 200)
    assert empty == {"pushers": []}
    body = await alice.request("POST", f"{V3}/pushers/set", json=pusher(profile_tag="tag"))
    validate_response(body, "client-server/pusher.yaml", "/pushers/set", "post", 200)
    await alice.request("POST", f"{V3}/pushers/set", json=pusher(pushkey="key2", lang="de"))
    listed = await alice.request("GET", f"{V3}/pushers")
    validate_response(listed, "client-server/pusher.yaml", "/pushers", "get", 200)
    assert [(p["pushkey"], p["lang"]) for p in listed["pushers"]] == [
        ("key1", "en"),
        ("key2", "de"),
    ]
    assert listed["pushers"][0]["profile_tag"] == "tag"
    assert "profile_tag" not in listed["pushers"][1]
    # Bob takes key1 without append: Alice's pusher with that key goes; with append both stay.
    await bob.request("POST", f"{V3}/pushers/set", json=pusher(pushkey="key2", append=True))
    await bob.request("POST", f"{V3}/pushers/set", json=pusher())
    assert [p["pushkey"] for p in (await alice.request("GET", f"{V3}/pushers"))["pushers"]] == [
        "key2"
    ]
    # kind null deletes.
    await alice.request(
        "POST",
        f"{V3}/pushers/set",
        json={"kind": None, "app_id": "org.example.app", "pushkey": "key2"},
    )
    assert (await alice.request("GET", f"{V3}/pushers"))["pushers"] == []
    assert len((await bob.request("GET", f"{V3}/pushers"))["pushers"]) == 2
    cases = [
        ({"kind": "http"}, "M_MISSING_PARAM"),
        (pusher(data={}), "M_MISSING_PARAM"),
        ({k: v for k, v in pusher().items() if k != "lang"}, "M_MISSING_PARAM"),
        (pusher(data={"url": "https://x.example/other"}), "M_INVALID_PARAM"),
        (pusher(data={"url": "ftp://x.example/_matrix/push/v1/notify"}), "M_INVALID_PARAM"),
        (pusher(data={"url": 5}), "M_BAD_JSON"),
        (pusher(data="x"), "M_BAD_JSON"),
        (pusher(kind="carrier-pigeon"), "M_INVALID_PARAM"),
        (pusher(kind=5), "M_BAD_JSON"),
        (pusher(append="yes"), "M_BAD_JSON"),
        (pusher(app_id="a" * 65), "M_INVALID_PARAM"),
        (pusher(pushkey="k" * 513), "M_INVALID_PARAM"),
        (pusher(lang=3), "M_BAD_JSON"),
        (pusher(kind="email", pushkey="a@example.org", app_id="m.email"), "M_THREEPID_NOT_FOUND"),
        (
            pusher(data={"url": "https://x.example/_matrix/push/v1/notify", "format": "full"}),
            "M_INVALID_PARAM",
        ),
    ]
    for body, errcode in cases:
        error = await alice.request("POST", f"{V3}/pushers/set", json=body, status=400)
        assert error["errcode"] == errcode, (body, error)
        validate(error, error_schema())
