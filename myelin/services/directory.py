"""Room aliases and the room directory (spec: Client-Server API, "Room aliases"
(``/directory/room/{roomAlias}``, ``/rooms/{roomId}/aliases``) and "Room directory"
(``/directory/list/room/{roomId}``, ``/publicRooms``)).

Permissions follow Synapse, as the spec leaves them to servers: a local alias may be created by
a user joined to the room; it may be deleted by its creator, by a user allowed to send
``m.room.canonical_alias`` in the room, or by a server admin. Publishing a room needs the power
to send ``m.room.canonical_alias`` (or being an admin). The public room list is ordered by
joined members (most first), then room ID; its tokens are offsets (``o<N>``).
"""

from collections.abc import Mapping
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.core.errors import InvalidIdentifierError
from myelin.core.events import EventView
from myelin.core.history_visibility import WORLD_READABLE
from myelin.core.identifiers import RoomAlias, is_valid_server_name, server_name_of
from myelin.core.power_levels import required_power_level, user_power_level
from myelin.core.room_versions import get_room_version
from myelin.services.errors import MatrixError
from myelin.services.events import EventService
from myelin.services.visibility import content_of
from myelin.storage import (
    EventStore,
    RoomAliasExistsError,
    RoomReadStore,
    RoomStore,
    StateStore,
    UserStore,
)

CANONICAL_ALIAS = "m.room.canonical_alias"
MAX_PUBLIC_ROOMS = 500


class AliasNamespaces(Protocol):
    """The application services' aliases namespaces (Application Service API)."""

    def may_manage_alias(self, user_id: str, alias: str) -> bool: ...

    async def query_alias(self, alias: str) -> bool: ...


class RemoteAliases(Protocol):
    """Resolving an alias of another server over federation (``/query/directory``)."""

    async def resolve_alias(self, alias: str) -> tuple[str, list[str]]: ...


class RemotePublicRooms(Protocol):
    """Another server's public room directory over federation (``/publicRooms``)."""

    async def public_rooms(
        self,
        server: str,
        *,
        limit: int | None,
        since: str | None,
        search_term: str | None,
        room_types: list[str | None] | None,
    ) -> dict[str, Any]: ...


def _bad_alias(alias: str) -> MatrixError:
    return MatrixError(400, "M_INVALID_PARAM", f"invalid room alias {alias!r}")


