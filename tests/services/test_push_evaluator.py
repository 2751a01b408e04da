"""Push evaluation on persist (``PushEvaluator``, spec: Client-Server API, "Push Rules",
"Receiving notifications"): the actions recorded for each local member are exactly those of
the plain ``evaluate`` with that member's rules, display name and context, and a change of a
member's rules applies to the next event although compiled rulesets are cached."""

import json
from collections.abc import Sequence
from typing import Any

from myelin.core.events import EventView
from myelin.core.push import (
    PushContext,
    UserPushRules,
    evaluate,
    merge_ruleset,
    put_rule,
    set_enabled,
    should_highlight,
    should_notify,
)
from myelin.core.room_versions import get_room_version
from myelin.services.push import PushEvaluator
from myelin.storage import StoredEvent

SERVER = "example.org"
ROOM = "!room:example.org"
V10 = get_room_version("10")
ALICE, BOB, CAROL, DAVE, ERIN = (
    f"@{name}:{SERVER}" for name in ("alice", "bob", "carol", "dave", "erin")
)
REMOTE = "@zed:remote.org"
NAMES = {ALICE: "Alice", BOB: "Bob", CAROL: "Robert", DAVE: None, ERIN: "Robert", REMOTE: "Zed"}
POWER = {"users": {ALICE: 50, BOB: 100}, "notifications": {"room": 60}}


class FakeClock:
    def now_ms(self) -> int:
        return 1_000

    def monotonic(self) -> float:
        return 1.0

    async def sleep(self, seconds: float) -> None:
        return None


class FakeRules:
    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def set(self, user_id: str, rules: UserPushRules) -> None:
        self.texts[user_id] = json.dumps(rules.to_json())

    def stored(self, user_id: str) -> UserPushRules:
        text = self.texts.get(user_id)
        return UserPushRules() if text is None else UserPushRules.from_json(json.loads(text))

    async def get_push_rules_texts(self, user_ids: Sequence[str]) -> dict[str, str]:
        return {u: self.texts[u] for u in user_ids if u in self.texts}


