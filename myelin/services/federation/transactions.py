"""Inbound transactions (spec: Server-Server API, "Transactions", "PUT /send/{txnId}", "Server
Access Control Lists (ACLs)").

``TransactionHandler.on_send`` processes one transaction: a retry of a transaction already
processed (same origin and ``txnId``) gets the stored response; otherwise the PDUs are grouped
by room and received in order within a room, rooms in parallel, so that a slow room (fetching
missing events) does not block the others; then the EDUs. The room's server ACL is applied to
the transaction's origin for every PDU and EDU.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson

from myelin.clock import Clock
from myelin.core.errors import ProtocolError, UnsupportedRoomVersionError
from myelin.core.hashes import compute_event_id
from myelin.core.room_versions import RoomVersion, get_room_version
from myelin.core.server_acl import is_server_allowed
from myelin.services.errors import MatrixError
from myelin.services.events import MissingPrerequisiteError
from myelin.services.events.write_path import RoomLocks
from myelin.services.federation.edus import EduHandler
from myelin.services.federation.pdu_checks import PduDroppedError
from myelin.services.federation.receiver import PduReceiver
from myelin.storage import EventStore, RoomStore, StateStore
from myelin.storage.federation_rooms import ReceivedTransactionStore

logger = logging.getLogger("myelin.federation.transactions")

# "A transaction ... limited to 50 PDUs and 100 EDUs".
MAX_PDUS = 50
MAX_EDUS = 100


async def room_acl_allows(
    state: StateStore, events: EventStore, room_id: str, server_name: str
) -> bool:
    """The room's current ``m.room.server_acl`` applied to ``server_name``."""
    acl_id = await state.get_current_state_event_id(room_id, "m.room.server_acl", "")
    if acl_id is None:
        return True
    stored = await events.get_event(acl_id)
    if stored is None:
        return True
    content = stored.json().get("content")
    return is_server_allowed(content if isinstance(content, dict) else {}, server_name)


class TransactionHandler:
    def __init__(
        self,
        *,
        receiver: PduReceiver,
        edus: EduHandler,
        rooms: RoomStore,
        state: StateStore,
        events: EventStore,
        received: ReceivedTransactionStore,
        clock: Clock,
    ) -> None:
        self._receiver = receiver
        self._edus = edus
        self._rooms = rooms
        self._state = state
        self._events = events
        self._received = received
        self._clock = clock
        # Receiving into one room is serialised across transactions (fetching missing events
        # for one PDU must not race with the next); distinct from the write path's locks.
        self._room_locks = RoomLocks()
        self._in_flight: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        # Called with the origin of every transaction received: a peer sending to us is up
        # (the outbound sender resets its backoff and retries at once, as Synapse does).
        self.on_origin_seen: Callable[[str], Awaitable[None]] | None = None

    async def on_send(self, origin: str, txn_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Process a transaction; return the response body (``{"pdus": {event_id: result}}``)."""
        if self.on_origin_seen is not None:
            try:
                await self.on_origin_seen(origin)
            except Exception:
                logger.exception("Noting that %s is up failed", origin)
        stored = await self._received.get_response(origin, txn_id)
        if stored is not None:
            value = orjson.loads(stored)
            return value if isinstance(value, dict) else {"pdus": {}}
        key = (origin, txn_id)
        running = self._in_flight.get(key)
        if running is not None:  # the same transaction retried while still being processed
            return await asyncio.shield(running)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            response = await self._process(origin, body)
            await self._received.store_response(
                origin, txn_id, orjson.dumps(response).decode(), self._clock.now_ms()
            )
            future.set_result(response)
            return response
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: a retry will see it, nobody else must
            raise
        finally:
            del self._in_flight[key]

    async def _process(self, origin: str, body: Mapping[str, Any]) -> dict[str, Any]:
        pdus = body.get("pdus", [])
        edus = body.get("edus", [])
        if not isinstance(pdus, list) or not isinstance(edus, list):
            raise MatrixError(400, "M_BAD_JSON", "pdus and edus must be arrays")
        if len(pdus) > MAX_PDUS or len(edus) > MAX_EDUS:
            raise MatrixError(
                400, "M_BAD_JSON", f"At most {MAX_PDUS} PDUs and {MAX_EDUS} EDUs per transaction"
            )
        results: dict[str, dict[str, Any]] = {}
        by_room: dict[str, list[Any]] = {}
        for pdu in pdus:
            room_id = pdu.get("room_id") if isinstance(pdu, dict) else None
            if not isinstance(room_id, str):
                logger.info("Dropping a PDU from %s without a room_id", origin)
                continue
            by_room.setdefault(room_id, []).append(pdu)
        outcomes = await asyncio.gather(
            *(self._room_pdus(origin, room_id, items) for room_id, items in by_room.items())
        )
        for outcome in outcomes:
            results.update(outcome)
        for edu in edus:
            await self._edus.handle(origin, edu)
        return {"pdus": results}

    async def _room_pdus(
        self, origin: str, room_id: str, pdus: Sequence[Any]
    ) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        room = await self._rooms.get_room(room_id)
        if room is None:
            logger.info("Dropping %d PDUs from %s for unknown room %s", len(pdus), origin, room_id)
            return results
        try:
            room_version = get_room_version(room.room_version)
        except UnsupportedRoomVersionError:
            return results
        async with self._room_locks.hold(room_id):
            # ACLs: a server the room's ACL denies may not send PDUs into it.
            if not await room_acl_allows(self._state, self._events, room_id, origin):
                # "the PDU MUST be ignored with an appropriate error included in the response
                # for the respective event ID".
                logger.info("Server ACL of %s denies %s: dropping its PDUs", room_id, origin)
                for pdu in pdus:
                    _error(results, pdu, room_version, "Server is banned by the room's ACL")
                return results
            for pdu in pdus:
                await self._one(origin, pdu, room_version, results)
        return results

    async def _one(
        self, origin: str, pdu: Any, room_version: RoomVersion, results: dict[str, dict[str, Any]]
    ) -> None:
        try:
            written = await self._receiver.receive(origin, pdu, room_version)
        except PduDroppedError as e:
            logger.info("Dropped a PDU from %s: %s", origin, e)
            return
        except MissingPrerequisiteError as e:
            logger.info("Could not receive a PDU from %s: %s", origin, e.message)
            _error(results, pdu, room_version, e.message)
            return
        except Exception as e:  # a peer must not make the whole transaction fail
            logger.exception("Error receiving a PDU from %s", origin)
            _error(results, pdu, room_version, str(e) or type(e).__name__)
            return
        if written is None:
            return
        event_id = written.event.event_id
        results[event_id] = (
            {} if written.rejected_reason is None else {"error": written.rejected_reason}
        )


def _error(
    results: dict[str, dict[str, Any]], pdu: Any, room_version: RoomVersion, message: str
) -> None:
    with contextlib.suppress(ProtocolError, KeyError, TypeError, AttributeError):
        results[compute_event_id(pdu, room_version)] = {"error": message}
