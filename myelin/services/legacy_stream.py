"""Deprecated event stream and initial sync (spec: Client-Server API, "Syncing", deprecated
``GET /initialSync`` and ``GET /events``; "Room Previews", ``GET /events`` with ``room_id``).

Synapse still serves both, and a few old clients and bots use them. Neither is a copy of the
sync code: ``initial_sync`` reshapes one initial ``/sync`` response (its rooms, state,
account data and presence) into the old layout, and ``events`` reads the same ``/sync``
stream from a token (its timelines, ephemeral and presence events flattened into one
``chunk``). With ``room_id`` (peeking) the room read service pages forwards through that one
room, with its visibility rules, so a user who has not joined a ``world_readable`` room can
follow it. Tokens are ``/sync`` tokens in every case.
"""

from typing import Any, Protocol

from myelin.core.filters import Filter, RoomEventFilter, parse_filter
from myelin.services.errors import MatrixError
from myelin.services.notifier import Notifier
from myelin.services.room_reads import RoomReads, make_token, parse_token
from myelin.services.sync import InvalidSyncTokenError, SyncRequest, SyncService, SyncToken
from myelin.storage import StoredEvent

JsonDict = dict[str, Any]

# Messages per room of /initialSync when no limit is given (Synapse's default).
DEFAULT_INITIAL_LIMIT = 10
# Timeline events per room and round of /events (a busier room is cut to its latest events,
# as /sync does with ``limited``).
STREAM_LIMIT = 100


class Visibilities(Protocol):
    async def get_visibility(self, room_id: str) -> str: ...


class StreamEvents(Protocol):
    async def get_max_stream_ordering(self) -> int: ...

    async def get_event(self, event_id: str) -> StoredEvent | None: ...


def _sync_filter(limit: int, include_leave: bool, room_id: str | None = None) -> Filter:
    room: JsonDict = {"timeline": {"limit": limit}, "include_leave": include_leave}
    if room_id is not None:
        room["rooms"] = [room_id]
    return parse_filter({"room": room})


def _parse_from(value: str | None) -> SyncToken | None:
    if value is None or value == "":
        return None
    try:
        return SyncToken.parse(value)
    except InvalidSyncTokenError as e:
        raise MatrixError(400, "M_INVALID_PARAM", "Bad pagination 'from' parameter") from e


def _current_state(state: list[JsonDict], timeline: list[JsonDict]) -> list[JsonDict]:
    """The state at the end of ``timeline``: the state before it with its state events applied."""
    latest: dict[tuple[str, str], JsonDict] = {}
    for event in [*state, *timeline]:
        state_key = event.get("state_key")
        if isinstance(state_key, str):
            latest[(event["type"], state_key)] = event
    return list(latest.values())


def _with_room(events: list[JsonDict], room_id: str) -> list[JsonDict]:
    return [{**event, "room_id": room_id} for event in events]


