"""Server-side search (spec: Client-Server API, "Server Side Search": POST /search).

Only the ``room_events`` category exists. The search runs over the full-text index written on
persist (``myelin.storage.search``) in the rooms the user is joined to (narrowed by the
request's filter), and keeps only events the user may see (history visibility, as for
/messages) and that are not redacted (as Synapse does). ``next_batch`` is ``r<offset>`` when
ordering by rank and ``s<stream position>`` when ordering by recency.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from myelin.core.filters import FilterError, RoomEventFilter, parse_room_event_filter
from myelin.core.room_versions import RoomVersion
from myelin.services.errors import MatrixError
from myelin.services.room_reads import RoomReads, make_token
from myelin.services.visibility import StateCache
from myelin.storage import StoredEvent
from myelin.storage.search import SEARCH_KEYS, SearchHit, SearchStore, search_words

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_CONTEXT = 100
# How many index batches one request reads to fill a page with events the user may see.
MAX_ROUNDS = 5
_BATCH = re.compile(r"^([rs])(\d{1,18})$")


def _bad(message: str) -> MatrixError:
    return MatrixError(400, "M_BAD_JSON", message)


@dataclass(frozen=True)
class RoomEventsQuery:
    """A parsed ``search_categories.room_events`` request."""

    words: list[str]
    keys: list[str]
    event_filter: RoomEventFilter
    order_by_rank: bool
    before_limit: int
    after_limit: int
    include_profile: bool
    with_context: bool
    include_state: bool
    group_by: list[str]


def _int(data: Mapping[str, Any], key: str, default: int) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad(f"{key} must be a non-negative integer")
    return min(value, MAX_CONTEXT)


def parse_room_events(value: Any) -> RoomEventsQuery:
    """Check a ``room_events`` criteria object (400 ``M_BAD_JSON`` / ``M_MISSING_PARAM``)."""
    if not isinstance(value, dict):
        raise _bad("room_events must be an object")
    term = value.get("search_term")
    if term is None:
        raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: search_term")
    if not isinstance(term, str):
        raise _bad("search_term must be a string")
    keys = value.get("keys", list(SEARCH_KEYS))
    if not isinstance(keys, list) or not all(k in SEARCH_KEYS for k in keys):
        raise MatrixError(
            400, "M_INVALID_PARAM", f"keys must be a list of {', '.join(SEARCH_KEYS)}"
        )
    order_by = value.get("order_by", "rank")
    if order_by not in ("rank", "recent"):
        raise MatrixError(400, "M_INVALID_PARAM", "order_by must be rank or recent")
    try:
        event_filter = parse_room_event_filter(value.get("filter"), "filter")
    except FilterError as e:
        raise _bad(str(e)) from e
    context = value.get("event_context")
    if context is not None and not isinstance(context, dict):
        raise _bad("event_context must be an object")
    context_data = context or {}
    include_profile = context_data.get("include_profile", False)
    include_state = value.get("include_state", False)
    if not isinstance(include_profile, bool) or not isinstance(include_state, bool):
        raise _bad("include_profile and include_state must be booleans")
    groupings = value.get("groupings", {})
    if not isinstance(groupings, dict) or not isinstance(groupings.get("group_by", []), list):
        raise _bad("groupings.group_by must be a list")
    group_by: list[str] = []
    for group in groupings.get("group_by", []):
        if not isinstance(group, dict) or group.get("key") not in ("room_id", "sender"):
            raise MatrixError(400, "M_INVALID_PARAM", "group_by keys must be room_id or sender")
        group_by.append(group["key"])
    return RoomEventsQuery(
        words=search_words(term),
        keys=list(dict.fromkeys(keys)),
        event_filter=event_filter,
        order_by_rank=order_by == "rank",
        before_limit=_int(context_data, "before_limit", 5),
        after_limit=_int(context_data, "after_limit", 5),
        include_profile=include_profile,
        with_context=context is not None,
        include_state=include_state,
        group_by=group_by,
    )


def parse_batch(token: str | None, order_by_rank: bool) -> tuple[int | None, int]:
    """``(before, offset)`` from a ``next_batch`` token (400 ``M_INVALID_PARAM``)."""
    if token is None:
        return None, 0
    match = _BATCH.match(token)
    if match is None or (match.group(1) == "r") != order_by_rank:
        raise MatrixError(400, "M_INVALID_PARAM", "Invalid next_batch token")
    number = int(match.group(2))
    return (None, number) if order_by_rank else (number, 0)


class SearchService:
    def __init__(self, *, store: SearchStore, reads: RoomReads) -> None:
        self._store = store
        self._reads = reads

    async def search(
        self, user_id: str, device_id: str | None, body: Mapping[str, Any], next_batch: str | None
    ) -> dict[str, Any]:
        categories = body.get("search_categories")
        if categories is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: search_categories")
        if not isinstance(categories, dict):
            raise _bad("search_categories must be an object")
        result: dict[str, Any] = {}
        if "room_events" in categories:
            query = parse_room_events(categories["room_events"])
            result["room_events"] = await self._room_events(user_id, device_id, query, next_batch)
        return {"search_categories": result}

    async def _room_events(
        self, user_id: str, device_id: str | None, query: RoomEventsQuery, batch: str | None
    ) -> dict[str, Any]:
        before, offset = parse_batch(batch, query.order_by_rank)
        joined = await self._reads.joined_rooms(user_id)
        room_ids = sorted(r for r in joined if query.event_filter.matches_room(r))
        limit = min(query.event_filter.limit or DEFAULT_LIMIT, MAX_LIMIT)
        count = await self._store.count(query.words, room_ids, query.keys)
        chosen: list[tuple[SearchHit, StoredEvent]] = []
        exhausted = False
        caches: dict[str, tuple[StateCache, RoomVersion]] = {}
        for _ in range(MAX_ROUNDS):
            want = max(limit - len(chosen), 10)
            hits = await self._store.search(
                query.words,
                room_ids,
                query.keys,
                order_by_rank=query.order_by_rank,
                limit=want,
                before=before,
                offset=offset,
            )
            exhausted = len(hits) < want
            kept = await self._visible(user_id, hits, query.event_filter, caches)
            for index, hit in enumerate(hits):
                offset += 1
                before = hit.stream_ordering
                if hit.event_id in kept:
                    chosen.append((hit, kept[hit.event_id]))
                    if len(chosen) == limit:
                        # Hits left in this batch mean there may be more.
                        exhausted = exhausted and index == len(hits) - 1
                        break
            if len(chosen) == limit or exhausted:
                break
        results = []
        for hit, stored in chosen:
            cache, version = caches[stored.room_id]
            event = (await self._reads.present(cache, version, [stored], user_id, device_id))[0]
            entry: dict[str, Any] = {"rank": hit.rank, "result": event}
            if query.with_context:
                entry["context"] = await self._context(user_id, device_id, query, stored)
            results.append(entry)
        response: dict[str, Any] = {
            "count": count,
            "highlights": query.words,
            "results": results,
        }
        next_token = None
        if chosen and len(chosen) == limit and not exhausted:
            next_token = f"r{offset}" if query.order_by_rank else f"s{before}"
            response["next_batch"] = next_token
        if query.include_state:
            rooms = dict.fromkeys(stored.room_id for _, stored in chosen)
            response["state"] = {
                room_id: await self._reads.state_events(user_id, room_id) for room_id in rooms
            }
        if query.group_by:
            response["groups"] = _groups(query.group_by, [s for _, s in chosen], next_token)
        return response

    async def _visible(
        self,
        user_id: str,
        hits: Sequence[SearchHit],
        event_filter: RoomEventFilter,
        caches: dict[str, tuple[StateCache, RoomVersion]],
    ) -> dict[str, StoredEvent]:
        """The hits the user may see, pass the filter and are not redacted."""
        kept: dict[str, StoredEvent] = {}
        by_room: dict[str, list[SearchHit]] = {}
        for hit in hits:
            by_room.setdefault(hit.room_id, []).append(hit)
        for room_id, room_hits in by_room.items():
            if room_id not in caches:
                caches[room_id] = (self._reads.cache(), await self._reads.room_version(room_id))
            cache, version = caches[room_id]
            loaded = await cache.load([h.event_id for h in room_hits])
            candidates = sorted(
                (e for e in loaded.values() if event_filter.matches(e.json())),
                key=lambda e: e.stream_ordering,
            )
            membership, _ = await self._reads.membership(room_id, user_id)
            visible, _ = await self._reads.visible(cache, version, user_id, candidates, membership)
            redacted = await self._reads.presenter.redactions(cache, version, visible)
            kept.update((e.event_id, e) for e in visible if e.event_id not in redacted)
        return kept

    async def _context(
        self, user_id: str, device_id: str | None, query: RoomEventsQuery, stored: StoredEvent
    ) -> dict[str, Any]:
        """``events_before``/``events_after`` the result (what the user may see), with the
        senders' profiles when asked."""
        room_id = stored.room_id
        cache = self._reads.cache()
        version = await self._reads.room_version(room_id)
        membership, _ = await self._reads.membership(room_id, user_id)
        no_filter = RoomEventFilter()
        position = stored.stream_ordering
        before, before_m, start = await self._reads.paginate(
            cache,
            version,
            room_id,
            user_id,
            membership,
            start=position - 1,
            backwards=True,
            stop=None,
            limit=query.before_limit,
            event_filter=no_filter,
        )
        after, after_m, end = await self._reads.paginate(
            cache,
            version,
            room_id,
            user_id,
            membership,
            start=position,
            backwards=False,
            stop=None,
            limit=query.after_limit,
            event_filter=no_filter,
        )
        if start is None:
            start = before[-1].stream_ordering - 1 if before else position - 1
        if end is None:
            end = after[-1].stream_ordering if after else position
        present = self._reads.present
        context: dict[str, Any] = {
            "start": make_token(start),
            "end": make_token(end),
            "events_before": await present(
                cache, version, before, user_id, device_id, memberships=before_m
            ),
            "events_after": await present(
                cache, version, after, user_id, device_id, memberships=after_m
            ),
        }
        if query.include_profile:
            # The senders' display names and avatars in the room at the result (Synapse uses
            # the member events in the state at the event).
            senders = dict.fromkeys(e.sender for e in (*before, stored, *after))
            state = await cache.state_after(stored.event_id)
            members = await cache.load(
                [state[k] for k in (("m.room.member", s) for s in senders) if k in state]
            )
            profiles: dict[str, Any] = {}
            for sender in senders:
                profile: dict[str, Any] = {}
                member = members.get(state.get(("m.room.member", sender), ""))
                content = member.json().get("content") if member is not None else None
                if isinstance(content, dict):
                    for key in ("displayname", "avatar_url"):
                        if isinstance(content.get(key), str):
                            profile[key] = content[key]
                profiles[sender] = profile
            context["profile_info"] = profiles
        return context


def _groups(
    group_by: Sequence[str], events: Sequence[StoredEvent], next_batch: str | None
) -> dict[str, Any]:
    """``groups``: per requested key, the results of each group in order, and the group's
    place by its first (best) result."""
    groups: dict[str, Any] = {}
    for key in group_by:
        by_value: dict[str, dict[str, Any]] = {}
        for event in events:
            value = event.room_id if key == "room_id" else event.sender
            group = by_value.setdefault(value, {"results": [], "order": len(by_value) + 1})
            group["results"].append(event.event_id)
        if next_batch is not None:
            for group in by_value.values():
                group["next_batch"] = next_batch
        groups[key] = by_value
    return groups
