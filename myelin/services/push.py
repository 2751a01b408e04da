"""Push rules and unread notification counts (spec: Client-Server API, "Push Rules: API",
"Push Rules: Events", "Receiving notifications" and "Unread notifications").

``PushRuleService`` serves the push rules API: a user's changes to the server defaults are
stored (``myelin.core.push.UserPushRules``) and every change is published as the user's
``m.push_rules`` global account data, so that ``/sync`` carries it.

``PushEvaluator.actions_for`` runs in the write path before an event is persisted: it
evaluates the event against the push rules of each local member it concerns, and those it
notifies or highlights are recorded with the event, in its database transaction, with the
event's thread, for the unread counts and ``/notifications``.
"""

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.core.events import EventView
from myelin.core.power_levels import parse_power_level, user_power_level
from myelin.core.push import (
    CompiledRuleset,
    EventEvaluator,
    InvalidPushRuleError,
    MalformedPushRuleError,
    PushRule,
    PushRuleAnchorNotFoundError,
    PushRuleError,
    PushRuleNotFoundError,
    Ruleset,
    UserPushRules,
    compile_ruleset,
    delete_rule,
    merge_ruleset,
    parse_kind,
    put_rule,
    set_actions,
    set_enabled,
)
from myelin.core.room_versions import RoomVersion, get_room_version
from myelin.services.errors import MatrixError
from myelin.services.receipts import EventReader, event_thread_id
from myelin.services.sync.provider import SyncRequest, SyncResponse
from myelin.services.visibility import EventsReader, StateCache, StateReader
from myelin.storage.events import StoredEvent
from myelin.storage.push_actions import (
    Counts,
    NotificationRecord,
    PendingPushActions,
    PushActionRow,
    RoomCounts,
)
from myelin.storage.rooms import RoomRecord

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
PUSH_RULES_TYPE = "m.push_rules"


def push_rule_error(error: PushRuleError) -> MatrixError:
    """The API error for a failed push rule operation."""
    if isinstance(error, PushRuleNotFoundError):
        return MatrixError(404, "M_NOT_FOUND", str(error))
    if isinstance(error, PushRuleAnchorNotFoundError):
        return MatrixError(400, "M_UNKNOWN", str(error))
    if isinstance(error, MalformedPushRuleError):
        return MatrixError(400, "M_BAD_JSON", str(error))
    if isinstance(error, InvalidPushRuleError):
        return MatrixError(400, "M_INVALID_PARAM", str(error))
    return MatrixError(400, "M_UNKNOWN", str(error))


class PushRuleStorage(Protocol):
    async def get_push_rules(self, user_id: str) -> UserPushRules: ...

    async def get_push_rules_for_users(
        self, user_ids: Sequence[str]
    ) -> dict[str, UserPushRules]: ...

    async def set_push_rules(self, user_id: str, rules: UserPushRules, *, now_ms: int) -> None: ...


class AccountDataSetter(Protocol):
    async def set_account_data(
        self, user_id: str, room_id: str | None, data_type: str, content: JsonDict
    ) -> int: ...


class PushRuleService:
    def __init__(
        self, store: PushRuleStorage, account_data: AccountDataSetter, clock: Clock
    ) -> None:
        self._store = store
        self._account_data = account_data
        self._clock = clock

    async def ruleset(self, user_id: str) -> Ruleset:
        return merge_ruleset(user_id, await self._store.get_push_rules(user_id))

    async def get_rule(self, user_id: str, kind: str, rule_id: str) -> PushRule:
        try:
            return (await self.ruleset(user_id)).find(parse_kind(kind), rule_id)
        except PushRuleError as e:
            raise push_rule_error(e) from e

    async def put_rule(
        self,
        user_id: str,
        kind: str,
        rule_id: str,
        body: Any,
        *,
        before: str | None,
        after: str | None,
    ) -> None:
        await self._change(
            user_id,
            lambda stored: put_rule(stored, kind, rule_id, body, before=before, after=after),
        )

    async def delete_rule(self, user_id: str, kind: str, rule_id: str) -> None:
        await self._change(user_id, lambda stored: delete_rule(stored, kind, rule_id))

    async def set_enabled(self, user_id: str, kind: str, rule_id: str, enabled: Any) -> None:
        await self._change(
            user_id, lambda stored: set_enabled(stored, user_id, kind, rule_id, enabled)
        )

    async def set_actions(self, user_id: str, kind: str, rule_id: str, actions: Any) -> None:
        await self._change(
            user_id, lambda stored: set_actions(stored, user_id, kind, rule_id, actions)
        )

    async def _change(self, user_id: str, edit: Callable[[UserPushRules], UserPushRules]) -> None:
        stored = await self._store.get_push_rules(user_id)
        try:
            changed = edit(stored)
        except PushRuleError as e:
            raise push_rule_error(e) from e
        await self._store.set_push_rules(user_id, changed, now_ms=self._clock.now_ms())
        content = merge_ruleset(user_id, changed).account_data_content()
        await self._account_data.set_account_data(user_id, None, PUSH_RULES_TYPE, content)


