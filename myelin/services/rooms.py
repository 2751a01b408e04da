"""Room creation (spec: Client-Server API, "Creation": ``POST /createRoom``; Room Version 12
"Room IDs" and "creators").

``create_room`` validates the request, builds the room's initial events in the order the spec
gives, checks every one of them against the authorization rules in memory first (so a request
whose initial state is not allowed creates nothing and fails with ``M_INVALID_ROOM_STATE``),
records the room and its alias, and then writes the events one by one through the write path:

1. ``m.room.create`` (with ``creation_content``);
2. the creator's join;
3. ``m.room.power_levels`` (defaults, preset, ``power_level_content_override``);
4. ``m.room.canonical_alias`` if ``room_alias_name`` is given;
5. the preset's ``m.room.join_rules``, ``m.room.history_visibility``, ``m.room.guest_access``;
6. ``initial_state``, in order;
7. ``m.room.name`` and ``m.room.topic``;
8. the invites.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.core.auth_rules import check_auth_rules, check_state_dependent_auth_rules
from myelin.core.errors import (
    AuthError,
    CanonicalJsonError,
    InvalidEventError,
    InvalidIdentifierError,
)
from myelin.core.events import EventView
from myelin.core.identifiers import RoomAlias, UserID, server_name_of
from myelin.core.room_versions import (
    DEFAULT_ROOM_VERSION,
    KNOWN_ROOM_VERSIONS,
    RoomVersion,
)
from myelin.services.errors import MatrixError
from myelin.services.events import EventTemplate, EventWriter, IdSource, WrittenEvent
from myelin.services.events.ids import new_room_id
from myelin.services.events.service import ProfileReader, invalid_event_error, profile_content
from myelin.storage import AliasRecord, RoomAliasExistsError

logger = logging.getLogger("myelin.rooms")

CREATE = "m.room.create"
MEMBER = "m.room.member"
POWER_LEVELS = "m.room.power_levels"
CANONICAL_ALIAS = "m.room.canonical_alias"
JOIN_RULES = "m.room.join_rules"
HISTORY_VISIBILITY = "m.room.history_visibility"
GUEST_ACCESS = "m.room.guest_access"
NAME = "m.room.name"
TOPIC = "m.room.topic"

PRIVATE_CHAT = "private_chat"
TRUSTED_PRIVATE_CHAT = "trusted_private_chat"
PUBLIC_CHAT = "public_chat"


@dataclass(frozen=True)
class Preset:
    """What a preset sets (the table of ``POST /createRoom``)."""

    join_rule: str
    history_visibility: str
    guest_access: str
    # "All invitees are given the same power level as the room creator."
    invitees_are_admins: bool
    # Not in the spec: Synapse lets everyone invite in private chats and needs 50 in public
    # ones; clients expect it.
    invite_level: int


PRESETS: Mapping[str, Preset] = {
    PRIVATE_CHAT: Preset("invite", "shared", "can_join", False, 0),
    TRUSTED_PRIVATE_CHAT: Preset("invite", "shared", "can_join", True, 0),
    PUBLIC_CHAT: Preset("public", "shared", "forbidden", False, 50),
}


@dataclass(frozen=True)
class InitialStateEvent:
    type: str
    content: Mapping[str, Any]
    state_key: str = ""


@dataclass(frozen=True)
class CreateRoomRequest:
    """The body of ``POST /createRoom`` (already parsed from JSON; checked here)."""

    visibility: str = "private"
    room_alias_name: str | None = None
    name: str | None = None
    topic: str | None = None
    invite: Sequence[str] = ()
    room_version: str | None = None
    creation_content: Mapping[str, Any] = field(default_factory=dict)
    initial_state: Sequence[InitialStateEvent] = ()
    preset: str | None = None
    is_direct: bool = False
    power_level_content_override: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CreatedRoom:
    room_id: str
    room_version: RoomVersion
    room_alias: str | None
    events: list[WrittenEvent]


@dataclass(frozen=True)
class _Plan:
    """A checked request: the room version, preset, local invitees and full alias."""

    room_version: RoomVersion
    preset: Preset
    invitees: list[str]
    alias: str | None
    creator_profile: Mapping[str, Any] = field(default_factory=dict)


class RoomRecorder(Protocol):
    """The part of ``RoomStore`` room creation needs."""

    async def store_room(
        self,
        room_id: str,
        room_version: str,
        *,
        creator: str | None,
        created_ts: int,
        is_public: bool = False,
    ) -> bool: ...

    async def get_alias(self, room_alias: str) -> AliasRecord | None: ...

    async def create_alias(
        self, room_alias: str, room_id: str, *, creator: str, created_ts: int
    ) -> None: ...

    async def purge_room(self, room_id: str) -> int: ...


def _invalid(message: str) -> MatrixError:
    return MatrixError(400, "M_INVALID_PARAM", message)


def default_power_levels(
    room_version: RoomVersion, creator: str, preset: Preset, invitees: Sequence[str]
) -> dict[str, Any]:
    """The default ``m.room.power_levels`` content of a new room."""
    users: dict[str, int] = {}
    if not room_version.privileged_creators:
        # Room versions 1-11: "the room creator (and not other members) will be given
        # permission to send state events". From v12 creators have infinite power and "cannot
        # be specified in the users field" (trusted invitees become additional creators).
        users[creator] = 100
        if preset.invitees_are_admins:
            users.update((invitee, 100) for invitee in invitees)
    return {
        "users": users,
        "users_default": 0,
        "events": {
            NAME: 50,
            POWER_LEVELS: 100,
            HISTORY_VISIBILITY: 100,
            CANONICAL_ALIAS: 50,
            "m.room.avatar": 50,
            # v12: "the power level for sending m.room.tombstone events MUST explicitly be
            # higher than state_default. For example, set to 150 instead of 100."
            "m.room.tombstone": 150 if room_version.privileged_creators else 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": preset.invite_level,
        "notifications": {"room": 50},
    }


def _check_user_id(user_id: object, what: str) -> str:
    if not isinstance(user_id, str):
        raise _invalid(f"{what} must be a user ID")
    try:
        UserID.parse(user_id)
    except InvalidIdentifierError as e:
        raise _invalid(f"{what}: invalid user ID {user_id!r}: {e}") from e
    return user_id


def creation_content(
    room_version: RoomVersion, creator: str, request: CreateRoomRequest, invitees: Sequence[str]
) -> dict[str, Any]:
    """The ``m.room.create`` content: ``creation_content`` with ``creator`` and
    ``room_version`` overwritten by the server."""
    content = dict(request.creation_content)
    content.pop("creator", None)
    if not room_version.creator_is_sender:
        content["creator"] = creator  # v1-v10; from v11 the sender is the creator
    content["room_version"] = room_version.identifier
    if room_version.privileged_creators:
        additional = content.get("additional_creators", [])
        if not isinstance(additional, list):
            raise _invalid("additional_creators must be a list of user IDs")
        creators = [_check_user_id(u, "additional_creators") for u in additional]
        if request.preset == TRUSTED_PRIVATE_CHAT:
            # "the server SHOULD combine additional_creators specified here and the invite
            # array ..., deduplicating between the two parameters."
            creators.extend(invitees)
        creators = [u for u in dict.fromkeys(creators) if u != creator]
        if creators or "additional_creators" in content:
            content["additional_creators"] = creators
    return content


class RoomService:
    """Creates rooms on this server."""

    def __init__(
        self,
        *,
        server_name: str,
        writer: EventWriter,
        rooms: RoomRecorder,
        clock: Clock,
        ids: IdSource,
        default_room_version: RoomVersion = DEFAULT_ROOM_VERSION,
        profiles: ProfileReader | None = None,
    ) -> None:
        self._profiles = profiles
        self._server_name = server_name
        self._writer = writer
        self._rooms = rooms
        self._clock = clock
        self._ids = ids
        self._default_version = default_room_version
        # Set by the composition root: 403 M_INVITE_BLOCKED for an invitee who blocks invites
        # (spec: "Invite permission"), checked before anything is created.
        self.invite_check: Callable[[str], Awaitable[None]] | None = None
        # Set by the composition root (federation): invite a user of another server, their
        # server signing the invite (room ID, version, sender, invitee, member content).
        self.remote_invite: (
            Callable[[str, RoomVersion, str, str, Mapping[str, Any]], Awaitable[Any]] | None
        ) = None

    def _validate(self, creator: str, request: CreateRoomRequest) -> _Plan:
        if request.room_version is None:
            room_version = self._default_version
        else:
            found = KNOWN_ROOM_VERSIONS.get(request.room_version)
            if found is None:
                raise MatrixError(
                    400,
                    "M_UNSUPPORTED_ROOM_VERSION",
                    f"this server does not support room version {request.room_version!r}",
                )
            room_version = found
        if request.visibility not in ("public", "private"):
            raise _invalid("visibility must be public or private")
        preset_name = request.preset
        if preset_name is None:
            preset_name = PUBLIC_CHAT if request.visibility == "public" else PRIVATE_CHAT
        preset = PRESETS.get(preset_name)
        if preset is None:
            raise _invalid(f"unknown preset {preset_name!r}")
        invitees = [_check_user_id(u, "invite") for u in request.invite]
        invitees = list(dict.fromkeys(invitees))
        if creator in invitees:
            raise _invalid("the creator cannot invite themselves")
        remote = [u for u in invitees if server_name_of(u) != self._server_name]
        if remote and self.remote_invite is None:
            # Inviting a remote user needs their server to sign the invite (Server-Server API
            # "Inviting to a room"): not without federation.
            raise MatrixError(
                403, "M_FORBIDDEN", f"inviting users of other servers needs federation: {remote}"
            )
        for item in request.initial_state:
            if not isinstance(item.type, str) or not isinstance(item.state_key, str):
                raise MatrixError(400, "M_BAD_JSON", "initial_state needs type and state_key")
            if not isinstance(item.content, Mapping):
                raise MatrixError(400, "M_BAD_JSON", "initial_state content must be an object")
            if item.type == CREATE:
                raise _invalid("initial_state cannot hold m.room.create: use creation_content")
        if not isinstance(request.creation_content, Mapping):
            raise MatrixError(400, "M_BAD_JSON", "creation_content must be an object")
        override = request.power_level_content_override
        if override is not None and not isinstance(override, Mapping):
            raise MatrixError(400, "M_BAD_JSON", "power_level_content_override must be an object")
        alias = None
        if request.room_alias_name is not None:
            alias = f"#{request.room_alias_name}:{self._server_name}"
            if ":" in request.room_alias_name or any(c.isspace() for c in alias):
                raise _invalid(f"invalid room alias name {request.room_alias_name!r}")
            try:
                RoomAlias.parse(alias)
            except InvalidIdentifierError as e:
                raise _invalid(f"invalid room alias name: {e}") from e
        return _Plan(room_version, preset, invitees, alias)

    def _templates(
        self, creator: str, request: CreateRoomRequest, plan: _Plan
    ) -> list[EventTemplate]:
        """Steps 2 to 8 of the spec's order (step 1, the create event, is built first)."""
        room_version, preset, invitees, alias = (
            plan.room_version,
            plan.preset,
            plan.invitees,
            plan.alias,
        )
        initial = list(request.initial_state)
        initial_keys = {(item.type, item.state_key) for item in initial}
        # 2. The creator joins.
        join = {**plan.creator_profile, "membership": "join"}
        templates = [EventTemplate(MEMBER, creator, join, state_key=creator)]
        # 3. Power levels: an m.room.power_levels in initial_state replaces the default (as in
        # Synapse); otherwise the defaults with power_level_content_override on top.
        initial_pl = next((i for i in initial if (i.type, i.state_key) == (POWER_LEVELS, "")), None)
        if initial_pl is not None:
            pl_content = dict(initial_pl.content)
        else:
            pl_content = default_power_levels(room_version, creator, preset, invitees)
            pl_content.update(request.power_level_content_override or {})
        templates.append(EventTemplate(POWER_LEVELS, creator, pl_content, state_key=""))
        # 4. The canonical alias.
        if alias is not None:
            templates.append(EventTemplate(CANONICAL_ALIAS, creator, {"alias": alias}, ""))
        # 5. The preset's events, unless initial_state sets them ("takes precedence").
        for event_type, content in (
            (JOIN_RULES, {"join_rule": preset.join_rule}),
            (HISTORY_VISIBILITY, {"history_visibility": preset.history_visibility}),
            (GUEST_ACCESS, {"guest_access": preset.guest_access}),
        ):
            if (event_type, "") not in initial_keys:
                templates.append(EventTemplate(event_type, creator, content, state_key=""))
        # 6. initial_state in order; name and topic override theirs (step 7).
        for item in initial:
            key = (item.type, item.state_key)
            if key == (POWER_LEVELS, ""):
                continue
            if (key == (NAME, "") and request.name is not None) or (
                key == (TOPIC, "") and request.topic is not None
            ):
                continue
            templates.append(EventTemplate(item.type, creator, dict(item.content), item.state_key))
        # 7. Name and topic.
        if request.name is not None:
            templates.append(EventTemplate(NAME, creator, {"name": request.name}, ""))
        if request.topic is not None:
            topic = {
                "topic": request.topic,
                "m.topic": [{"mimetype": "text/plain", "body": request.topic}],
            }
            templates.append(EventTemplate(TOPIC, creator, topic, ""))
        # 8. Invites (of local users; those of other servers go through their server after
        # the room exists, see create_room).
        for invitee in invitees:
            if server_name_of(invitee) != self._server_name:
                continue
            invite: dict[str, Any] = {"membership": "invite"}
            if request.is_direct:
                invite["is_direct"] = True
            templates.append(EventTemplate(MEMBER, creator, invite, state_key=invitee))
        return templates

    def _build_chain(
        self, creator: str, request: CreateRoomRequest, plan: _Plan
    ) -> list[EventView]:
        """Build every initial event in memory, each checked against the authorization rules
        with the state the previous ones make."""
        room_version = plan.room_version
        create_template = EventTemplate(
            CREATE,
            creator,
            creation_content(room_version, creator, request, plan.invitees),
            state_key="",
        )
        room_id = None
        if not room_version.room_id_is_create_event_id:
            room_id = new_room_id(self._ids, self._server_name)
        try:
            create = self._writer.build_on(room_id, room_version, create_template, [], {})
            check_auth_rules(room_version, create, [])
            room_id = create.room_id  # v12: "!" + the create event's ID
            chain = [create]
            state: dict[tuple[str, str], EventView] = {(CREATE, ""): create}
            for template in self._templates(creator, request, plan):
                event = self._writer.build_on(room_id, room_version, template, [chain[-1]], state)
                by_id = {e.event_id: e for e in chain}
                auth_events = [by_id[e] for e in event.auth_event_ids]
                check_auth_rules(room_version, event, auth_events, create_event=create)
                check_state_dependent_auth_rules(room_version, event, state)
                chain.append(event)
                pair = event.state_pair
                if pair is not None:
                    state[pair] = event
        except AuthError as e:
            raise MatrixError(
                400, "M_INVALID_ROOM_STATE", f"the initial state is not allowed: {e}"
            ) from e
        except InvalidEventError as e:
            raise invalid_event_error(e) from e
        except CanonicalJsonError as e:
            # Content a strict room version cannot hash: floats, integers beyond 2**53.
            raise MatrixError(400, "M_BAD_JSON", f"invalid event content: {e}") from e
        return chain

    async def create_room(self, creator: str, request: CreateRoomRequest) -> CreatedRoom:
        """Create a room as the spec's ``POST /createRoom`` describes; raise ``MatrixError``."""
        if server_name_of(creator) != self._server_name:
            raise ValueError(f"{creator} is not a user of this server")
        plan = self._validate(creator, request)
        if self.invite_check is not None:
            for invitee in plan.invitees:
                await self.invite_check(invitee)
        plan = replace(plan, creator_profile=await profile_content(self._profiles, creator))
        room_version, alias = plan.room_version, plan.alias
        if alias is not None and await self._rooms.get_alias(alias) is not None:
            raise MatrixError(400, "M_ROOM_IN_USE", f"room alias {alias} is already taken")
        chain = self._build_chain(creator, request, plan)
        room_id = chain[0].room_id
        now = self._clock.now_ms()
        await self._rooms.store_room(
            room_id,
            room_version.identifier,
            creator=creator,
            created_ts=now,
            is_public=request.visibility == "public",
        )
        if alias is not None:
            try:
                await self._rooms.create_alias(alias, room_id, creator=creator, created_ts=now)
            except RoomAliasExistsError as e:
                await self._rooms.purge_room(room_id)
                raise MatrixError(
                    400, "M_ROOM_IN_USE", f"room alias {alias} is already taken"
                ) from e
        written = [await self._writer.handle_event(event) for event in chain]
        # 8, users of other servers: the federation invite (Server-Server API "Inviting to a
        # room"). A server that cannot be reached does not undo the room: the failure is
        # logged and the other invites go on.
        for invitee in plan.invitees:
            if server_name_of(invitee) == self._server_name or self.remote_invite is None:
                continue
            invite: dict[str, Any] = {"membership": "invite"}
            if request.is_direct:
                invite["is_direct"] = True
            try:
                written.append(
                    await self.remote_invite(room_id, room_version, creator, invitee, invite)
                )
            except MatrixError as e:
                logger.warning("Inviting %s to new room %s failed: %s", invitee, room_id, e)
        return CreatedRoom(room_id, room_version, alias, written)
