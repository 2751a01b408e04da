"""Invites across servers (spec: Server-Server API, "Inviting to a room": ``PUT /invite`` v2,
both directions; "Stripped state").

Outbound, when one of our users invites a user of another server:

1. the invite is built on the room's forward extremities and checked against the auth rules;
2. ``PUT /_matrix/federation/v2/invite`` sends it with the room's stripped state to the
   invitee's server, which signs it and sends it back;
3. the returned event must be ours with the invitee server's valid signature added; it then
   runs through the write path (and the outbound sender sends it to the room's servers).

Inbound, when another server invites one of our users: the event is checked (format,
signatures, hashes), must invite a user of ours and come from the origin's user; we sign it and
answer. When this server is not in the room the invite is stored out of band with the stripped
state the inviter gave (``unsigned.invite_room_state``), so the invitee's ``/sync`` lists it
under ``rooms.invite``; when we are in the room the invite also arrives in a transaction.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from myelin.core.auth_rules import check_auth_rules
from myelin.core.client_events import STRIPPED_STATE_TYPES, strip_state_event
from myelin.core.errors import AuthError, SignatureError, UnsupportedRoomVersionError
from myelin.core.event_signing import load_event, sign_event
from myelin.core.events import EventView
from myelin.core.identifiers import server_name_of
from myelin.core.redaction import redact
from myelin.core.room_versions import RoomVersion, get_room_version
from myelin.core.signing import SigningKey
from myelin.federation.client import FederationError, quote_segment
from myelin.services.errors import MatrixError
from myelin.services.events import EventSource, EventTemplate, EventWriter
from myelin.services.events.loading import load_state_events
from myelin.services.events.write_path import WrittenEvent
from myelin.services.federation.membership import build_on_extremities
from myelin.services.federation.pdu_checks import PduDroppedError, check_pdu
from myelin.services.federation.remote_rooms import RemoteRooms, federation_error
from myelin.services.federation.transactions import room_acl_allows
from myelin.storage import EventStore, StateStore

V2 = "/_matrix/federation/v2"
MEMBER = "m.room.member"


class SignedJsonVerifier(Protocol):
    """The part of the key ring checking one server's signature on a JSON object."""

    async def verify_json_signed_by(
        self, obj: Mapping[str, Any], server_name: str, minimum_valid_until_ts: int = 0
    ) -> None: ...


