"""Push rules and unread notification counts (spec: Client-Server API, "Push Rules: API",
"Push Rules: Events", "Receiving notifications" and "Unread notifications").

``PushRuleService`` serves the push rules API: a user's changes to the server defaults are
stored (``myelin.core.push.UserPushRules``) and every change is published as the user's
``m.push_rules`` global account data, so that ``/sync`` carries it.

``PushEvaluator.on_event`` runs after the write path persists an event: it evaluates the
event against the push rules of each local member it concerns and records those it notifies
or highlights, with the event's thread, for the unread counts and ``/notifications``.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.core.events import EventView
from myelin.core.power_levels import parse_power_level, user_power_level
from myelin.core.push import (
    InvalidPushRuleError,
    MalformedPushRuleError,
    PushContext,
    PushRule,
    PushRuleAnchorNotFoundError,
    PushRuleError,
    PushRuleNotFoundError,
    Ruleset,
    UserPushRules,
    delete_rule,
    evaluate,
    merge_ruleset,
    parse_kind,
    put_rule,
    set_actions,
    set_enabled,
    should_highlight,
    should_notify,
)
from myelin.core.room_versions import RoomVersion, get_room_version
from myelin.services.errors import MatrixError
from myelin.services.receipts import EventReader, event_thread_id
from myelin.services.sync.provider import SyncRequest, SyncResponse
from myelin.services.visibility import EventsReader, StateCache, StateReader
from myelin.storage.events import StoredEvent
from myelin.storage.push_actions import Counts, NotificationRecord, PushActionRow, RoomCounts
from myelin.storage.rooms import RoomRecord
from myelin.storage.state import StateMap

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


class CurrentStateReader(Protocol):
    async def get_current_state(self, room_id: str) -> StateMap: ...


class PushActionWriter(Protocol):
    async def add_push_actions(
        self,
        event_id: str,
        room_id: str,
        rows: Sequence[PushActionRow],
        *,
        thread_id: str,
        stream_ordering: int,
        ts: int,
    ) -> None: ...


def _content(stored: StoredEvent | None) -> Mapping[str, Any]:
    if stored is None:
        return {}
    content = stored.json().get("content")
    return content if isinstance(content, Mapping) else {}


class PushEvaluator:
    """Evaluates each new event for the local members it concerns (see the module doc)."""

    def __init__(
        self,
        *,
        server_name: str,
        rules: PushRuleStorage,
        events: EventLoader,
        state: CurrentStateReader,
        actions: PushActionWriter,
        clock: Clock,
    ) -> None:
        self._suffix = ":" + server_name
        self._rules = rules
        self._events = events
        self._state = state
        self._actions = actions
        self._clock = clock

    async def on_event(self, event: EventView, stream_ordering: int) -> None:
        """Record the event's notifications; failures are logged, never raised (the event is
        durable already and its sender must get their answer)."""
        try:
            await self._evaluate(event, stream_ordering)
        except Exception:
            logger.exception("Push rule evaluation failed for %s", event.event_id)

    async def _evaluate(self, event: EventView, stream_ordering: int) -> None:
        state = await self._state.get_current_state(event.room_id)
        joined_keys = [key for key in state if key[0] == "m.room.member"]
        wanted = [state[key] for key in joined_keys]
        for key in (("m.room.power_levels", ""), ("m.room.create", "")):
            if key in state:
                wanted.append(state[key])
        loaded = await self._events.get_events(wanted)
        joined: dict[str, Mapping[str, Any]] = {}
        for (_, user_id), event_id in ((k, state[k]) for k in joined_keys):
            content = _content(loaded.get(event_id))
            if content.get("membership") == "join":
                joined[user_id] = content
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
            return  # nobody to notify in a room of one
        if not targets:
            return
        context = self._context_parts(event, state, loaded)
        stored_rules = await self._rules.get_push_rules_for_users(targets)
        pdu = dict(event.json)
        pdu.setdefault("room_id", event.room_id)
        rows: list[PushActionRow] = []
        for user_id in targets:
            name = joined.get(user_id, {}).get("displayname")
            ruleset = merge_ruleset(user_id, stored_rules.get(user_id, UserPushRules()))
            actions = evaluate(
                ruleset,
                pdu,
                PushContext(
                    user_id=user_id,
                    member_count=len(joined),
                    display_name=name if isinstance(name, str) else None,
                    sender_power_level=context[0],
                    notification_levels=context[1],
                ),
            )
            notify, highlight = should_notify(actions), should_highlight(actions)
            if notify or highlight:
                rows.append(PushActionRow(user_id, list(actions), notify, highlight))
        if rows:
            await self._actions.add_push_actions(
                event.event_id,
                event.room_id,
                rows,
                thread_id=await event_thread_id(self._events, event.json),
                stream_ordering=stream_ordering,
                ts=self._clock.now_ms(),
            )

    def _context_parts(
        self, event: EventView, state: StateMap, loaded: Mapping[str, StoredEvent]
    ) -> tuple[int, dict[str, int]]:
        """The sender's power level and the room's notification levels."""
        version = event.room_version
        views: dict[str, EventView | None] = {}
        for key in ("m.room.power_levels", "m.room.create"):
            stored = loaded.get(state.get((key, ""), ""))
            views[key] = (
                None if stored is None else EventView(stored.json(), stored.event_id, version)
            )
        level = user_power_level(
            version, event.sender, views["m.room.create"], views["m.room.power_levels"]
        )
        # Infinite power (room v12 creators) is above every notification level.
        sender_level = 2**53 if level == float("inf") else int(level)
        notifications = _content(loaded.get(state.get(("m.room.power_levels", ""), ""))).get(
            "notifications"
        )
        levels: dict[str, int] = {}
        if isinstance(notifications, Mapping):
            for key, value in notifications.items():
                parsed = parse_power_level(version, value)
                if parsed is not None:
                    levels[str(key)] = parsed
        return sender_level, levels


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