class FakeEvents:
    def __init__(self) -> None:
        self.events: dict[str, StoredEvent] = {}

    def add(self, event_id: str, event_type: str, state_key: str, content: dict[str, Any]) -> None:
        pdu = {
            "type": event_type,
            "state_key": state_key,
            "content": content,
            "sender": ALICE,
            "room_id": ROOM,
        }
        self.events[event_id] = StoredEvent(
            event_id, ROOM, event_type, state_key, ALICE, 1, 1, 1, len(self.events) + 1,
            False, None, False, json.dumps(pdu),
        )  # fmt: skip

    async def get_event(self, event_id: str) -> StoredEvent | None:
        return self.events.get(event_id)

    async def get_events(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
        return {i: self.events[i] for i in event_ids if i in self.events}


def _room() -> tuple[FakeEvents, dict[tuple[str, str], str]]:
    events = FakeEvents()
    state: dict[tuple[str, str], str] = {}
    for user_id, name in NAMES.items():
        content: dict[str, Any] = {"membership": "join"}
        if name is not None:
            content["displayname"] = name
        events.add(f"$m-{user_id}", "m.room.member", user_id, content)
        state["m.room.member", user_id] = f"$m-{user_id}"
    events.add("$create", "m.room.create", "", {"room_version": "10"})
    events.add("$pl", "m.room.power_levels", "", POWER)
    state["m.room.create", ""], state["m.room.power_levels", ""] = "$create", "$pl"
    return events, state


def _rules() -> FakeRules:
    rules = FakeRules()
    none = UserPushRules()
    rules.set(
        BOB,
        put_rule(
            none,
            "override",
            "lunch",
            {
                "conditions": [{"kind": "event_match", "key": "content.body", "pattern": "lunch"}],
                "actions": ["notify", {"set_tweak": "highlight"}],
            },
        ),
    )
    rules.set(
        CAROL,
        put_rule(
            none,
            "override",
            "name",
            {
                "conditions": [{"kind": "contains_display_name"}],
                "actions": ["notify", {"set_tweak": "highlight"}],
            },
        ),
    )
    rules.set(DAVE, set_enabled(none, DAVE, "override", ".m.rule.master", True))
    return rules


def _message(event_id: str, sender: str, content: dict[str, Any]) -> EventView:
    pdu = {"type": "m.room.message", "content": content, "sender": sender, "room_id": ROOM}
    return EventView(pdu, event_id, V10)


def _expected(rules: FakeRules, event: EventView) -> dict[str, tuple[Any, bool, bool]]:
    """What the plain path records: every local joined member but the sender."""
    found = {}
    level = POWER["users"].get(event.sender, 0)
    for user_id, name in NAMES.items():
        if not user_id.endswith(":" + SERVER) or user_id == event.sender:
            continue
        context = PushContext(user_id, len(NAMES), name, level, {"room": 60})
        ruleset = merge_ruleset(user_id, rules.stored(user_id))
        actions = evaluate(ruleset, dict(event.json), context)
        if should_notify(actions) or should_highlight(actions):
            found[user_id] = (list(actions), should_notify(actions), should_highlight(actions))
    return found


async def _recorded(
    evaluator: PushEvaluator, event: EventView, state: dict[tuple[str, str], str]
) -> dict[str, tuple[Any, bool, bool]]:
    pending = await evaluator.actions_for(event, state, 7)
    assert pending is not None
    assert pending.read_by == (event.sender if event.sender.endswith(":" + SERVER) else None)
    return {r.user_id: (list(r.actions), r.notify, r.highlight) for r in pending.rows}


async def test_each_member_gets_the_plain_paths_actions() -> None:
    events, state = _room()
    rules = _rules()
    evaluator = PushEvaluator(server_name=SERVER, rules=rules, events=events, clock=FakeClock())
    contents: list[tuple[str, dict[str, Any]]] = [
        (ALICE, {"msgtype": "m.text", "body": "hello"}),
        (ALICE, {"msgtype": "m.text", "body": "lunch, Robert?"}),
        (ERIN, {"msgtype": "m.text", "body": "robert: lunch"}),
        (ALICE, {"msgtype": "m.notice", "body": "Robert"}),
        (ALICE, {"body": "x", "m.mentions": {"user_ids": [DAVE, ERIN]}}),
        (ALICE, {"body": "all", "m.mentions": {"room": True}}),  # level 50 < 60: no highlight
        (BOB, {"body": "all", "m.mentions": {"room": True}}),  # level 100: highlights
        (REMOTE, {"body": "from afar, Bob"}),
    ]
    for index, (sender, content) in enumerate(contents):
        event = _message(f"$e{index}", sender, content)
        expected = _expected(rules, event)
        assert await _recorded(evaluator, event, state) == expected, content
    # Highlights reach only those whose own rules or mentions ask for them.
    event = _message("$check", ALICE, {"body": "lunch, Robert?"})
    recorded = await _recorded(evaluator, event, state)
    assert {u for u, (_, _, highlight) in recorded.items() if highlight} == {BOB, CAROL}
    assert DAVE not in recorded  # master rule on


async def test_a_rule_change_applies_to_the_next_event() -> None:
    events, state = _room()
    rules = _rules()
    evaluator = PushEvaluator(server_name=SERVER, rules=rules, events=events, clock=FakeClock())
    event = _message("$a", ALICE, {"body": "hello"})
    assert (await _recorded(evaluator, event, state))[ERIN] == (["notify"], True, False)
    rules.set(ERIN, put_rule(UserPushRules(), "room", ROOM, {"actions": []}))
    event = _message("$b", ALICE, {"body": "hello"})
    recorded = await _recorded(evaluator, event, state)
    assert ERIN not in recorded and recorded == _expected(rules, event)
    del rules.texts[ERIN]
    event = _message("$c", ALICE, {"body": "hello"})
    assert (await _recorded(evaluator, event, state))[ERIN] == (["notify"], True, False)