# --- Evaluation on persist -------------------------------------------------------------------


class EventLoader(EventReader, Protocol):
    async def get_events(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]: ...


class PushRuleTexts(Protocol):
    async def get_push_rules_texts(self, user_ids: Sequence[str]) -> dict[str, str]: ...


def _content(stored: StoredEvent | None) -> Mapping[str, Any]:
    if stored is None:
        return {}
    content = stored.json().get("content")
    return content if isinstance(content, Mapping) else {}


@dataclass(frozen=True)
class _RoomFacts:
    """What evaluation needs of a room state: the joined members (with their display names),
    the create and power levels events and the notification levels."""

    joined: Mapping[str, str | None]
    create: EventView | None
    power_levels: EventView | None
    notification_levels: Mapping[str, int]


# Cache sizes: room states (by state group) and users' merged rulesets.
ROOM_FACTS_CACHE = 512
RULESET_CACHE = 10_000


class PushEvaluator:
    """Evaluates each new event for the local members it concerns (see the module doc).

    Two caches keep a send cheap, both correct by construction: the facts of a room state are
    keyed by its state group (a stored group never changes; group IDs are never reused), and a
    user's merged ruleset, compiled for ``EventEvaluator``, by the stored text of their changes
    (read on every event, one query for all members: any change of the rules changes the key).
    One ``EventEvaluator`` per event runs each distinct test once for all the members."""

    def __init__(
        self,
        *,
        server_name: str,
        rules: PushRuleTexts,
        events: EventLoader,
        clock: Clock,
    ) -> None:
        self._suffix = ":" + server_name
        self._rules = rules
        self._events = events
        self._clock = clock
        self._facts: OrderedDict[int, _RoomFacts] = OrderedDict()
        self._rulesets: OrderedDict[tuple[str, str | None], CompiledRuleset] = OrderedDict()

    async def actions_for(
        self,
        event: EventView,
        state: Mapping[tuple[str, str], str],
        state_group: int | None,
    ) -> PendingPushActions | None:
        """The event's notifications given the room state at it, with the implicit read of
        its sender when local; failures are logged and give None, never raised (the event must
        still be sent)."""
        try:
            pending = await self._evaluate(event, state, state_group)
        except Exception:
            logger.exception("Push rule evaluation failed for %s", event.event_id)
            pending = None
        if not event.sender.endswith(self._suffix):
            return pending
        # Spec, "Receiving notifications": a user who sends an event has read the earlier
        # notifications of its thread (the main timeline, or the thread it is in), "either by
        # using the API or by sending an event". Like Conduit, and unlike Synapse (which only
        # resets counts on an explicit receipt), no receipt is sent to anyone for it.
        try:
            if pending is None:
                thread_id = await event_thread_id(self._events, event.json)
                pending = PendingPushActions((), thread_id, self._clock.now_ms())
            return replace(pending, read_by=event.sender)
        except Exception:
            logger.exception("Thread lookup failed for %s", event.event_id)
            return pending

    async def _room_facts(
        self, event: EventView, state: Mapping[tuple[str, str], str], state_group: int | None
    ) -> _RoomFacts:
        if state_group is not None:
            cached = self._facts.get(state_group)
            if cached is not None:
                self._facts.move_to_end(state_group)
                return cached
        member_ids = [event_id for key, event_id in state.items() if key[0] == "m.room.member"]
        pl_id = state.get(("m.room.power_levels", ""))
        create_id = state.get(("m.room.create", ""))
        wanted = member_ids + [i for i in (pl_id, create_id) if i is not None]
        loaded = await self._events.get_events(wanted)
        joined: dict[str, str | None] = {}
        for event_id in member_ids:
            stored = loaded.get(event_id)
            if stored is None or stored.state_key is None:
                continue
            content = _content(stored)
            if content.get("membership") == "join":
                name = content.get("displayname")
                joined[stored.state_key] = name if isinstance(name, str) else None
        version = event.room_version
        views: dict[str | None, EventView | None] = {None: None}
        for wanted_id in (pl_id, create_id):
            found = loaded.get(wanted_id) if wanted_id is not None else None
            views[wanted_id] = (
                None if found is None else EventView(found.json(), found.event_id, version)
            )
        facts = _RoomFacts(
            joined,
            views[create_id],
            views[pl_id],
            _notification_levels(version, _content(loaded.get(pl_id or ""))),
        )
        if state_group is not None:
            self._facts[state_group] = facts
            if len(self._facts) > ROOM_FACTS_CACHE:
                self._facts.popitem(last=False)
        return facts

    async def _rulesets_for(self, user_ids: Sequence[str]) -> dict[str, CompiledRuleset]:
        texts = await self._rules.get_push_rules_texts(user_ids)
        found: dict[str, CompiledRuleset] = {}
        for user_id in user_ids:
            key = (user_id, texts.get(user_id))
            ruleset = self._rulesets.get(key)
            if ruleset is None:
                stored = UserPushRules() if key[1] is None else _parse_rules(key[1])
                ruleset = compile_ruleset(user_id, merge_ruleset(user_id, stored))
                self._rulesets[key] = ruleset
                if len(self._rulesets) > RULESET_CACHE:
                    self._rulesets.popitem(last=False)
            else:
                self._rulesets.move_to_end(key)
            found[user_id] = ruleset
        return found

    async def _evaluate(
        self, event: EventView, state: Mapping[tuple[str, str], str], state_group: int | None
    ) -> PendingPushActions | None:
        facts = await self._room_facts(event, state, state_group)
        joined = facts.joined
        targets = [u for u in joined if u.endswith(self._suffix) and u != event.sender]
        # The invitee of an invite is not joined yet, but .m.rule.invite_for_me is for them.
        invitee = event.state_key if event.type == "m.room.member" else None
        if (
            invitee is not None
            and event.content.get("membership") == "invite"
            and invitee.endswith(self._suffix)
            and invitee != event.sender
            and invitee not in targets
        ):
            targets.append(invitee)
        elif len(joined) <= 1:
            return None  # nobody to notify in a room of one
        if not targets:
            return None
        level = user_power_level(event.room_version, event.sender, facts.create, facts.power_levels)
        # Infinite power (room v12 creators) is above every notification level.
        sender_level = 2**53 if level == float("inf") else int(level)
        rulesets = await self._rulesets_for(targets)
        pdu = dict(event.json)
        pdu.setdefault("room_id", event.room_id)
        evaluator = EventEvaluator(
            pdu,
            member_count=len(joined),
            sender_power_level=sender_level,
            notification_levels=facts.notification_levels,
        )
        rows: list[PushActionRow] = []
        for user_id in targets:
            # The members with the same actions share one actions tuple (stored as one text).
            outcome = evaluator.outcome(rulesets[user_id], joined.get(user_id))
            if outcome.notify or outcome.highlight:
                rows.append(
                    PushActionRow(user_id, outcome.actions, outcome.notify, outcome.highlight)
                )
        if not rows:
            return None
        return PendingPushActions(
            rows, await event_thread_id(self._events, event.json), self._clock.now_ms()
        )


