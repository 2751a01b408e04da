"""Receipts and read markers (spec: Client-Server API, "Receipts", "Threaded read receipts",
"Private read receipts" and "Read and unread markers").

``m.read`` and ``m.read.private`` receipts are stored per (room, type, user, thread) and only
move forward; each change takes the next position of the ``receipts`` stream and is announced
on the receipts notifier (a private receipt only to its owner, who alone may see it). The
``m.fully_read`` marker is the room's ``m.fully_read`` account data. Receipts reset the unread
notification counts (``myelin.storage.push_actions`` compares against them).
"""

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.core.identifiers import is_valid_event_id
from myelin.services.errors import MatrixError
from myelin.services.notifier import Notifier
from myelin.services.sync.provider import SyncRequest, SyncResponse
from myelin.services.sync.token import StreamName
from myelin.services.typing import ephemeral_allowed, rooms_to_sync
from myelin.storage.events import StoredEvent
from myelin.storage.receipts import ReceiptRecord

READ = "m.read"
READ_PRIVATE = "m.read.private"
FULLY_READ = "m.fully_read"
RECEIPT_TYPES = frozenset({READ, READ_PRIVATE, FULLY_READ})
MAIN_THREAD = "main"
# "Implementations should not recurse infinitely, though: a maximum of 3 hops is recommended."
MAX_THREAD_HOPS = 3

JsonDict = dict[str, Any]


class EventReader(Protocol):
    async def get_event(self, event_id: str) -> StoredEvent | None: ...


class MembershipReader(Protocol):
    async def current_membership(self, room_id: str, user_id: str) -> str | None: ...


class AccountDataSetter(Protocol):
    async def set_account_data(
        self, user_id: str, room_id: str | None, data_type: str, content: JsonDict
    ) -> int: ...


class ReceiptStorage(Protocol):
    async def current_position(self) -> int: ...

    async def insert_receipt(
        self,
        room_id: str,
        receipt_type: str,
        user_id: str,
        thread_id: str | None,
        event_id: str,
        *,
        event_stream_ordering: int,
        ts: int,
    ) -> int | None: ...

    async def get_receipts(
        self, room_ids: Sequence[str], after: int = 0, upto: int | None = None
    ) -> list[ReceiptRecord]: ...


def _relation(content: Any) -> tuple[str | None, str | None]:
    """``(rel_type, event_id)`` of an event's ``m.relates_to`` (Nones when absent)."""
    relates = content.get("m.relates_to") if isinstance(content, Mapping) else None
    if not isinstance(relates, Mapping):
        return None, None
    rel_type, target = relates.get("rel_type"), relates.get("event_id")
    return (
        rel_type if isinstance(rel_type, str) else None,
        target if isinstance(target, str) else None,
    )


async def event_thread_id(events: EventReader, event: Mapping[str, Any]) -> str:
    """The thread an event is in: its thread root's event ID, or ``main``.

    An event is in a thread if it has a ``rel_type`` of ``m.thread``, or if, following the
    event relationships (at most 3 hops), a parent references the thread root with
    ``m.thread``. Thread roots, and events related to them by other relations, are in the
    main timeline.
    """
    content = event.get("content")
    for _ in range(MAX_THREAD_HOPS):
        rel_type, target = _relation(content)
        if target is None:
            return MAIN_THREAD
        if rel_type == "m.thread":
            return target
        parent = await events.get_event(target)
        if parent is None:
            return MAIN_THREAD
        content = parent.json().get("content")
    return MAIN_THREAD


