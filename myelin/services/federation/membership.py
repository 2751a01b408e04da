"""Other servers' users joining and leaving our rooms (spec: Server-Server API, "Joining
Rooms" (``make_join``, ``send_join`` v2, restricted rooms), "Leaving Rooms (Rejecting
Invites)" (``make_leave``, ``send_leave`` v2), "Knocking upon a room" (``make_knock``,
``send_knock``)).

``make_membership`` builds the event template the remote server completes and signs;
``send_membership`` receives the signed event through the PDU checklist and the write path,
and for a join answers with the state before it and its auth chain.
"""

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from myelin.core.auth_rules import auth_types_for_event
from myelin.core.client_events import STRIPPED_STATE_TYPES, strip_state_event
from myelin.core.event_signing import sign_event
from myelin.core.events import EventView
from myelin.core.identifiers import is_valid_user_id, server_name_of
from myelin.core.room_versions import EventIdFormat, RoomVersion
from myelin.core.signing import SigningKey
from myelin.services.errors import MatrixError
from myelin.services.events import EventTemplate, EventWriter
from myelin.services.events.build import Extremity, choose_prev_events
from myelin.services.events.loading import StateKey, load_events, load_state_events
from myelin.services.events.state import compute_state_before
from myelin.services.federation.pdu_checks import EventSignatureChecker, PduDroppedError, check_pdu
from myelin.services.federation.receiver import PduReceiver
from myelin.services.federation.serving import RoomEventServer
from myelin.services.restricted_joins import RestrictedJoins
from myelin.storage import EventStore, StateStore