def _parse_rules(text: str) -> UserPushRules:
    return UserPushRules.from_json(json.loads(text))


def _notification_levels(version: RoomVersion, pl_content: Mapping[str, Any]) -> dict[str, int]:
    """The room's notification levels (``notifications`` of the power levels)."""
    notifications = pl_content.get("notifications")
    levels: dict[str, int] = {}
    if isinstance(notifications, Mapping):
        for key, value in notifications.items():
            parsed = parse_power_level(version, value)
            if parsed is not None:
                levels[str(key)] = parsed
    return levels


# --- Listing notifications -------------------------------------------------------------------


class NotificationReader(Protocol):
    async def get_notifications(
        self, user_id: str, *, before: int | None, limit: int, only_highlight: bool
    ) -> list[NotificationRecord]: ...


class RoomVersionReader(Protocol):
    async def get_room(self, room_id: str) -> RoomRecord | None: ...


class Presenter(Protocol):
    async def present(
        self,
        cache: StateCache,
        room_version: RoomVersion,
        events: Sequence[StoredEvent],
        *,
        user_id: str,
        device_id: str | None,
        memberships: Mapping[str, str] | None = None,
        bundle: bool = True,
        include_room_id: bool = True,
    ) -> list[dict[str, Any]]: ...


class NotificationService:
    """``GET /notifications``: the events that notified the user, newest first."""

    def __init__(
        self,
        *,
        actions: NotificationReader,
        events: EventsReader,
        state: StateReader,
        rooms: RoomVersionReader,
        presenter: Presenter,
    ) -> None:
        self._actions = actions
        self._events = events
        self._state = state
        self._rooms = rooms
        self._presenter = presenter

    async def list_notifications(
        self,
        user_id: str,
        device_id: str | None,
        *,
        before: int | None,
        limit: int,
        only_highlight: bool,
    ) -> JsonDict:
        records = await self._actions.get_notifications(
            user_id, before=before, limit=limit, only_highlight=only_highlight
        )
        cache = StateCache(self._events, self._state)
        loaded = await cache.load([r.event_id for r in records])
        served: list[JsonDict] = []
        for record in records:
            stored = loaded.get(record.event_id)
            room = await self._rooms.get_room(record.room_id)
            if stored is None or room is None:
                continue  # purged since
            (event,) = await self._presenter.present(
                cache,
                get_room_version(room.room_version),
                [stored],
                user_id=user_id,
                device_id=device_id,
                bundle=False,
                include_room_id=False,
            )
            served.append(
                {
                    "actions": record.actions,
                    "event": event,
                    "read": record.read,
                    "room_id": record.room_id,
                    "ts": record.ts,
                }
            )
        body: JsonDict = {"notifications": served}
        if len(records) == limit and records:
            body["next_token"] = str(records[-1].stream_ordering)
        return body