class ReceiptService:
    def __init__(
        self,
        *,
        store: ReceiptStorage,
        events: EventReader,
        memberships: MembershipReader,
        account_data: AccountDataSetter,
        notifier: Notifier,
        clock: Clock,
    ) -> None:
        self._store = store
        self._events = events
        self._memberships = memberships
        self._account_data = account_data
        self.notifier = notifier
        self._clock = clock
        # Set by the composition root: our users' public receipts for the room's other
        # servers (room, type, user, event ID, data), sent as an ``m.receipt`` EDU.
        self.on_local_receipt: (
            Callable[[str, str, str, str, dict[str, Any]], Awaitable[None]] | None
        ) = None
        # Set by the composition root: called with the user ID after any of their receipts
        # moved (their unread counts may have dropped: push gateway badge updates).
        self.on_read: Callable[[str], Awaitable[None]] | None = None

    async def current_position(self) -> int:
        return await self._store.current_position()

    async def _event_in_room(self, room_id: str, event_id: str) -> StoredEvent:
        if not is_valid_event_id(event_id):
            raise MatrixError(400, "M_INVALID_PARAM", "Invalid event ID")
        stored = await self._events.get_event(event_id)
        if stored is None or stored.room_id != room_id or stored.outlier:
            raise MatrixError(404, "M_NOT_FOUND", "Event not found in this room")
        return stored

    async def _require_joined(self, room_id: str, user_id: str) -> None:
        if await self._memberships.current_membership(room_id, user_id) != "join":
            raise MatrixError(403, "M_FORBIDDEN", "You are not joined to this room")

    async def send_receipt(
        self,
        user_id: str,
        room_id: str,
        receipt_type: str,
        event_id: str,
        body: Mapping[str, Any],
    ) -> None:
        """``POST /rooms/{roomId}/receipt/{receiptType}/{eventId}``."""
        if receipt_type not in RECEIPT_TYPES:
            raise MatrixError(
                400, "M_INVALID_PARAM", f"Receipt type must be one of {sorted(RECEIPT_TYPES)}"
            )
        thread_id: str | None = None
        if "thread_id" in body:
            value = body["thread_id"]
            if not isinstance(value, str) or not value:
                raise MatrixError(
                    400, "M_INVALID_PARAM", "thread_id field must be a non-empty string"
                )
            if receipt_type == FULLY_READ:
                raise MatrixError(
                    400, "M_INVALID_PARAM", f"thread_id is not allowed for {FULLY_READ}"
                )
            if value != MAIN_THREAD and not is_valid_event_id(value):
                raise MatrixError(400, "M_INVALID_PARAM", "thread_id must be 'main' or an event ID")
            thread_id = value
        await self._require_joined(room_id, user_id)
        stored = await self._event_in_room(room_id, event_id)
        if receipt_type == FULLY_READ:
            await self._set_fully_read(user_id, room_id, event_id)
            return
        if thread_id is not None and await event_thread_id(self._events, stored.json()) != (
            thread_id
        ):
            raise MatrixError(
                400, "M_INVALID_PARAM", f"Event {event_id} is not in thread {thread_id}"
            )
        await self._receipt(user_id, room_id, receipt_type, thread_id, stored)

    async def set_read_markers(self, user_id: str, room_id: str, body: Mapping[str, Any]) -> None:
        """``POST /rooms/{roomId}/read_markers``: any of the three markers, each optional."""
        wanted: dict[str, str] = {}
        for key in (FULLY_READ, READ, READ_PRIVATE):
            if key not in body or body[key] is None:
                continue
            if not isinstance(body[key], str):
                raise MatrixError(400, "M_BAD_JSON", f"{key} must be an event ID")
            wanted[key] = body[key]
        await self._require_joined(room_id, user_id)
        stored = {key: await self._event_in_room(room_id, e) for key, e in wanted.items()}
        if FULLY_READ in stored:
            await self._set_fully_read(user_id, room_id, stored[FULLY_READ].event_id)
        for key in (READ, READ_PRIVATE):
            if key in stored:
                await self._receipt(user_id, room_id, key, None, stored[key])

    async def _set_fully_read(self, user_id: str, room_id: str, event_id: str) -> None:
        await self._account_data.set_account_data(
            user_id, room_id, FULLY_READ, {"event_id": event_id}
        )

    async def _receipt(
        self,
        user_id: str,
        room_id: str,
        receipt_type: str,
        thread_id: str | None,
        stored: StoredEvent,
    ) -> None:
        position = await self._store.insert_receipt(
            room_id,
            receipt_type,
            user_id,
            thread_id,
            stored.event_id,
            event_stream_ordering=stored.stream_ordering,
            ts=self._clock.now_ms(),
        )
        if position is None:
            return
        if receipt_type != READ_PRIVATE and self.on_local_receipt is not None:
            data: dict[str, Any] = {"ts": self._clock.now_ms()}
            if thread_id is not None:
                data["thread_id"] = thread_id
            await self.on_local_receipt(room_id, receipt_type, user_id, stored.event_id, data)
        if receipt_type == READ_PRIVATE:
            # Nobody but the sender may see it: wake only their syncs.
            await self.notifier.notify(position, None, (user_id,))
        else:
            await self.notifier.notify(position, room_id, (user_id,))
        if self.on_read is not None:
            await self.on_read(user_id)

    async def receipt_events(
        self, user_id: str, room_ids: Collection[str], since: int | None, upto: int
    ) -> dict[str, JsonDict]:
        """The ``m.receipt`` event of each room with receipts in ``(since, upto]`` (all of them
        when ``since`` is None) that ``user_id`` may see: private receipts only their own."""
        if not room_ids:
            return {}
        records = await self._store.get_receipts(
            sorted(room_ids), 0 if since is None else since, upto
        )
        return receipt_events_for(user_id, records)


def receipt_events_for(user_id: str, records: Sequence[ReceiptRecord]) -> dict[str, JsonDict]:
    """``m.receipt`` events, one per room, of the records ``user_id`` may see.

    Content: ``{event_id: {receipt_type: {user_id: {"ts": ..., "thread_id": ...}}}}``; a user
    with receipts in several threads appears once per thread, under each receipted event.
    """
    contents: dict[str, dict[str, dict[str, dict[str, JsonDict]]]] = {}
    for record in records:
        if record.receipt_type == READ_PRIVATE and record.user_id != user_id:
            continue
        data: JsonDict = {"ts": record.ts}
        if record.thread_id is not None:
            data["thread_id"] = record.thread_id
        by_event = contents.setdefault(record.room_id, {})
        by_type = by_event.setdefault(record.event_id, {}).setdefault(record.receipt_type, {})
        by_type[record.user_id] = data
    return {
        room_id: {"type": "m.receipt", "content": content} for room_id, content in contents.items()
    }


class ReceiptsProvider:
    """The ``receipts`` stream of ``/sync``: ``m.receipt`` in each joined room's ephemeral
    events (only the syncing user's own private receipts)."""

    stream: StreamName = "receipts"

    def __init__(self, receipts: ReceiptService) -> None:
        self._receipts = receipts
        self.notifier = receipts.notifier

    async def current_position(self) -> int:
        return await self._receipts.current_position()

    async def sync(
        self, request: SyncRequest, response: SyncResponse, since: int | None, upto: int
    ) -> int:
        incremental, full = rooms_to_sync(request, since, upto)
        if since == upto:
            incremental = []  # the stream has not moved: nothing new in those rooms
        user = request.user_id
        events = await self._receipts.receipt_events(user, incremental, since, upto)
        events.update(await self._receipts.receipt_events(user, full, None, upto))
        for room_id in sorted(events):
            if ephemeral_allowed(request, room_id, events[room_id]):
                response.joined_room(room_id).ephemeral.append(events[room_id])
        return upto
