"""Room events as a client receives them (spec: Client-Server API, "Room event format",
"Redactions", "Transaction identifiers", "Aggregations of child events": bundled ``m.replace``,
``m.thread`` and ``m.reference``).

``EventPresenter.present`` turns stored events into ``ClientEvent`` JSON: served redacted when a
redaction applies to them (sent by the same server as the event, or by a user whose power level
at the redaction reaches ``redact``; Synapse's rule for room versions 3 and up), with
``unsigned.transaction_id`` for the device that sent them, ``unsigned.prev_content`` and
``replaces_state`` for state events, the user's ``unsigned.membership`` when known, and the
bundled aggregations in ``unsigned.m.relations``.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.core.client_events import (
    age_ts_from_received,
    format_client_event,
    format_federation_event,
)
from myelin.core.events import EventView
from myelin.core.identifiers import server_name_of
from myelin.core.power_levels import power_level_value, user_power_level
from myelin.core.room_versions import RoomVersion
from myelin.services.visibility import StateCache, content_of, event_view
from myelin.storage import RelatedEvent, StoredEvent, ThreadSummary

POWER_LEVELS = ("m.room.power_levels", "")
CREATE = ("m.room.create", "")


class RelationsReader(Protocol):
    async def get_related_parents(self, parent_ids: Sequence[str]) -> set[str]: ...

    async def get_children_of_many(
        self, parent_ids: Sequence[str], rel_type: str
    ) -> dict[str, list[RelatedEvent]]: ...

    async def get_thread_summaries(self, root_ids: Sequence[str]) -> dict[str, ThreadSummary]: ...

    async def get_thread_participants(self, root_ids: Sequence[str], user_id: str) -> set[str]: ...

    async def get_redactions_of(self, event_ids: Sequence[str]) -> dict[str, list[str]]: ...

    async def get_event_links(
        self, event_ids: Sequence[str]
    ) -> tuple[dict[str, list[str]], set[str]]: ...


class TxnIdReader(Protocol):
    async def get_txn_ids(
        self, user_id: str, device_id: str, event_ids: Sequence[str]
    ) -> dict[str, str]: ...


def relation_of(content: Mapping[str, Any]) -> tuple[str, str] | None:
    relates_to = content.get("m.relates_to")
    if not isinstance(relates_to, Mapping):
        return None
    rel_type, target = relates_to.get("rel_type"), relates_to.get("event_id")
    if isinstance(rel_type, str) and isinstance(target, str):
        return rel_type, target
    return None


class EventPresenter:
    def __init__(self, *, relations: RelationsReader, txn_ids: TxnIdReader, clock: Clock) -> None:
        self._relations = relations
        self._txn_ids = txn_ids
        self._clock = clock

    async def redactions(
        self,
        cache: StateCache,
        room_version: RoomVersion,
        events: Sequence[StoredEvent],
        *,
        by_target: Mapping[str, list[str]] | None = None,
    ) -> dict[str, StoredEvent]:
        """The redaction that applies to each redacted event among ``events`` (``by_target``:
        the redactions targeting them, when already read)."""
        if by_target is None:
            by_target = await self._relations.get_redactions_of([e.event_id for e in events])
        if not by_target:
            return {}
        loaded = await cache.load([r for ids in by_target.values() for r in ids])
        targets = {e.event_id: e for e in events}
        applied: dict[str, StoredEvent] = {}
        for target_id, redaction_ids in by_target.items():
            for redaction_id in redaction_ids:
                redaction = loaded.get(redaction_id)
                if redaction is not None and await self._applies(
                    cache, room_version, redaction, targets[target_id]
                ):
                    applied[target_id] = redaction
                    break
        return applied

    async def _applies(
        self,
        cache: StateCache,
        room_version: RoomVersion,
        redaction: StoredEvent,
        target: StoredEvent,
    ) -> bool:
        if redaction.room_id != target.room_id:
            return False
        if server_name_of(redaction.sender) == server_name_of(target.sender):
            return True
        state = await cache.state_before(redaction)
        wanted = [e for e in (state.get(POWER_LEVELS), state.get(CREATE)) if e is not None]
        loaded = await cache.load(wanted)
        pl_id, create_id = state.get(POWER_LEVELS), state.get(CREATE)
        pl = event_view(loaded[pl_id], room_version) if pl_id in loaded else None
        create = event_view(loaded[create_id], room_version) if create_id in loaded else None
        level = user_power_level(room_version, redaction.sender, create, pl)
        return level >= power_level_value(room_version, pl, "redact")

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
        federation_format: bool = False,
    ) -> list[dict[str, Any]]:
        """The client format of ``events`` as ``user_id`` (on ``device_id``) sees them.

        ``federation_format`` (a sync filter's ``event_format: federation``): each event as
        the PDU (redacted when it is), with the same ``unsigned`` additions, as Synapse does.
        """
        if not events:
            return []
        ids = [e.event_id for e in events]
        # Redactions and whether any event relates to them: one read.
        by_target, related = (
            await self._relations.get_event_links(ids)
            if bundle
            else (await self._relations.get_redactions_of(ids), set[str]())
        )
        redacted = await self.redactions(cache, room_version, events, by_target=by_target)
        # A transaction ID is the sending device's: only the user's own events can have one.
        own = [e.event_id for e in events if e.sender == user_id]
        txn_ids = (
            {}
            if device_id is None or not own
            else await self._txn_ids.get_txn_ids(user_id, device_id, own)
        )
        bundles = (
            await self.bundles(cache, room_version, events, user_id, related=related)
            if bundle
            else {}
        )
        served = []
        now = self._clock.now_ms()
        for stored in events:
            pdu = stored.json()
            extra: dict[str, Any] = {}
            if stored.event_id in txn_ids:
                extra["transaction_id"] = txn_ids[stored.event_id]
            if memberships is not None and stored.event_id in memberships:
                extra["membership"] = memberships[stored.event_id]
            if stored.state_key is not None:
                await self._previous_state(cache, stored, extra)
            if stored.event_id in bundles:
                extra["m.relations"] = bundles[stored.event_id]
            redaction = redacted.get(stored.event_id)
            if federation_format:
                served.append(_federation_event(stored, room_version, now, extra, redaction))
                continue
            served.append(
                format_client_event(
                    pdu,
                    stored.event_id,
                    room_version=room_version,
                    now_ms=now,
                    age_ts=age_ts_from_received(pdu, stored.received_ts),
                    include_room_id=include_room_id,
                    unsigned_extra=extra,
                    redacted_by=None if redaction is None else event_view(redaction, room_version),
                    redacted_by_age_ts=None
                    if redaction is None
                    else age_ts_from_received(redaction.json(), redaction.received_ts),
                )
            )
        return served

    async def _previous_state(
        self, cache: StateCache, stored: StoredEvent, extra: dict[str, Any]
    ) -> None:
        """``replaces_state`` and ``prev_content``: the state event this one replaced."""
        if stored.state_key is None:
            return
        before = await cache.state_before(stored)
        previous_id = before.get((stored.type, stored.state_key))
        if previous_id is None or previous_id == stored.event_id:
            return
        previous = (await cache.load([previous_id])).get(previous_id)
        if previous is None:
            return
        extra["replaces_state"] = previous_id
        extra["prev_content"] = dict(content_of(previous))
        extra["prev_sender"] = previous.sender

    async def bundles(
        self,
        cache: StateCache,
        room_version: RoomVersion,
        events: Sequence[StoredEvent],
        user_id: str,
        *,
        related: set[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """``unsigned.m.relations`` of each event that has aggregations (``related``: a
        superset of the events with children, when already read)."""
        parents = {e.event_id: e for e in events if e.type != "m.room.redaction"}
        if parents:
            # One index read finds the events with any child; most have none.
            if related is None:
                related = await self._relations.get_related_parents(list(parents))
            parents = {i: e for i, e in parents.items() if i in related}
        if not parents:
            return {}
        ids = list(parents)
        result: dict[str, dict[str, Any]] = {}
        # m.replace: the most recent valid edit, in full ("Event replacements": same sender,
        # same type, not a state event, not itself an edit; latest by origin_server_ts, then
        # event ID).
        edits = await self._relations.get_children_of_many(ids, "m.replace")
        chosen: dict[str, str] = {}
        for parent_id, children in edits.items():
            parent = parents[parent_id]
            if parent.state_key is not None or _is_edit(parent):
                continue
            valid = [c for c in children if c.sender == parent.sender and c.type == parent.type]
            if valid:
                latest = max(valid, key=lambda c: (c.origin_server_ts, c.event_id))
                chosen[parent_id] = latest.event_id
        # m.thread: count, latest event and whether the user took part ("Threading").
        threads = await self._relations.get_thread_summaries(ids)
        participated = (
            await self._relations.get_thread_participants(list(threads), user_id)
            if threads
            else set()
        )
        loaded = await cache.load(
            [*chosen.values(), *(t.latest_event_id for t in threads.values())]
        )
        served = {
            s["event_id"]: s
            for s in await self.present(
                cache,
                room_version,
                list(loaded.values()),
                user_id=user_id,
                device_id=None,
                bundle=False,
            )
        }
        for parent_id, edit_id in chosen.items():
            if edit_id in served:
                result.setdefault(parent_id, {})["m.replace"] = served[edit_id]
        for root_id, summary in threads.items():
            if summary.latest_event_id not in served:
                continue
            result.setdefault(root_id, {})["m.thread"] = {
                "latest_event": served[summary.latest_event_id],
                "count": summary.count,
                "current_user_participated": root_id in participated
                or parents[root_id].sender == user_id,
            }
        # m.reference: the IDs of the referencing events.
        references = await self._relations.get_children_of_many(ids, "m.reference")
        for parent_id, children in references.items():
            result.setdefault(parent_id, {})["m.reference"] = {
                "chunk": [{"event_id": c.event_id} for c in children]
            }
        return result


def _is_edit(stored: StoredEvent) -> bool:
    relation = relation_of(content_of(stored))
    return relation is not None and relation[0] == "m.replace"


def view_of(stored: StoredEvent, room_version: RoomVersion) -> EventView:
    return event_view(stored, room_version)


def _federation_event(
    stored: StoredEvent,
    room_version: RoomVersion,
    now_ms: int,
    extra: dict[str, Any],
    redaction: StoredEvent | None,
) -> dict[str, Any]:
    """The spec's ``federation`` event format (the PDU, redacted when it is) with this
    server's ``unsigned`` keys; a redacted event keeps no bundled edit and names its
    ``redacted_because``."""
    pdu = stored.json()
    served = format_federation_event(
        pdu,
        now_ms=now_ms,
        age_ts=age_ts_from_received(pdu, stored.received_ts),
        room_version=room_version,
        redacted=redaction is not None,
    )
    # The PDU of room versions 3 and later has no event_id; Synapse adds it to this format, and
    # a client cannot refer to the event without it.
    served["event_id"] = stored.event_id
    unsigned = {**served.get("unsigned", {}), **extra}
    if redaction is not None:
        relations = {k: v for k, v in unsigned.pop("m.relations", {}).items() if k != "m.replace"}
        if relations:
            unsigned["m.relations"] = relations
        because = redaction.json()
        unsigned["redacted_because"] = {
            **format_federation_event(
                because, now_ms=now_ms, age_ts=age_ts_from_received(because, redaction.received_ts)
            ),
            "event_id": redaction.event_id,
        }
    if unsigned:
        served["unsigned"] = unsigned
    return served