# --- Unread counts in /sync ------------------------------------------------------------------


class CountsReader(Protocol):
    async def get_unread_counts(
        self, user_id: str, room_ids: Sequence[str]
    ) -> dict[str, RoomCounts]: ...


def _counts_json(counts: Counts) -> JsonDict:
    return {
        "notification_count": counts.notification_count,
        "highlight_count": counts.highlight_count,
    }


class UnreadCountsDecorator:
    """``unread_notifications`` (and, when the timeline filter asks for it,
    ``unread_thread_notifications``) of each joined room in the response.

    Without ``unread_thread_notifications`` the counts of every thread are added to the
    room's; with it the room's counts are the main timeline's and each thread with unread
    notifications is listed apart (spec: "Unread notifications").
    """

    def __init__(self, counts: CountsReader) -> None:
        self._counts = counts

    async def decorate(self, request: SyncRequest, response: SyncResponse) -> None:
        room_ids = [room_id for room_id, room in response.join.items() if room]
        if not room_ids:
            return
        counts = await self._counts.get_unread_counts(request.user_id, room_ids)
        per_thread = request.filter.room.timeline.unread_thread_notifications
        for room_id in room_ids:
            room, found = response.join[room_id], counts[room_id]
            if per_thread:
                room.unread_notifications = _counts_json(found.main)
                room.unread_thread_notifications = {
                    thread: _counts_json(c) for thread, c in sorted(found.threads.items())
                }
            else:
                room.unread_notifications = _counts_json(found.total())