class FederatedInvites:
    def __init__(
        self,
        *,
        server_name: str,
        signing_key: SigningKey,
        remote: RemoteRooms,
        writer: EventWriter,
        events: EventStore,
        state: StateStore,
        signatures: SignedJsonVerifier,
    ) -> None:
        self._server_name = server_name
        self._signing_key = signing_key
        self._remote = remote
        self._writer = writer
        self._events = events
        self._state = state
        self._signatures = signatures
        # Set by the composition root: 403 M_INVITE_BLOCKED for an invitee who blocks invites
        # (spec: "Invite permission").
        self.invite_check: Callable[[str], Awaitable[None]] | None = None

    # -- outbound ----------------------------------------------------------------------------

    async def invite(
        self,
        room_id: str,
        version: RoomVersion,
        sender: str,
        target: str,
        content: Mapping[str, Any],
    ) -> WrittenEvent:
        """Invite ``target`` (a user of another server) to a room we are in (steps 1 to 3)."""
        destination = server_name_of(target)
        template = EventTemplate(MEMBER, sender, dict(content), state_key=target)
        event, stripped = await self._build(room_id, version, template)
        body = {
            "room_version": version.identifier,
            "event": event.json,
            "invite_room_state": stripped,
        }
        path = f"{V2}/invite/{quote_segment(room_id)}/{quote_segment(event.event_id)}"
        try:
            answer = await self._remote.client.put_json(destination, path, body)
        except FederationError as e:
            raise federation_error(e, "invite") from e
        # 3. The same event, with the invitee server's signature.
        returned = answer.get("event") if isinstance(answer, dict) else None
        signed = self._merge_signatures(event, returned, destination)
        redacted = redact(signed, version)
        try:
            await self._signatures.verify_json_signed_by(redacted, destination)
        except SignatureError as e:
            raise MatrixError(502, "M_UNKNOWN", f"{destination} signed the invite badly") from e
        return await self._writer.handle_event(
            EventView(signed, event.event_id, version), EventSource.LOCAL
        )

    def _merge_signatures(
        self, event: EventView, returned: Any, destination: str
    ) -> dict[str, Any]:
        if not isinstance(returned, dict):
            raise MatrixError(502, "M_UNKNOWN", f"{destination} returned no invite event")
        try:
            returned_view = load_event(returned, event.room_version)
        except Exception as e:
            raise MatrixError(502, "M_UNKNOWN", f"{destination} returned a bad event") from e
        theirs = returned.get("signatures")
        if returned_view.event_id != event.event_id or not isinstance(theirs, dict):
            raise MatrixError(502, "M_UNKNOWN", f"{destination} returned another event")
        own = event.json.get("signatures")
        signatures = {**theirs, **(own if isinstance(own, dict) else {})}
        if destination not in signatures:
            raise MatrixError(502, "M_UNKNOWN", f"{destination} did not sign the invite")
        return {**event.json, "signatures": signatures}

    async def _build(
        self, room_id: str, version: RoomVersion, template: EventTemplate
    ) -> tuple[EventView, list[dict[str, Any]]]:
        """1. The invite on the room's extremities, checked, and the room's stripped state."""
        async with self._writer.locks.hold(room_id):
            event, state_events, state_before = await build_on_extremities(
                self._events,
                self._state,
                self._writer,
                room_id=room_id,
                version=version,
                template=template,
                extra_state=[("m.room.create", "")],
            )
        auth = [state_events[k] for k in state_events if k in _auth_pairs(event, state_events)]
        try:
            check_auth_rules(
                version, event, auth, create_event=state_events.get(("m.room.create", ""))
            )
        except AuthError as e:
            raise MatrixError(403, "M_FORBIDDEN", e.reason) from e
        keys = [(t, "") for t in STRIPPED_STATE_TYPES] + [(MEMBER, template.sender)]
        stripped_events = await load_state_events(self._events, state_before, keys, version)
        stripped = [
            s
            for k in keys
            if k in stripped_events and (s := strip_state_event(stripped_events[k].json))
        ]
        return event, stripped

    # -- inbound -----------------------------------------------------------------------------

    async def on_invite(
        self, origin: str, room_id: str, event_id: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``PUT /_matrix/federation/v2/invite/{roomId}/{eventId}``: the response body."""
        version_id = body.get("room_version")
        if not isinstance(version_id, str):
            raise MatrixError(400, "M_MISSING_PARAM", "room_version is required")
        try:
            version = get_room_version(version_id)
        except UnsupportedRoomVersionError as e:
            raise MatrixError(
                400,
                "M_INCOMPATIBLE_ROOM_VERSION",
                f"Room version {version_id} is not supported",
                room_version=version_id,
            ) from e
        pdu = body.get("event")
        if not isinstance(pdu, dict):
            raise MatrixError(400, "M_BAD_JSON", "event must be an object")
        # Server ACLs protect /invite (a room we are not in has no ACL here).
        if not await room_acl_allows(self._state, self._events, room_id, origin):
            raise MatrixError(403, "M_FORBIDDEN", "Server is banned by the room's ACL")
        try:
            event = await check_pdu(pdu, version, self._remote.keys)
        except PduDroppedError as e:
            raise MatrixError(400, "M_BAD_JSON", f"Invalid event: {e.reason}") from e
        if event.json is not pdu:
            raise MatrixError(400, "M_BAD_JSON", "The event's content hash does not match")
        if event.event_id != event_id or event.room_id != room_id:
            raise MatrixError(400, "M_BAD_JSON", "Event ID or room ID does not match the path")
        if event.type != MEMBER or event.membership != "invite" or event.state_key is None:
            raise MatrixError(400, "M_BAD_JSON", "Not an invite")
        if _server(event.state_key) != self._server_name:
            raise MatrixError(400, "M_BAD_JSON", "The invitee is not a user of this server")
        if _server(event.sender) != origin:
            raise MatrixError(403, "M_FORBIDDEN", "The inviter is not a user of the origin")
        if self.invite_check is not None:
            await self.invite_check(event.state_key)
        signed = sign_event(pdu, self._server_name, self._signing_key, version)
        if await self._events.get_event(event_id) is None and not await self._remote.is_resident(
            room_id
        ):
            stripped = body.get("invite_room_state")
            if not isinstance(stripped, list):
                unsigned = pdu.get("unsigned")
                given = unsigned.get("invite_room_state") if isinstance(unsigned, dict) else None
                stripped = given if isinstance(given, list) else []
            await self._remote.persist_out_of_band(
                EventView(signed, event_id, version), {"invite_room_state": stripped}
            )
        return {"event": signed}


def _auth_pairs(
    event: EventView, state: Mapping[tuple[str, str], EventView]
) -> set[tuple[str, str]]:
    ids = set(event.auth_event_ids)
    pairs = {k for k, v in state.items() if v.event_id in ids}
    if event.room_version.room_id_is_create_event_id:
        pairs.discard(("m.room.create", ""))
    return pairs


def _server(user_id: str) -> str | None:
    try:
        return server_name_of(user_id)
    except ValueError:
        return None
