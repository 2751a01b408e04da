"""Our users in rooms of other servers (spec: Server-Server API, "Joining Rooms" (``make_join``,
``send_join`` v2, restricted rooms), "Leaving Rooms (Rejecting Invites)" (``make_leave``,
``send_leave`` v2), "Knocking upon a room" (``make_knock``, ``send_knock``) and "Querying for
information" (``/query/directory``); Client-Server API, "Room membership").

A join through a resident server:

1. ``GET /make_join`` to each candidate server in turn until one answers with a template;
2. the template completed (our profile, the time, our server as ``origin``), hashed and signed;
3. ``PUT /send_join`` v2; the answer's state and auth chain are checked (steps 1 to 4 of the
   PDU checklist) and stored as outliers;
4. the join event itself (countersigned by the resident for a restricted room) runs through the
   write path with that state as the state before it: the room is then like a local one, and
   the outbound sender sends our next events to the room's other servers.

Memberships made without the room's DAG (an invite received, an invite rejected through
``make_leave``/``send_leave``, a knock) are *out of band*: stored with a state group holding our
user's member event on top of what this server knew, and never a forward extremity.
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from myelin.clock import Clock
from myelin.core.errors import InvalidEventError, UnsupportedRoomVersionError
from myelin.core.event_signing import load_event, sign_event
from myelin.core.events import EventView
from myelin.core.identifiers import server_name_of
from myelin.core.room_versions import (
    KNOWN_ROOM_VERSIONS,
    EventIdFormat,
    RedactionRules,
    RoomVersion,
    get_room_version,
)
from myelin.core.signing import SigningKey
from myelin.federation.client import (
    FederationClient,
    FederationDeniedError,
    FederationError,
    HttpResponseError,
    quote_segment,
)
from myelin.services.errors import MatrixError
from myelin.services.events import EventWriter, MissingPrerequisiteError
from myelin.services.events.service import ProfileReader, profile_content
from myelin.services.events.write_path import WrittenEvent
from myelin.services.federation.pdu_checks import EventSignatureChecker, PduDroppedError, check_pdu
from myelin.services.federation.receiver import PduReceiver
from myelin.storage import EventStore, NewStateGroup, RoomStore, StateStore
from myelin.storage.federation_rooms import ForwardExtremityStore

logger = logging.getLogger("myelin.federation.rooms")

V1 = "/_matrix/federation/v1"
V2 = "/_matrix/federation/v2"
MEMBER = "m.room.member"
# make_join errors of a restricted room that mean "ask another resident server" (spec:
# Server-Server API, "Restricted rooms").
TRY_ANOTHER_SERVER = ("M_UNABLE_TO_AUTHORISE_JOIN", "M_UNABLE_TO_GRANT_JOIN")


def federation_error(error: FederationError, what: str) -> MatrixError:
    """The client error for a failed request to another server (Synapse passes a remote 4xx
    on; anything else is a 502)."""
    if isinstance(error, FederationDeniedError):
        return MatrixError(403, "M_FORBIDDEN", f"Federation with {error.destination} is denied")
    if isinstance(error, HttpResponseError) and 400 <= error.status < 500:
        return MatrixError(
            error.status,
            error.errcode or "M_UNKNOWN",
            error.error or f"{error.destination} refused to {what}",
        )
    return MatrixError(502, "M_UNKNOWN", f"Failed to {what} through {error.destination}: {error}")


def candidate_servers(
    own_server: str, room_id: str, servers: Iterable[str], extra: Iterable[str] = ()
) -> list[str]:
    """The servers to ask, in order and without repeats: ``servers`` (``via``, an alias's
    servers), then ``extra`` (an inviter's), then the room ID's server (room versions before
    12); never this server."""
    ordered = [*servers, *extra]
    if ":" in room_id:
        ordered.append(room_id.split(":", 1)[1])
    return [s for s in dict.fromkeys(ordered) if s and s != own_server]


class RemoteRooms:
    def __init__(
        self,
        *,
        server_name: str,
        signing_key: SigningKey,
        client: FederationClient,
        writer: EventWriter,
        receiver: PduReceiver,
        keys: EventSignatureChecker,
        events: EventStore,
        state: StateStore,
        rooms: RoomStore,
        extremities: ForwardExtremityStore,
        profiles: ProfileReader | None,
        clock: Clock,
    ) -> None:
        self.server_name = server_name
        self._signing_key = signing_key
        self.client = client
        self._writer = writer
        self._receiver = receiver
        self.keys = keys
        self._events = events
        self._state = state
        self._rooms = rooms
        self._extremities = extremities
        self._profiles = profiles
        self._clock = clock

    # -- where a room is --------------------------------------------------------------------

    async def is_resident(self, room_id: str) -> bool:
        """Whether one of our users is joined to the room (this server is in it)."""
        members = await self._state.get_room_members(room_id)
        return any(_server(m) == self.server_name for m in members)

    async def own_membership_event(self, room_id: str, user_id: str) -> EventView | None:
        """Our user's current member event in the room, if any."""
        event_id = await self._state.get_current_state_event_id(room_id, MEMBER, user_id)
        if event_id is None:
            return None
        stored = await self._events.get_event(event_id)
        room = await self._rooms.get_room(room_id)
        if stored is None or room is None:
            return None
        try:
            return EventView(stored.json(), event_id, get_room_version(room.room_version))
        except UnsupportedRoomVersionError:
            return None

    async def resolve_alias(self, alias: str) -> tuple[str, list[str]]:
        """``GET /query/directory`` at the alias's server: the room ID and servers to join
        through."""
        server = alias.split(":", 1)[1]
        try:
            body = await self.client.get_json(
                server, f"{V1}/query/directory", {"room_alias": alias}
            )
        except FederationError as e:
            if isinstance(e, HttpResponseError) and e.status == 404:
                raise MatrixError(404, "M_NOT_FOUND", f"Room alias {alias} not found") from e
            raise federation_error(e, "resolve the alias") from e
        room_id = body.get("room_id") if isinstance(body, dict) else None
        servers = body.get("servers") if isinstance(body, dict) else None
        if not isinstance(room_id, str) or not room_id.startswith("!"):
            raise MatrixError(502, "M_UNKNOWN", f"{server} gave no room for {alias}")
        listed = [s for s in servers if isinstance(s, str)] if isinstance(servers, list) else []
        return room_id, [server, *listed]

    async def public_rooms(
        self,
        server: str,
        *,
        limit: int | None,
        since: str | None,
        search_term: str | None,
        room_types: list[str | None] | None,
    ) -> dict[str, Any]:
        """Another server's public room directory (spec: "Public Room Directory"), for a
        client's ``/publicRooms?server=``: ``GET``, or ``POST`` when there is a filter."""
        path = f"{V1}/publicRooms"
        try:
            if search_term is None and room_types is None:
                query: dict[str, str] = {}
                if limit is not None:
                    query["limit"] = str(limit)
                if since is not None:
                    query["since"] = since
                body = await self.client.get_json(server, path, query)
            else:
                request: dict[str, Any] = {"filter": {}}
                if search_term is not None:
                    request["filter"]["generic_search_term"] = search_term
                if room_types is not None:
                    request["filter"]["room_types"] = room_types
                if limit is not None:
                    request["limit"] = limit
                if since is not None:
                    request["since"] = since
                body = await self.client.post_json(server, path, request)
        except FederationError as e:
            raise federation_error(e, "fetch the room directory") from e
        chunk = body.get("chunk") if isinstance(body, dict) else None
        if not isinstance(chunk, list):
            raise MatrixError(502, "M_UNKNOWN", f"{server} sent a bad room directory")
        # Passed on as the server sent it (as Synapse), rooms that are not objects left out.
        return {**body, "chunk": [room for room in chunk if isinstance(room, dict)]}

    # -- make_* and send_* ------------------------------------------------------------------

    async def _make(
        self, membership: str, room_id: str, user_id: str, servers: Sequence[str]
    ) -> tuple[str, RoomVersion, dict[str, Any]]:
        """Step 1: the first template a candidate server gives (server, version, template)."""
        if not servers:
            raise MatrixError(404, "M_NOT_FOUND", f"No known servers for room {room_id}")
        query: dict[str, list[str]] | None = None
        if membership != "leave":
            query = {"ver": list(KNOWN_ROOM_VERSIONS)}
        path = f"{V1}/make_{membership}/{quote_segment(room_id)}/{quote_segment(user_id)}"
        last: MatrixError | None = None
        for server in servers:
            try:
                body = await self.client.get_json(server, path, query)
            except FederationError as e:
                logger.info("make_%s for %s through %s failed: %s", membership, room_id, server, e)
                error = federation_error(e, membership)
                if last is None or error.status < 500 or last.errcode not in TRY_ANOTHER_SERVER:
                    last = error  # a restricted room's answer says more than an outage
                if isinstance(e, HttpResponseError) and e.errcode in TRY_ANOTHER_SERVER:
                    continue  # a restricted room: another resident server may authorise
                if isinstance(e, HttpResponseError) and e.status in (400, 403):
                    break  # the room refuses: other servers will answer the same
                continue
            template = body.get("event") if isinstance(body, dict) else None
            version_id = body.get("room_version", "1") if isinstance(body, dict) else None
            if not isinstance(template, dict) or not isinstance(version_id, str):
                last = MatrixError(502, "M_UNKNOWN", f"{server} gave no event template")
                continue
            try:
                version = get_room_version(version_id)
            except UnsupportedRoomVersionError:
                last = MatrixError(
                    400, "M_UNSUPPORTED_ROOM_VERSION", f"Room version {version_id} unsupported"
                )
                continue
            if (
                template.get("type") != MEMBER
                or template.get("room_id") != room_id
                or template.get("sender") != user_id
                or template.get("state_key") != user_id
            ):
                last = MatrixError(502, "M_UNKNOWN", f"{server} gave a wrong event template")
                continue
            return server, version, template
        raise last or MatrixError(404, "M_NOT_FOUND", f"No server could {membership} {room_id}")

    async def _complete(
        self,
        version: RoomVersion,
        template: Mapping[str, Any],
        membership: str,
        reason: str | None,
    ) -> EventView:
        """Step 2: the template with our content, time and origin, hashed and signed."""
        pdu = {k: v for k, v in template.items() if k not in ("hashes", "signatures", "unsigned")}
        given = template.get("content")
        content: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
        if membership == "join":
            content.update(await profile_content(self._profiles, str(template["sender"])))
        content["membership"] = membership
        if reason is not None:
            content["reason"] = reason
        pdu["content"] = content
        pdu["origin_server_ts"] = self._clock.now_ms()
        if version.redaction is not RedactionRules.V11:
            pdu["origin"] = self.server_name
        if version.event_id_format is EventIdFormat.V1:
            pdu["event_id"] = self._writer.new_event_id(version)
        try:
            return load_event(
                sign_event(pdu, self.server_name, self._signing_key, version), version
            )
        except InvalidEventError as e:
            raise MatrixError(502, "M_UNKNOWN", f"The event template is invalid: {e}") from e

    async def _send(
        self, membership: str, server: str, event: EventView, api: str = V2
    ) -> Mapping[str, Any]:
        path = f"{api}/send_{membership}/{quote_segment(event.room_id)}/"
        path += quote_segment(event.event_id)
        try:
            body = await self.client.put_json(server, path, event.json)
        except FederationError as e:
            raise federation_error(e, membership) from e
        return body if isinstance(body, dict) else {}

    # -- joins -------------------------------------------------------------------------------

    async def join(
        self, user_id: str, room_id: str, servers: Sequence[str], reason: str | None = None
    ) -> WrittenEvent:
        """Join ``room_id`` through one of ``servers`` (steps 1 to 4)."""
        server, version, template = await self._make("join", room_id, user_id, servers)
        event = await self._complete(version, template, "join", reason)
        # 3. send_join v2.
        body = await self._send("join", server, event)
        returned = body.get("event")
        if isinstance(returned, dict):
            # A restricted join comes back countersigned by the authorising server.
            try:
                countersigned = await check_pdu(returned, version, self.keys)
            except PduDroppedError as e:
                raise MatrixError(502, "M_UNKNOWN", f"Bad event from {server}: {e}") from e
            if countersigned.event_id == event.event_id:
                event = countersigned
        state_pdus, chain = body.get("state"), body.get("auth_chain")
        if not isinstance(state_pdus, list) or not isinstance(chain, list):
            raise MatrixError(502, "M_UNKNOWN", f"{server} sent a bad send_join response")
        await self._rooms.store_room(
            room_id, version.identifier, creator=None, created_ts=self._clock.now_ms()
        )
        state = await self._receiver.store_state(state_pdus, chain, version)
        if ("m.room.create", "") not in state:
            raise MatrixError(502, "M_UNKNOWN", f"{server} sent no usable room state")
        # 4. The join through the write path, on the state the resident server gave. What
        # this server held (an out-of-band invite, a past membership) gives way to it: no
        # stale extremity to build on, and the current state the join is checked against
        # (receipt step 6) is the resident's.
        await self._extremities.clear(room_id)
        group = await self._state.store_state(room_id, state)
        await self._state.set_current_state_group(room_id, group)
        try:
            written = await self._receiver.receive_checked(server, event, state_before=state)
        except MissingPrerequisiteError as e:
            raise MatrixError(502, "M_UNKNOWN", f"Cannot join: {e.message}") from e
        if written is None:
            raise MatrixError(500, "M_UNKNOWN", "The join event was already known")
        if written.rejected_reason is not None or written.soft_failed:
            raise MatrixError(403, "M_FORBIDDEN", written.rejected_reason or "Join not allowed")
        return written

    # -- leaves (rejecting invites, rescinding knocks) and knocks -----------------------------

    async def leave(
        self, user_id: str, room_id: str, servers: Sequence[str], reason: str | None = None
    ) -> WrittenEvent:
        """Leave a room this server is not in (reject an invite, rescind a knock)."""
        server, version, template = await self._make("leave", room_id, user_id, servers)
        event = await self._complete(version, template, "leave", reason)
        await self._send("leave", server, event)
        return await self.persist_out_of_band(event)

    async def knock(
        self, user_id: str, room_id: str, servers: Sequence[str], reason: str | None = None
    ) -> WrittenEvent:
        """Knock on a room through one of ``servers`` (``make_knock``, ``send_knock``)."""
        server, version, template = await self._make("knock", room_id, user_id, servers)
        if not version.knock:
            raise MatrixError(403, "M_FORBIDDEN", "This room version does not support knocking")
        event = await self._complete(version, template, "knock", reason)
        body = await self._send("knock", server, event, V1)
        stripped = body.get("knock_room_state")
        unsigned = {"knock_room_state": stripped if isinstance(stripped, list) else []}
        return await self.persist_out_of_band(event, unsigned)

    async def persist_out_of_band(
        self, event: EventView, unsigned: Mapping[str, Any] | None = None
    ) -> WrittenEvent:
        """Store a membership made outside the room's DAG: visible to the member's ``/sync``
        (with ``unsigned`` added: stripped state), in the current state, no extremity."""
        room_id = event.room_id
        await self._rooms.store_room(
            room_id, event.room_version.identifier, creator=None, created_ts=self._clock.now_ms()
        )
        pdu = dict(event.json)
        if unsigned:
            pdu["unsigned"] = {**(pdu.get("unsigned") or {}), **unsigned}
        stored_view = EventView(pdu, event.event_id, event.room_version)
        pair = event.state_pair
        assert pair is not None
        async with self._writer.locks.hold(room_id):
            existing = await self._events.get_event(event.event_id)
            if existing is not None:
                return WrittenEvent(event, existing.stream_ordering, None)
            parent = await self._state.get_current_state_group(room_id)
            group = NewStateGroup(parent, {pair: event.event_id})
            persisted = await self._events.persist_event(
                stored_view,
                received_ts=self._clock.now_ms(),
                state_after=group,
                set_current_state=True,
            )
            # Not part of the DAG we hold: never build on it (the persist made it one).
            await self._extremities.drop(room_id, event.event_id)
        written = WrittenEvent(stored_view, persisted.stream_ordering, persisted.state_group)
        await self._writer.notify_written(written)
        return written


def _server(user_id: str) -> str | None:
    try:
        return server_name_of(user_id)
    except ValueError:
        return None


__all__ = ["RemoteRooms", "candidate_servers", "federation_error"]
