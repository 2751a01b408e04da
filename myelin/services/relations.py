"""Relationships between events as a client reads them (spec: Client-Server API,
"Relationships": ``GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]``, and
"Threading": ``GET /rooms/{roomId}/threads``).

The parent (or thread root) must be visible to the user, or the answer is 404; children the user
may not see are left out. ``recurse`` follows relations of relations up to ``MAX_DEPTH`` levels
(Synapse's limit), the filters applying at every level. Tokens are stream positions.
"""

from typing import Any

from myelin.services.errors import MatrixError
from myelin.services.room_reads import RoomReads, make_token, not_found, parse_token
from myelin.storage import EventStore, RelationStore, StoredEvent

MAX_DEPTH = 3
MAX_LIMIT = 1000


class Relations:
    def __init__(self, *, reads: RoomReads, relations: RelationStore, events: EventStore) -> None:
        self._reads = reads
        self._relations = relations
        self._events = events

    async def _visible_parent(
        self, user_id: str, room_id: str, event_id: str
    ) -> tuple[StoredEvent, str | None]:
        stored = await self._events.get_event(event_id)
        room = await self._reads.room_version(room_id)
        if stored is None or stored.room_id != room_id or stored.outlier:
            raise not_found()
        membership, _ = await self._reads.membership(room_id, user_id)
        visible, _ = await self._reads.visible(
            self._reads.cache(), room, user_id, [stored], membership
        )
        if not visible:
            raise not_found()
        return stored, membership

    async def relations(
        self,
        user_id: str,
        device_id: str | None,
        room_id: str,
        event_id: str,
        *,
        rel_type: str | None,
        event_type: str | None,
        from_token: str | None,
        to_token: str | None,
        limit: int,
        backwards: bool,
        recurse: bool,
    ) -> dict[str, Any]:
        room_version = await self._reads.room_version(room_id)
        _, membership = await self._visible_parent(user_id, room_id, event_id)
        start = None if from_token is None else parse_token(from_token)
        stop = None if to_token is None else parse_token(to_token, "to")
        bound_before = start if backwards else stop
        bound_after = stop if backwards else start
        depth_reached = 1
        if not recurse:
            children = await self._relations.get_children(
                event_id,
                rel_type=rel_type,
                event_type=event_type,
                before=None if bound_before is None else bound_before + 1,
                after=bound_after,
                limit=limit + 1,
                newest_first=backwards,
            )
        else:
            found: dict[str, Any] = {}
            parents = [event_id]
            for depth in range(1, MAX_DEPTH + 1):
                level = []
                for parent in parents:
                    level.extend(await self._relations.get_children(parent, limit=10_000))
                if not level:
                    break
                depth_reached = depth
                for child in level:
                    found.setdefault(child.event_id, child)
                parents = [c.event_id for c in level]
            children = sorted(
                (
                    c
                    for c in found.values()
                    if (event_type is None or c.type == event_type)
                    and (bound_before is None or c.stream_ordering <= bound_before)
                    and (bound_after is None or c.stream_ordering > bound_after)
                ),
                key=lambda c: c.stream_ordering,
                reverse=backwards,
            )
            if rel_type is not None:
                typed = await self._typed(children, rel_type)
                children = [c for c in children if c.event_id in typed]
            children = children[: limit + 1]
        more = len(children) > limit
        children = children[:limit]
        loaded = await self._events.get_events([c.event_id for c in children])
        stored = [loaded[c.event_id] for c in children if c.event_id in loaded]
        cache = self._reads.cache()
        visible, memberships = await self._reads.visible(
            cache, room_version, user_id, stored, membership
        )
        body: dict[str, Any] = {
            "chunk": await self._reads.present(
                cache, room_version, visible, user_id, device_id, memberships=memberships
            )
        }
        if more and children:
            last = children[-1].stream_ordering
            body["next_batch"] = make_token(last - 1 if backwards else last)
        if from_token is not None:
            body["prev_batch"] = from_token
        if recurse:
            body["recursion_depth"] = depth_reached
        return body

    async def _typed(self, children: list[Any], rel_type: str) -> set[str]:
        """The IDs among ``children`` whose relationship is of ``rel_type``."""
        loaded = await self._events.get_events([c.event_id for c in children])
        result = set()
        for event_id, stored in loaded.items():
            relates_to = stored.json().get("content", {}).get("m.relates_to")
            if isinstance(relates_to, dict) and relates_to.get("rel_type") == rel_type:
                result.add(event_id)
        return result

    async def threads(
        self,
        user_id: str,
        device_id: str | None,
        room_id: str,
        *,
        include: str,
        from_token: str | None,
        limit: int,
    ) -> dict[str, Any]:
        """``GET /rooms/{roomId}/threads``: thread roots, most recently active first."""
        if include not in ("all", "participated"):
            raise MatrixError(400, "M_INVALID_PARAM", "include must be all or participated")
        room_version = await self._reads.room_version(room_id)
        membership, _ = await self._reads.membership(room_id, user_id)
        if membership is None:
            raise MatrixError(403, "M_FORBIDDEN", "You aren't a member of the room")
        before = None if from_token is None else parse_token(from_token)
        summaries = await self._relations.get_threads(
            room_id,
            participant=user_id if include == "participated" else None,
            before=None if before is None else before + 1,
            limit=limit + 1,
        )
        more = len(summaries) > limit
        summaries = summaries[:limit]
        loaded = await self._events.get_events([s.root_id for s in summaries])
        roots = [loaded[s.root_id] for s in summaries if s.root_id in loaded]
        cache = self._reads.cache()
        visible, memberships = await self._reads.visible(
            cache, room_version, user_id, roots, membership
        )
        body: dict[str, Any] = {
            "chunk": await self._reads.present(
                cache, room_version, visible, user_id, device_id, memberships=memberships
            )
        }
        if more and summaries:
            body["next_batch"] = make_token(summaries[-1].latest_stream_ordering - 1)
        return body
