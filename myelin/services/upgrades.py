"""Room upgrades (spec: Client-Server API, "Room Upgrades", server behaviour; ``POST
/rooms/{roomId}/upgrade``).

1. Check the new version is supported and the user may send ``m.room.tombstone`` in the old
   room.
2. Create the new room: the old create event's ``type`` and ``m.federate`` with a
   ``predecessor``, and the old room's state copied as Synapse copies it (join rules, name,
   topic, history visibility, guest access, avatar, encryption, server ACL, power levels and
   ``m.space.child`` events); the new room is published if the old one was.
3. Send the ``m.room.tombstone`` into the old room.
4. Restrict the old room: ``events_default`` and ``invite`` at least ``max(50, users_default +
   1)`` so that ordinary members can no longer talk there (as Synapse).
5. Move the local aliases and the canonical alias to the new room.
"""

import contextlib
from collections.abc import Mapping
from typing import Any

from myelin.clock import Clock
from myelin.core.events import EventView
from myelin.core.power_levels import creators
from myelin.core.room_versions import KNOWN_ROOM_VERSIONS
from myelin.services.directory import Directory
from myelin.services.errors import MatrixError
from myelin.services.events import EventService
from myelin.services.rooms import CreateRoomRequest, InitialStateEvent, RoomService
from myelin.storage import EventStore, RoomStore, StateStore

COPIED_STATE = (
    "m.room.join_rules",
    "m.room.name",
    "m.room.topic",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.avatar",
    "m.room.encryption",
    "m.room.server_acl",
)
POWER_LEVELS = "m.room.power_levels"
CANONICAL_ALIAS = "m.room.canonical_alias"
TOMBSTONE = "m.room.tombstone"


class RoomUpgrader:
    def __init__(
        self,
        *,
        rooms: RoomService,
        events: EventService,
        event_store: EventStore,
        state: StateStore,
        room_store: RoomStore,
        directory: Directory,
        clock: Clock,
    ) -> None:
        self._rooms = rooms
        self._events = events
        self._event_store = event_store
        self._state = state
        self._room_store = room_store
        self._directory = directory
        self._clock = clock

    async def _state_events(self, room_id: str) -> dict[tuple[str, str], EventView]:
        room_version = await self._events.room_version(room_id)
        current = await self._state.get_current_state(room_id)
        loaded = await self._event_store.get_events(list(current.values()))
        return {
            key: EventView(loaded[event_id].json(), event_id, room_version)
            for key, event_id in current.items()
            if event_id in loaded
        }

    async def upgrade(
        self,
        user_id: str,
        room_id: str,
        new_version: str,
        additional_creators: list[str] | None = None,
    ) -> str:
        """Upgrade ``room_id`` to ``new_version``; return the new room's ID."""
        # 1. Checks.
        target = KNOWN_ROOM_VERSIONS.get(new_version)
        if target is None:
            raise MatrixError(
                400, "M_UNSUPPORTED_ROOM_VERSION", f"unsupported room version {new_version!r}"
            )
        old_version = await self._events.room_version(room_id)
        if not await self._directory.can_send_state(room_id, user_id, TOMBSTONE):
            raise MatrixError(403, "M_FORBIDDEN", "You may not upgrade this room")
        state = await self._state_events(room_id)
        create = state[("m.room.create", "")]
        # 2. The new room.
        creation: dict[str, Any] = {
            key: value for key, value in create.content.items() if key in ("type", "m.federate")
        }
        extremities = await self._event_store.get_forward_extremities(room_id)
        predecessor: dict[str, Any] = {"room_id": room_id}
        if extremities:
            predecessor["event_id"] = extremities[0]
        creation["predecessor"] = predecessor
        if additional_creators and target.privileged_creators:
            creation["additional_creators"] = additional_creators
        initial = [
            InitialStateEvent(key[0], dict(event.content), key[1])
            for key, event in state.items()
            if key[0] in COPIED_STATE and key[1] == ""
        ]
        initial.extend(
            InitialStateEvent(key[0], dict(event.content), key[1])
            for key, event in state.items()
            if key[0] == "m.space.child" and event.content
        )
        old_pl = state.get((POWER_LEVELS, ""))
        if old_pl is not None:
            pl = dict(old_pl.content)
            users = dict(pl.get("users", {})) if isinstance(pl.get("users"), Mapping) else {}
            if target.privileged_creators:
                # v12: creators may not appear in "users".
                new_creators = {user_id, *(additional_creators or [])}
                for creator in new_creators:
                    users.pop(creator, None)
            elif not old_version.privileged_creators or user_id not in users:
                users[user_id] = max(int(users.get(user_id, 100)), 100)
            if old_version.privileged_creators and not target.privileged_creators:
                for creator in creators(old_version, create):
                    users.setdefault(creator, 100)
            pl["users"] = users
            initial.append(InitialStateEvent(POWER_LEVELS, pl, ""))
        was_public = (await self._directory.get_visibility(room_id)) == "public"
        created = await self._rooms.create_room(
            user_id,
            CreateRoomRequest(
                visibility="public" if was_public else "private",
                room_version=target.identifier,
                creation_content=creation,
                initial_state=initial,
                preset="private_chat",
            ),
        )
        new_room = created.room_id
        # 3. The tombstone.
        await self._events.send_state_event(
            user_id,
            room_id,
            TOMBSTONE,
            "",
            {"body": "This room has been replaced", "replacement_room": new_room},
        )
        # 4. Restrict the old room.
        if old_pl is not None:
            pl = dict(old_pl.content)
            users_default = pl.get("users_default", 0)
            restricted = max(50, (users_default if isinstance(users_default, int) else 0) + 1)
            changed = False
            for key in ("events_default", "invite"):
                value = pl.get(key, 0)
                if not isinstance(value, int) or value < restricted:
                    pl[key] = restricted
                    changed = True
            if changed:
                # As Synapse: an upgrade does not fail for this.
                with contextlib.suppress(MatrixError):
                    await self._events.send_state_event(user_id, room_id, POWER_LEVELS, "", pl)
        if was_public:
            await self._room_store.set_room_public(room_id, False)
        # 5. Aliases.
        for alias in await self._room_store.get_aliases_for_room(room_id):
            record = await self._room_store.get_alias(alias)
            await self._room_store.delete_alias(alias)
            await self._room_store.create_alias(
                alias,
                new_room,
                creator=record.creator if record is not None else user_id,
                created_ts=self._clock.now_ms(),
            )
        canonical = state.get((CANONICAL_ALIAS, ""))
        if canonical is not None and canonical.content:
            with contextlib.suppress(MatrixError):
                await self._events.send_state_event(
                    user_id, new_room, CANONICAL_ALIAS, "", dict(canonical.content)
                )
                await self._events.send_state_event(user_id, room_id, CANONICAL_ALIAS, "", {})
        return new_room