class FederatedMembership:
    def __init__(
        self,
        *,
        server_name: str,
        signing_key: SigningKey,
        writer: EventWriter,
        receiver: PduReceiver,
        serving: RoomEventServer,
        keys: EventSignatureChecker,
        events: EventStore,
        state: StateStore,
    ) -> None:
        self._server_name = server_name
        self._signing_key = signing_key
        self._writer = writer
        self._receiver = receiver
        self._serving = serving
        self._keys = keys
        self._events = events
        self._state = state
        self._restricted = RestrictedJoins(events=events, state=state)
        # Set by the composition root: sends a member event received through send_join,
        # send_leave or send_knock on to the room's other servers (the origin excepted).
        self.broadcast: Callable[[EventView, str], Awaitable[None]] | None = None

    async def make_membership(
        self, origin: str, room_id: str, user_id: str, membership: str, versions: Sequence[str]
    ) -> dict[str, Any]:
        """``GET /make_join`` or ``/make_knock`` (``versions``: the ``ver`` the remote
        supports) or ``/make_leave`` (empty ``versions``)."""
        if not is_valid_user_id(user_id):
            raise MatrixError(400, "M_INVALID_PARAM", "Invalid user ID")
        if server_name_of(user_id) != origin:
            raise MatrixError(403, "M_FORBIDDEN", "User is not from the origin server")
        version = await self._serving.room_version(room_id)
        # Server ACLs protect make_join, make_leave and make_knock.
        await self._serving.check_acl(origin, room_id)
        if membership == "knock" and not version.knock:
            raise MatrixError(
                400,
                "M_INCOMPATIBLE_ROOM_VERSION",
                f"Room version {version.identifier} does not support knocking",
                room_version=version.identifier,
            )
        if membership in ("join", "knock") and version.identifier not in versions:
            raise MatrixError(
                400,
                "M_INCOMPATIBLE_ROOM_VERSION",
                f"The room is of version {version.identifier}, which your server does not support",
                room_version=version.identifier,
            )
        content: dict[str, Any] = {"membership": membership}
        current = await self._state.get_current_state(room_id)
        if not current:
            raise MatrixError(404, "M_NOT_FOUND", "Unknown room")
        if membership == "join":
            authoriser = await self._authoriser(room_id, user_id, version, current)
            if authoriser is not None:
                content["join_authorised_via_users_server"] = authoriser
        template = EventTemplate("m.room.member", user_id, content, state_key=user_id)
        event = await self._template(room_id, version, template)
        return {"room_version": version.identifier, "event": event}

    async def _authoriser(
        self, room_id: str, user_id: str, version: RoomVersion, current: dict[tuple[str, str], str]
    ) -> str | None:
        """For a restricted room: one of our joined users who may invite, once the user is
        found to meet the allow conditions, unless they are already joined or invited (spec:
        "Restricted rooms": 403 ``M_FORBIDDEN``, 400 ``M_UNABLE_TO_AUTHORISE_JOIN`` or
        ``M_UNABLE_TO_GRANT_JOIN`` otherwise)."""
        return await self._restricted.choose_authoriser(
            room_id, user_id, version, self._server_name
        )

    async def _template(
        self, room_id: str, version: RoomVersion, template: EventTemplate
    ) -> dict[str, Any]:
        event, _, _ = await build_on_extremities(
            self._events,
            self._state,
            self._writer,
            room_id=room_id,
            version=version,
            template=template,
        )
        # The joining server hashes and signs it: hand it over without ours.
        pdu = {k: v for k, v in event.json.items() if k not in ("hashes", "signatures")}
        if version.event_id_format is EventIdFormat.V1:
            pdu.pop("event_id", None)
        return pdu

    async def send_membership(
        self, origin: str, room_id: str, event_id: str, pdu: Any, membership: str
    ) -> dict[str, Any]:
        """``PUT /send_join/{roomId}/{eventId}`` v2 or ``/send_leave``: the response body."""
        version = await self._serving.room_version(room_id)
        # Server ACLs protect send_join, send_leave and send_knock.
        await self._serving.check_acl(origin, room_id)
        if isinstance(pdu, dict) and version.restricted_join_rule and membership == "join":
            pdu = await self._countersign(room_id, pdu, version)
        try:
            event = await check_pdu(pdu, version, self._keys)
        except PduDroppedError as e:
            raise MatrixError(400, "M_BAD_JSON", f"Invalid event: {e.reason}") from e
        if event.event_id != event_id or event.room_id != room_id:
            raise MatrixError(400, "M_BAD_JSON", "Event ID or room ID does not match the path")
        if event.type != "m.room.member" or event.membership != membership:
            raise MatrixError(400, "M_BAD_JSON", f"Not a {membership} membership event")
        if event.state_key != event.sender or server_name_of(event.sender) != origin:
            raise MatrixError(403, "M_FORBIDDEN", "The event's sender is not from the origin")
        written = await self._receiver.receive_checked(origin, event)
        if written is not None and written.rejected_reason is not None:
            raise MatrixError(403, "M_FORBIDDEN", written.rejected_reason)
        if written is not None and not written.soft_failed and self.broadcast is not None:
            await self.broadcast(event, origin)
        if membership == "knock":
            # "knock_room_state": the stripped state of the room for the knocker.
            return {"knock_room_state": await self._stripped_state(room_id, version)}
        if membership != "join":
            return {}
        state = await self._serving.state_ids_before(room_id, event_id, version)
        served = await self._serving.state_response(list(state.values()), version)
        # The send_join response names the state "state" (``/state`` calls it "pdus").
        response = {"state": served["pdus"], "auth_chain": served["auth_chain"]}
        response.update(
            {
                "origin": self._server_name,
                "event": event.json,
                "members_omitted": False,
                "servers_in_room": sorted(
                    {server_name_of(m) for m in await self._state.get_room_members(room_id)}
                ),
            }
        )
        return response

    async def _stripped_state(self, room_id: str, version: RoomVersion) -> list[dict[str, Any]]:
        current = await self._state.get_current_state(room_id)
        keys = [(t, "") for t in STRIPPED_STATE_TYPES]
        loaded = await load_state_events(self._events, current, keys, version)
        return [s for k in keys if k in loaded and (s := strip_state_event(loaded[k].json))]

    async def _countersign(
        self, room_id: str, pdu: dict[str, Any], version: RoomVersion
    ) -> dict[str, Any]:
        """A restricted join authorised by one of our users carries our signature too, given
        only after the allow conditions are checked again (spec: "Restricted rooms": the
        resident server checks them on ``send_join`` as on ``make_join``)."""
        content = pdu.get("content")
        authoriser = (
            content.get("join_authorised_via_users_server") if isinstance(content, dict) else None
        )
        sender = pdu.get("sender")
        if not isinstance(authoriser, str) or not isinstance(sender, str):
            return pdu
        try:
            if server_name_of(authoriser) != self._server_name:
                return pdu
        except ValueError:
            return pdu
        if not is_valid_user_id(sender):
            return pdu
        await self._restricted.verify_named_authoriser(
            room_id, sender, authoriser, version, self._server_name
        )
        return sign_event(pdu, self._server_name, self._signing_key, version)


async def build_on_extremities(
    events: EventStore,
    state: StateStore,
    writer: EventWriter,
    *,
    room_id: str,
    version: RoomVersion,
    template: EventTemplate,
    extra_state: Iterable[StateKey] = (),
) -> tuple[EventView, dict[StateKey, EventView], dict[StateKey, str]]:
    """A local event built (not stored) on the room's current forward extremities, with the
    state before it: the event, the state events its auth types (and ``extra_state``) name,
    and the whole state map before it."""
    extremities = await events.get_forward_extremities(room_id)
    stored = await events.get_events(extremities)
    prev_ids = choose_prev_events(
        Extremity(e.event_id, e.depth, e.stream_ordering) for e in stored.values()
    )
    prevs = await load_events(events, prev_ids, version)
    before = await compute_state_before(events, state, version, prev_ids)
    wanted = auth_types_for_event(
        version, template.type, template.sender, template.state_key, template.content
    )
    wanted.update(extra_state)
    state_events = await load_state_events(events, before.state, wanted, version)
    event = writer.build_on(
        room_id, version, template, [prevs.views[p] for p in prev_ids], state_events
    )
    return event, state_events, before.state
