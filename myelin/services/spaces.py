"""Spaces and room summaries (spec: Client-Server API, "Spaces": GET /rooms/{roomId}/hierarchy;
"Room Summaries": GET /room_summary/{roomIdOrAlias}; Server-Server API, "Spaces":
GET /hierarchy/{roomId}).

Both answer from the local copy of each room's current state. A room is shown to a user when
they are joined or invited, or may join or knock, or its history is world readable (the
spec's list under the hierarchy's ``rooms``); a banned user sees nothing of it. Rooms this
server has no state for are asked of the ``via`` servers of their ``m.space.child`` event
over federation (``RemoteSpaces``: ``/_matrix/federation/v1/hierarchy``), and filtered for
the user here from their summary, as the spec leaves to the requesting server.

Served to other servers (``federation_hierarchy``): the space's summary with its children's
summaries, for the rooms the requesting server could peek or join (a member server, or a room
anyone may join, knock on or read, or a restricted room whose allowed room the server is in);
the others are listed as ``inaccessible_children``; unknown children are left out.

The hierarchy is walked depth first from the given room, children in the spec's order
("ordering of children within a space"); ``from`` tokens carry the number of rooms already
returned and the ``max_depth`` / ``suggested_only`` of the first request, so pages are
recomputed from the current state without server-side sessions.
"""

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson

from myelin.core.history_visibility import WORLD_READABLE, effective_visibility
from myelin.core.room_versions import get_room_version
from myelin.services.directory import Directory
from myelin.services.errors import MatrixError
from myelin.storage import EventStore, RoomStore, StateStore, StoredEvent

SPACE_CHILD = "m.space.child"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
DEFAULT_MAX_DEPTH = 10
MAX_DEPTH = 50
# How many rooms one hierarchy request inspects at most (resource bound).
MAX_ROOMS_VISITED = 1000


class RemoteSpaces(Protocol):
    """Summaries of rooms this server has no state for, asked of ``via`` servers."""

    async def room_summary(
        self, room_id: str, via: Sequence[str], user_id: str | None
    ) -> dict[str, Any] | None: ...

    async def hierarchy(
        self, room_id: str, via: Sequence[str], suggested_only: bool
    ) -> dict[str, Any] | None:
        """The federation ``/hierarchy`` answer of the first ``via`` server that has one."""
        ...


def _content(stored: StoredEvent | None) -> Mapping[str, Any]:
    if stored is None:
        return {}
    content = stored.json().get("content")
    return content if isinstance(content, dict) else {}


def valid_via(content: Mapping[str, Any]) -> bool:
    """An ``m.space.child``/``m.space.parent`` counts only with a non-empty ``via`` list."""
    via = content.get("via")
    return isinstance(via, list) and bool(via) and all(isinstance(v, str) for v in via)


def _order_key(content: Mapping[str, Any]) -> str | None:
    order = content.get("order")
    if isinstance(order, str) and len(order) <= 50 and all(" " <= c <= "~" for c in order):
        return order
    return None


def stripped_sort_key(child: Mapping[str, Any]) -> tuple[int, str, int, str]:
    """``child_sort_key`` of a stripped ``m.space.child`` (with ``origin_server_ts``)."""
    content = child.get("content")
    order = _order_key(content if isinstance(content, dict) else {})
    ts = child.get("origin_server_ts")
    key = child.get("state_key")
    return (
        0 if order is not None else 1,
        order or "",
        ts if isinstance(ts, int) and not isinstance(ts, bool) else 0,
        key if isinstance(key, str) else "",
    )


def child_sort_key(event: StoredEvent) -> tuple[int, str, int, str]:
    """The spec's order of children: valid ``order`` first (lexicographic), then by the
    child event's ``origin_server_ts``, then by room ID."""
    order = _order_key(_content(event))
    ts = event.json().get("origin_server_ts")
    return (
        0 if order is not None else 1,
        order or "",
        ts if isinstance(ts, int) else 0,
        event.state_key or "",
    )


def _encode_token(offset: int, max_depth: int, suggested_only: bool) -> str:
    raw = orjson.dumps({"o": offset, "d": max_depth, "s": suggested_only})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_token(token: str) -> tuple[int, int, bool]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError) as e:
        raise MatrixError(400, "M_INVALID_PARAM", "Unknown pagination token") from e
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("o"), int)
        or not isinstance(data.get("d"), int)
        or not isinstance(data.get("s"), bool)
        or data["o"] < 0
    ):
        raise MatrixError(400, "M_INVALID_PARAM", "Unknown pagination token")
    return data["o"], data["d"], data["s"]


