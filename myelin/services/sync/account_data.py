"""The account data sections of ``/sync`` (spec: Client-Server API, "Client Config" and "Room
Tagging": global ``account_data`` and each room's ``account_data``, where ``m.tag`` lives).

``AccountDataProvider`` owns the ``account_data`` stream. An initial sync sends every entry; an
incremental one the entries changed in ``(since, upto]`` (only their latest content), plus
every entry of the rooms the user joined in this sync. Room entries go to rooms the user is
joined to or that are in this response's ``leave`` section; the filter's ``account_data`` and
``room.account_data`` apply.
"""

from typing import Protocol

from myelin.services.notifier import Notifier
from myelin.services.sync.provider import SyncRequest, SyncResponse
from myelin.services.sync.token import StreamName
from myelin.storage import AccountDataRecord


class AccountDataReads(Protocol):
    async def current_position(self) -> int: ...

    async def get_changes(
        self, user_id: str, after: int | None, upto: int
    ) -> list[AccountDataRecord]: ...


class AccountDataProvider:
    def __init__(self, store: AccountDataReads, notifier: Notifier) -> None:
        self._store = store
        self._notifier = notifier

    @property
    def stream(self) -> StreamName:
        return "account_data"

    @property
    def notifier(self) -> Notifier:
        return self._notifier

    async def current_position(self) -> int:
        return await self._store.current_position()

    async def sync(
        self, request: SyncRequest, response: SyncResponse, since: int | None, upto: int
    ) -> int:
        if since is not None and since > upto:
            since = None
        if since == upto and not request.newly_joined:
            return upto  # the stream has not moved and no room needs its entries
        records = await self._store.get_changes(request.user_id, since, upto)
        if since is not None and request.newly_joined:
            changed = {(r.room_id, r.type) for r in records}
            records += [
                r
                for r in await self._store.get_changes(request.user_id, None, upto)
                if r.room_id in request.newly_joined and (r.room_id, r.type) not in changed
            ]
        global_filter = request.filter.account_data
        room_filter = request.filter.room
        for record in records:
            event = {"type": record.type, "content": record.content}
            if record.room_id is None:
                if global_filter.matches(event):
                    response.account_data.append(event)
                continue
            room_id = record.room_id
            if not room_filter.matches_room(room_id) or not room_filter.account_data.matches(
                {**event, "room_id": room_id}
            ):
                continue
            if request.memberships.get(room_id) == "join":
                response.joined_room(room_id).account_data.append(event)
            elif room_id in response.leave:
                response.leave[room_id].account_data.append(event)
        return upto