class Directory:
    def __init__(
        self,
        *,
        server_name: str,
        rooms: RoomStore,
        state: StateStore,
        events: EventStore,
        reads: RoomReadStore,
        users: UserStore,
        event_service: EventService,
        clock: Clock,
    ) -> None:
        self._server_name = server_name
        self._rooms = rooms
        self._state = state
        self._events = events
        self._reads = reads
        self._users = users
        self._event_service = event_service
        self._clock = clock
        self.appservices: AliasNamespaces | None = None
        # Aliases of other servers (set by the composition root when federation is on).
        self.remote_aliases: RemoteAliases | None = None
        # Other servers' public room directories (likewise).
        self.remote_public_rooms: RemotePublicRooms | None = None

    def _check_alias(self, alias: str) -> None:
        try:
            RoomAlias.parse(alias)
        except InvalidIdentifierError as e:
            raise _bad_alias(alias) from e

    async def _is_admin(self, user_id: str) -> bool:
        user = await self._users.get_user(user_id)
        return user is not None and user.admin

    async def _state_content(self, room_id: str, event_type: str) -> Mapping[str, Any]:
        event_id = await self._state.get_current_state_event_id(room_id, event_type, "")
        return {} if event_id is None else content_of(await self._events.get_event(event_id))

    async def _membership(self, room_id: str, user_id: str) -> Any:
        event_id = await self._state.get_current_state_event_id(room_id, "m.room.member", user_id)
        if event_id is None:
            return None
        return content_of(await self._events.get_event(event_id)).get("membership")

    async def can_send_state(self, room_id: str, user_id: str, event_type: str) -> bool:
        """Whether ``user_id`` is joined and has the power to send ``event_type`` state."""
        room = await self._rooms.get_room(room_id)
        if room is None or await self._membership(room_id, user_id) != "join":
            return False
        room_version = get_room_version(room.room_version)
        ids = [
            await self._state.get_current_state_event_id(room_id, "m.room.power_levels", ""),
            await self._state.get_current_state_event_id(room_id, "m.room.create", ""),
        ]
        loaded = await self._events.get_events([i for i in ids if i is not None])
        pl, create = (
            None if i is None or i not in loaded else EventView(loaded[i].json(), i, room_version)
            for i in ids
        )
        level = user_power_level(room_version, user_id, create, pl)
        return level >= required_power_level(room_version, event_type, "", pl)

    # -- aliases -----------------------------------------------------------------------------

    async def resolve_alias(self, alias: str, *, federated: bool = False) -> dict[str, Any]:
        """``GET /directory/room/{roomAlias}``; with ``federated`` (clients, not other servers)
        an alias of another server is asked of that server, as the spec requires."""
        self._check_alias(alias)
        server = alias.split(":", 1)[1]
        if federated and server != self._server_name:
            if self.remote_aliases is None:
                raise MatrixError(404, "M_NOT_FOUND", f"Room alias {alias} not found")
            room_id, servers = await self.remote_aliases.resolve_alias(alias)
            return {"room_id": room_id, "servers": list(dict.fromkeys(servers))}
        record = await self._rooms.get_alias(alias)
        # Application Service API, "Querying": the service owning the namespace may create
        # the alias now.
        if (
            record is None
            and self.appservices is not None
            and await self.appservices.query_alias(alias)
        ):
            record = await self._rooms.get_alias(alias)
        if record is None:
            raise MatrixError(404, "M_NOT_FOUND", f"Room alias {alias} not found")
        return {"room_id": record.room_id, "servers": [self._server_name]}

    async def check_canonical_alias(self, room_id: str, content: Mapping[str, Any]) -> None:
        """A client's ``m.room.canonical_alias`` (spec: ``PUT /rooms/{roomId}/state``): each
        alias it adds (``alias`` or ``alt_aliases`` not in the current event, as Synapse)
        must be valid (400 ``M_INVALID_PARAM``) and point to the room (400 ``M_BAD_ALIAS``)."""
        current = await self._state_content(room_id, CANONICAL_ALIAS)
        alias = content.get("alias")
        if alias is not None and not isinstance(alias, str):
            raise MatrixError(400, "M_INVALID_PARAM", "alias must be a string")
        alt_aliases = content.get("alt_aliases", [])
        if not isinstance(alt_aliases, list) or not all(isinstance(a, str) for a in alt_aliases):
            raise MatrixError(400, "M_INVALID_PARAM", "alt_aliases must be a list of aliases")
        known = current.get("alt_aliases")
        added = [a for a in alt_aliases if not isinstance(known, list) or a not in known]
        if alias and alias != current.get("alias"):
            added.insert(0, alias)
        for new_alias in dict.fromkeys(added):
            self._check_alias(new_alias)
            try:
                target = (await self.resolve_alias(new_alias, federated=True))["room_id"]
            except MatrixError as e:
                if e.status != 404:
                    raise
                target = None
            if target != room_id:
                raise MatrixError(
                    400, "M_BAD_ALIAS", f"The alias {new_alias} does not point to this room"
                )

    def _check_namespace(self, user_id: str, alias: str) -> None:
        if self.appservices is not None and not self.appservices.may_manage_alias(user_id, alias):
            raise MatrixError(
                400, "M_EXCLUSIVE", "This alias is reserved by an application service"
            )

    async def create_alias(self, user_id: str, alias: str, room_id: Any) -> None:
        """``PUT /directory/room/{roomAlias}``."""
        self._check_alias(alias)
        if not isinstance(room_id, str):
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: room_id")
        if server_name_of(alias) != self._server_name:
            raise MatrixError(400, "M_INVALID_PARAM", "Room alias must be local")
        self._check_namespace(user_id, alias)
        if await self._rooms.get_room(room_id) is None:
            raise MatrixError(404, "M_NOT_FOUND", f"Unknown room {room_id}")
        if await self._membership(room_id, user_id) != "join" and not await self._is_admin(user_id):
            raise MatrixError(403, "M_FORBIDDEN", "You must be in the room to create an alias")
        try:
            await self._rooms.create_alias(
                alias, room_id, creator=user_id, created_ts=self._clock.now_ms()
            )
        except RoomAliasExistsError as e:
            raise MatrixError(409, "M_UNKNOWN", f"Room alias {alias} already exists") from e

    async def delete_alias(self, user_id: str, alias: str) -> None:
        """``DELETE /directory/room/{roomAlias}``; also drops it from the canonical alias
        event when the user may change that (as Synapse)."""
        self._check_alias(alias)
        record = await self._rooms.get_alias(alias)
        if record is None:
            raise MatrixError(404, "M_NOT_FOUND", f"Room alias {alias} not found")
        may_change = await self.can_send_state(record.room_id, user_id, CANONICAL_ALIAS)
        if record.creator != user_id and not may_change and not await self._is_admin(user_id):
            raise MatrixError(403, "M_FORBIDDEN", "You may not delete this alias")
        await self._rooms.delete_alias(alias)
        if may_change:
            await self.drop_from_canonical(user_id, record.room_id, alias)

    async def drop_from_canonical(self, user_id: str, room_id: str, alias: str) -> None:
        content = dict(await self._state_content(room_id, CANONICAL_ALIAS))
        changed = False
        if content.get("alias") == alias:
            del content["alias"]
            changed = True
        alt = content.get("alt_aliases")
        if isinstance(alt, list) and alias in alt:
            content["alt_aliases"] = [a for a in alt if a != alias]
            changed = True
        if changed:
            await self._event_service.send_state_event(
                user_id, room_id, CANONICAL_ALIAS, "", content
            )

    async def room_aliases(self, user_id: str, room_id: str) -> list[str]:
        """``GET /rooms/{roomId}/aliases``: joined users, or anyone in a world-readable room."""
        if await self._rooms.get_room(room_id) is None:
            raise MatrixError(403, "M_FORBIDDEN", "You are not in this room")
        if await self._membership(room_id, user_id) != "join":
            visibility = (await self._state_content(room_id, "m.room.history_visibility")).get(
                "history_visibility"
            )
            if visibility != WORLD_READABLE and not await self._is_admin(user_id):
                raise MatrixError(403, "M_FORBIDDEN", "You are not in this room")
        return await self._rooms.get_aliases_for_room(room_id)

    # -- the room directory ------------------------------------------------------------------

    async def get_visibility(self, room_id: str) -> str:
        room = await self._rooms.get_room(room_id)
        if room is None:
            raise MatrixError(404, "M_NOT_FOUND", f"Unknown room {room_id}")
        return "public" if room.is_public else "private"

    async def set_visibility(self, user_id: str, room_id: str, visibility: str) -> None:
        if visibility not in ("public", "private"):
            raise MatrixError(400, "M_INVALID_PARAM", "visibility must be public or private")
        if await self._rooms.get_room(room_id) is None:
            raise MatrixError(404, "M_NOT_FOUND", f"Unknown room {room_id}")
        if not await self.can_send_state(
            room_id, user_id, CANONICAL_ALIAS
        ) and not await self._is_admin(user_id):
            raise MatrixError(403, "M_FORBIDDEN", "You may not change this room's visibility")
        await self._rooms.set_room_public(room_id, visibility == "public")

    async def room_summary(self, room_id: str) -> dict[str, Any]:
        """A ``PublicRoomsChunk`` from the room's current state."""
        entry: dict[str, Any] = {"room_id": room_id}
        entry["num_joined_members"] = await self._reads.count_members(room_id)
        for event_type, key, name in (
            ("m.room.name", "name", "name"),
            ("m.room.topic", "topic", "topic"),
            ("m.room.canonical_alias", "alias", "canonical_alias"),
            ("m.room.avatar", "url", "avatar_url"),
            ("m.room.join_rules", "join_rule", "join_rule"),
        ):
            value = (await self._state_content(room_id, event_type)).get(key)
            if isinstance(value, str) and value:
                entry[name] = value
        visibility = (await self._state_content(room_id, "m.room.history_visibility")).get(
            "history_visibility"
        )
        entry["world_readable"] = visibility == WORLD_READABLE
        guest = (await self._state_content(room_id, "m.room.guest_access")).get("guest_access")
        entry["guest_can_join"] = guest == "can_join"
        room_type = (await self._state_content(room_id, "m.room.create")).get("type")
        if isinstance(room_type, str):
            entry["room_type"] = room_type
        return entry

    async def public_rooms(
        self,
        *,
        server: str | None,
        limit: int | None,
        since: str | None,
        search_term: str | None = None,
        room_types: list[str | None] | None = None,
    ) -> dict[str, Any]:
        """``GET``/``POST /publicRooms``: this server's directory, or with ``server`` another
        server's, asked over federation."""
        if server is not None and server != self._server_name:
            if not is_valid_server_name(server):
                raise MatrixError(400, "M_INVALID_PARAM", f"invalid server name {server!r}")
            if self.remote_public_rooms is None:
                # Asking another server's directory needs federation.
                raise MatrixError(
                    404, "M_NOT_FOUND", f"the directory of {server} cannot be queried"
                )
            return await self.remote_public_rooms.public_rooms(
                server, limit=limit, since=since, search_term=search_term, room_types=room_types
            )
        offset = 0
        if since is not None:
            if not since.startswith("o") or not since[1:].isdigit():
                raise MatrixError(400, "M_INVALID_PARAM", "invalid since token")
            offset = int(since[1:])
        records = await self._rooms.list_public_rooms(limit=100_000)
        entries = [await self.room_summary(r.room_id) for r in records]
        if search_term:
            term = search_term.casefold()
            entries = [
                e
                for e in entries
                if any(
                    term in str(e.get(k, "")).casefold()
                    for k in ("name", "topic", "canonical_alias", "room_id")
                )
            ]
        # An empty room_types list filters nothing, like an absent one (as Synapse does; the
        # spec only says what an absent list means).
        if room_types:
            entries = [e for e in entries if e.get("room_type") in room_types]
        entries.sort(key=lambda e: (-e["num_joined_members"], e["room_id"]))
        total = len(entries)
        size = MAX_PUBLIC_ROOMS if limit is None else min(max(limit, 0), MAX_PUBLIC_ROOMS)
        page = entries[offset : offset + size]
        body: dict[str, Any] = {"chunk": page, "total_room_count_estimate": total}
        if offset + size < total and size > 0:
            body["next_batch"] = f"o{offset + size}"
        if offset > 0:
            body["prev_batch"] = f"o{max(offset - size, 0)}"
        return body