class SpaceSummaries:
    def __init__(
        self,
        *,
        state: StateStore,
        events: EventStore,
        rooms: RoomStore,
        directory: Directory,
        remote: RemoteSpaces | None = None,
    ) -> None:
        self._state = state
        self._events = events
        self._rooms = rooms
        self._directory = directory
        self._remote = remote

    async def _state_event(
        self, room_id: str, event_type: str, key: str = ""
    ) -> StoredEvent | None:
        event_id = await self._state.get_current_state_event_id(room_id, event_type, key)
        return None if event_id is None else await self._events.get_event(event_id)

    async def membership(self, room_id: str, user_id: str) -> str | None:
        membership = _content(await self._state_event(room_id, "m.room.member", user_id)).get(
            "membership"
        )
        return membership if isinstance(membership, str) else None

    async def accessible(self, room_id: str, user_id: str | None) -> bool:
        """Whether the user (None: unauthenticated) may see the room's summary."""
        room = await self._rooms.get_room(room_id)
        if room is None:
            return False
        version = get_room_version(room.room_version)
        membership = None if user_id is None else await self.membership(room_id, user_id)
        if membership == "ban":
            return False
        if membership in ("join", "invite"):
            return True
        history = _content(await self._state_event(room_id, "m.room.history_visibility"))
        if effective_visibility(history.get("history_visibility")) == WORLD_READABLE:
            return True
        rules = _content(await self._state_event(room_id, "m.room.join_rules"))
        join_rule = rules.get("join_rule")
        if join_rule == "public":
            return True
        if (join_rule == "knock" and version.knock) or (
            join_rule == "knock_restricted" and version.knock_restricted_join_rule
        ):
            return True
        restricted = join_rule in ("restricted", "knock_restricted")
        if user_id is not None and restricted and version.restricted_join_rule:
            for allowed in _allowed_rooms(rules):
                if await self.membership(allowed, user_id) == "join":
                    return True
        return False

    async def summary(self, room_id: str) -> dict[str, Any]:
        """The spec's ``RoomSummary`` from the current state."""
        entry = await self._directory.room_summary(room_id)
        rules = _content(await self._state_event(room_id, "m.room.join_rules"))
        if rules.get("join_rule") in ("restricted", "knock_restricted"):
            entry["allowed_room_ids"] = _allowed_rooms(rules)
        algorithm = _content(await self._state_event(room_id, "m.room.encryption")).get("algorithm")
        if algorithm == "m.megolm.v1.aes-sha2":
            entry["encryption"] = algorithm
        room = await self._rooms.get_room(room_id)
        if room is not None:
            entry["room_version"] = room.room_version
        return entry

    async def _children(self, room_id: str, suggested_only: bool) -> list[StoredEvent]:
        """The room's valid ``m.space.child`` events, in the spec's order."""
        state = await self._state.get_current_state(room_id)
        ids = [event_id for (kind, _), event_id in state.items() if kind == SPACE_CHILD]
        found = await self._events.get_events(ids)
        children = []
        for event in found.values():
            content = _content(event)
            if not event.state_key or not valid_via(content):
                continue
            if suggested_only and content.get("suggested") is not True:
                continue
            children.append(event)
        return sorted(children, key=child_sort_key)

    async def hierarchy(
        self,
        user_id: str,
        room_id: str,
        *,
        suggested_only: bool,
        max_depth: int | None,
        limit: int | None,
        from_token: str | None,
    ) -> dict[str, Any]:
        """``GET /rooms/{roomId}/hierarchy``."""
        if limit is not None and limit < 1:
            raise MatrixError(400, "M_INVALID_PARAM", "limit must be greater than zero")
        if max_depth is not None and max_depth < 0:
            raise MatrixError(400, "M_INVALID_PARAM", "max_depth must be non-negative")
        depth_limit = DEFAULT_MAX_DEPTH if max_depth is None else min(max_depth, MAX_DEPTH)
        page_size = DEFAULT_LIMIT if limit is None else min(limit, MAX_LIMIT)
        offset = 0
        if from_token is not None:
            offset, token_depth, token_suggested = _decode_token(from_token)
            if token_depth != depth_limit or token_suggested != suggested_only:
                raise MatrixError(
                    400, "M_INVALID_PARAM", "suggested_only and max_depth cannot change"
                )
        if not await self.accessible(room_id, user_id):
            raise MatrixError(403, "M_FORBIDDEN", "You may not view this room")
        rooms: list[dict[str, Any]] = []
        seen: set[str] = set()
        # Depth first: a stack of (room ID, depth, via servers), the next room on top.
        stack: list[tuple[str, int, tuple[str, ...]]] = [(room_id, 0, ())]
        visited = 0
        more = False
        while stack:
            current, depth, via = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            visited += 1
            if visited > MAX_ROOMS_VISITED:
                break
            found = await self._visit(current, current == room_id, user_id, via, suggested_only)
            if found is None:
                # Not visible (or unknown everywhere asked): skipped, its children unwalked.
                continue
            entry, children = found
            if len(rooms) >= offset + page_size:
                more = True
                break
            rooms.append(entry)
            if depth < depth_limit:
                for child in reversed(children):
                    key, content = child["state_key"], child["content"]
                    if key and key not in seen:
                        stack.append((key, depth + 1, tuple(content["via"])))
        body: dict[str, Any] = {"rooms": rooms[offset:]}
        if more:
            body["next_batch"] = _encode_token(offset + page_size, depth_limit, suggested_only)
        return body

    async def _visit(
        self,
        room_id: str,
        is_root: bool,
        user_id: str,
        via: Sequence[str],
        suggested_only: bool,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The room's hierarchy entry and its children (stripped ``m.space.child`` events in
        the spec's order), or None when the user may not see it."""
        if not is_root and await self._rooms.get_room(room_id) is None:
            return await self._visit_remote(room_id, user_id, via, suggested_only)
        if not is_root and not await self.accessible(room_id, user_id):
            return None
        children = [_stripped_child(e) for e in await self._children(room_id, suggested_only)]
        entry = await self.summary(room_id)
        entry["children_state"] = children
        return entry, children

    async def _visit_remote(
        self, room_id: str, user_id: str, via: Sequence[str], suggested_only: bool
    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """A room this server has no state for, from a ``via`` server's federation
        ``/hierarchy``, filtered for the user here ("the requesting server is responsible
        for filtering the results further down for the user's request")."""
        if self._remote is None or not via:
            return None
        answer = await self._remote.hierarchy(room_id, via, suggested_only)
        room = answer.get("room") if isinstance(answer, dict) else None
        if not isinstance(room, dict) or not _is_summary(room, room_id):
            return None
        if not await self._remote_visible(room, user_id):
            return None
        states = room.get("children_state")
        children = [
            c
            for c in (states if isinstance(states, list) else [])
            if _is_child(c) and (not suggested_only or c["content"].get("suggested") is True)
        ]
        children.sort(key=stripped_sort_key)
        return {**room, "children_state": children}, children

    async def _remote_visible(self, room: Mapping[str, Any], user_id: str | None) -> bool:
        """The spec's list for a room known only from its summary: anyone may join or knock,
        its history is world readable, or the user is joined to one of the rooms a
        restricted join rule allows."""
        if room.get("world_readable") is True:
            return True
        join_rule = room.get("join_rule")
        if join_rule in ("public", "knock", "knock_restricted"):
            return True
        if join_rule == "restricted" and user_id is not None:
            allowed = room.get("allowed_room_ids")
            for allowed_id in allowed if isinstance(allowed, list) else []:
                if isinstance(allowed_id, str) and (
                    await self.membership(allowed_id, user_id) == "join"
                ):
                    return True
        return False

    # -- Server-Server API: GET /hierarchy/{roomId} ---------------------------------------

    async def accessible_to_server(self, room_id: str, server_name: str) -> bool:
        """Whether ``server_name`` could peek or join the room: one of its users is joined
        or invited, anyone may join, knock or read, or it is in an allowed room of a
        restricted room (its users there may join)."""
        room = await self._rooms.get_room(room_id)
        if room is None:
            return False
        version = get_room_version(room.room_version)
        history = _content(await self._state_event(room_id, "m.room.history_visibility"))
        if effective_visibility(history.get("history_visibility")) == WORLD_READABLE:
            return True
        rules = _content(await self._state_event(room_id, "m.room.join_rules"))
        join_rule = rules.get("join_rule")
        if join_rule == "public" or (
            (join_rule == "knock" and version.knock)
            or (join_rule == "knock_restricted" and version.knock_restricted_join_rule)
        ):
            return True
        if await self._server_in_room(room_id, server_name, ("join", "invite")):
            return True
        if join_rule in ("restricted", "knock_restricted") and version.restricted_join_rule:
            for allowed in _allowed_rooms(rules):
                if await self._server_in_room(allowed, server_name, ("join",)):
                    return True
        return False

    async def _server_in_room(
        self, room_id: str, server_name: str, memberships: Sequence[str]
    ) -> bool:
        state = await self._state.get_current_state(room_id)
        ids = [e for (t, k), e in state.items() if t == "m.room.member" and _on(k, server_name)]
        found = await self._events.get_events(ids)
        return any(_content(e).get("membership") in memberships for e in found.values())

    async def federation_hierarchy(
        self, origin: str, room_id: str, suggested_only: bool
    ) -> dict[str, Any]:
        """``GET /_matrix/federation/v1/hierarchy/{roomId}`` (no pagination)."""
        if not await self.accessible_to_server(room_id, origin):
            raise MatrixError(404, "M_NOT_FOUND", "Room not found or is not accessible")
        children = await self._children(room_id, suggested_only)
        room = await self.summary(room_id)
        room["children_state"] = [_stripped_child(e) for e in children]
        summaries: list[dict[str, Any]] = []
        inaccessible: list[str] = []
        for child in children:
            child_id = child.state_key or ""
            if await self._rooms.get_room(child_id) is None:
                continue  # "cannot provide details on": left out
            if await self.accessible_to_server(child_id, origin):
                summaries.append(await self.summary(child_id))
            else:
                inaccessible.append(child_id)
        return {"room": room, "children": summaries, "inaccessible_children": inaccessible}

    async def room_summary(
        self, user_id: str | None, room_id_or_alias: str, via: Sequence[str]
    ) -> dict[str, Any]:
        """``GET /room_summary/{roomIdOrAlias}``: 404 when unknown or not visible."""
        room_id = room_id_or_alias
        if room_id_or_alias.startswith("#"):
            alias = await self._rooms.get_alias(room_id_or_alias)
            if alias is None:
                raise MatrixError(404, "M_NOT_FOUND", "Room not found or is not accessible")
            room_id = alias.room_id
        elif not room_id_or_alias.startswith("!"):
            raise MatrixError(400, "M_INVALID_PARAM", "Expected a room ID or a room alias")
        if await self._rooms.get_room(room_id) is None and self._remote is not None:
            remote = await self._remote.room_summary(room_id, via, user_id)
            if (
                remote is not None
                and _is_summary(remote, room_id)
                and await self._remote_visible(remote, user_id)
            ):
                return remote
        if not await self.accessible(room_id, user_id):
            raise MatrixError(404, "M_NOT_FOUND", "Room not found or is not accessible")
        entry = await self.summary(room_id)
        if user_id is not None:
            membership = await self.membership(room_id, user_id)
            if membership is not None:
                entry["membership"] = membership
        return entry


def _allowed_rooms(rules: Mapping[str, Any]) -> list[str]:
    allow = rules.get("allow")
    if not isinstance(allow, list):
        return []
    return [
        entry["room_id"]
        for entry in allow
        if isinstance(entry, dict)
        and entry.get("type") == "m.room_membership"
        and isinstance(entry.get("room_id"), str)
    ]


def _on(user_id: str, server_name: str) -> bool:
    return user_id.partition(":")[2] == server_name


def _is_summary(room: Any, room_id: str) -> bool:
    """A remote room summary with what the spec's ``RoomSummary`` requires."""
    return (
        isinstance(room, dict)
        and room.get("room_id") == room_id
        and isinstance(room.get("num_joined_members"), int)
        and isinstance(room.get("world_readable"), bool)
        and isinstance(room.get("guest_can_join"), bool)
    )


def _is_child(child: Any) -> bool:
    """A stripped ``m.space.child`` event of a remote answer that counts."""
    return (
        isinstance(child, dict)
        and child.get("type") == SPACE_CHILD
        and isinstance(child.get("state_key"), str)
        and bool(child["state_key"])
        and isinstance(child.get("sender"), str)
        and isinstance(child.get("content"), dict)
        and valid_via(child["content"])
    )


def _stripped_child(event: StoredEvent) -> dict[str, Any]:
    pdu = event.json()
    return {
        "type": event.type,
        "state_key": event.state_key,
        "content": dict(_content(event)),
        "sender": event.sender,
        "origin_server_ts": pdu.get("origin_server_ts", 0),
    }