class LegacyStream:
    def __init__(
        self,
        *,
        sync: SyncService,
        reads: RoomReads,
        events: StreamEvents,
        directory: Visibilities,
        notifier: Notifier,
    ) -> None:
        self._sync = sync
        self._reads = reads
        self._events = events
        self._directory = directory
        self._notifier = notifier

    async def _sync_once(
        self, user_id: str, sync_filter: Filter, since: SyncToken | None, timeout_ms: int = 0
    ) -> JsonDict:
        # No device: the old APIs never carried to-device messages or E2EE counts, and must not
        # acknowledge (delete) a device's pending to-device messages.
        request = SyncRequest(user_id=user_id, device_id=None, filter=sync_filter)
        return await self._sync.sync(request, since, timeout_ms=timeout_ms, set_presence=None)

    async def initial_sync(self, user_id: str, *, limit: int, archived: bool) -> JsonDict:
        """``GET /initialSync``: every room of the user (left ones too with ``archived``), each
        with its latest ``limit`` messages and current state, plus account data and presence."""
        body = await self._sync_once(user_id, _sync_filter(limit, archived), None)
        rooms_section = body.get("rooms", {})
        # Each room's messages end at the stream's end: its chunk is the room's latest events.
        end = make_token(await self._events.get_max_stream_ordering())
        rooms: list[JsonDict] = []
        for room_id, room in rooms_section.get("join", {}).items():
            rooms.append(await self._room_info(room_id, "join", room, end))
        for room_id in rooms_section.get("invite", {}):
            info: JsonDict = {"room_id": room_id, "membership": "invite"}
            invite = await self._membership_event(user_id, room_id)
            if invite is not None:
                info["invite"] = invite
            rooms.append(info)
        for room_id, room in rooms_section.get("leave", {}).items():
            membership, _ = await self._reads.membership(room_id, user_id)
            kind = "ban" if membership == "ban" else "leave"
            rooms.append(await self._room_info(room_id, kind, room, end))
        result: JsonDict = {
            "end": body["next_batch"],
            "rooms": rooms,
            "presence": body.get("presence", {}).get("events", []),
            "account_data": body.get("account_data", {}).get("events", []),
        }
        return result

    async def _room_info(self, room_id: str, membership: str, room: JsonDict, end: str) -> JsonDict:
        timeline = room.get("timeline", {})
        events = _with_room(timeline.get("events", []), room_id)
        state = _with_room(room.get("state", {}).get("events", []), room_id)
        messages: JsonDict = {"chunk": events, "end": end}
        if timeline.get("prev_batch") is not None:
            messages["start"] = timeline["prev_batch"]
        return {
            "room_id": room_id,
            "membership": membership,
            "messages": messages,
            "state": _current_state(state, events),
            "visibility": await self._directory.get_visibility(room_id),
            "account_data": room.get("account_data", {}).get("events", []),
        }

    async def _membership_event(self, user_id: str, room_id: str) -> JsonDict | None:
        """The user's current membership event in the room, as a client event."""
        _, event_id = await self._reads.membership(room_id, user_id)
        if event_id is None:
            return None
        stored = await self._events.get_event(event_id)
        if stored is None:
            return None
        room_version = await self._reads.room_version(room_id)
        presented = await self._reads.present(
            self._reads.cache(), room_version, [stored], user_id, None
        )
        return {**presented[0], "room_id": room_id}

    async def events(
        self,
        user_id: str,
        device_id: str | None,
        *,
        from_token: str | None,
        timeout_ms: int,
        room_id: str | None,
    ) -> JsonDict:
        """``GET /events``: what happened after ``from`` (now when absent), waiting up to
        ``timeout_ms`` for something to happen; ``room_id`` narrows it to one room, which
        the user may also only peek into (``world_readable``)."""
        since = _parse_from(from_token)
        if room_id is not None:
            return await self._peek(user_id, device_id, room_id, since, timeout_ms)
        sync_filter = _sync_filter(STREAM_LIMIT, True)
        if since is None:
            # Start from now: the positions an empty initial sync reaches.
            empty = parse_filter(
                {"room": {"rooms": []}, "presence": {"types": []}, "account_data": {"types": []}}
            )
            body = await self._sync_once(user_id, empty, None)
            since = SyncToken.parse(body["next_batch"])
        body = await self._sync_once(user_id, sync_filter, since, timeout_ms)
        chunk: list[JsonDict] = []
        rooms = body.get("rooms", {})
        for section in ("join", "leave"):
            for rid, room in rooms.get(section, {}).items():
                chunk += _with_room(room.get("timeline", {}).get("events", []), rid)
                chunk += _with_room(room.get("ephemeral", {}).get("events", []), rid)
        chunk += body.get("presence", {}).get("events", [])
        return {"chunk": chunk, "start": since.serialize(), "end": body["next_batch"]}

    async def _peek(
        self,
        user_id: str,
        device_id: str | None,
        room_id: str,
        since: SyncToken | None,
        timeout_ms: int,
    ) -> JsonDict:
        """One room's new events; ``/messages`` (forwards) applies membership and visibility."""
        if not room_id.startswith("!"):
            raise MatrixError(400, "M_INVALID_PARAM", "room_id must be a room ID")
        upto = await self._events.get_max_stream_ordering()
        start = since if since is not None else SyncToken(events=upto)
        after = start.events
        waited = False
        while True:
            page = await self._reads.messages(
                user_id,
                device_id,
                room_id,
                from_token=make_token(after),
                to_token=make_token(upto),
                backwards=False,
                limit=STREAM_LIMIT,
                event_filter=RoomEventFilter(),
            )
            reached = upto if page.end is None else parse_token(page.end)
            if page.chunk or waited or timeout_ms <= 0:
                end = start.advance("events", max(reached, after))
                return {"chunk": page.chunk, "start": start.serialize(), "end": end.serialize()}
            waited = True
            position = await self._notifier.wait_for(
                upto, timeout_ms / 1000, room_ids=[room_id], user_ids=[user_id]
            )
            if position is None:
                end = start.advance("events", max(upto, after))
                return {"chunk": [], "start": start.serialize(), "end": end.serialize()}
            after, upto = max(after, upto), await self._events.get_max_stream_ordering()
