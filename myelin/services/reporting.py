"""Reporting content (spec: Client-Server API, "Reporting Content").

Reports of events (the reporter must be joined to the room and able to see the event), rooms
and users are stored for the server's admins. An unknown event or room is answered 404, as the
spec's response list allows; an unknown remote user is accepted (this server cannot tell).
"""

import secrets
from collections.abc import Mapping
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.core.identifiers import is_valid_user_id
from myelin.core.room_versions import get_room_version
from myelin.services.errors import MatrixError
from myelin.services.visibility import (
    EventsReader,
    MemberHistoryReader,
    StateCache,
    StateReader,
    filter_visible,
)
from myelin.storage.events import StoredEvent
from myelin.storage.reports import ReportRecord
from myelin.storage.rooms import RoomRecord
from myelin.storage.users import UserRecord

# Synapse's accepted score range for event reports (the score was removed in v1.18; it is
# still accepted and stored when given).
MIN_SCORE, MAX_SCORE = -100, 0


class ReportStorage(Protocol):
    async def add_report(self, report: ReportRecord) -> None: ...


class EventStorage(EventsReader, Protocol):
    async def get_event(self, event_id: str) -> StoredEvent | None: ...


class RoomReader(Protocol):
    async def get_room(self, room_id: str) -> RoomRecord | None: ...


class UserReader(Protocol):
    async def get_user(self, user_id: str) -> UserRecord | None: ...


class MembershipReader(Protocol):
    async def current_membership(self, room_id: str, user_id: str) -> str | None: ...


def _reason(body: Mapping[str, Any], *, required: bool) -> str | None:
    if "reason" not in body:
        if required:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: reason")
        return None
    reason = body["reason"]
    if not isinstance(reason, str):
        raise MatrixError(400, "M_BAD_JSON", "reason must be a string")
    return reason


class ReportingService:
    def __init__(
        self,
        *,
        server_name: str,
        store: ReportStorage,
        events: EventStorage,
        state: StateReader,
        history: MemberHistoryReader,
        rooms: RoomReader,
        users: UserReader,
        memberships: MembershipReader,
        clock: Clock,
    ) -> None:
        self._server_name = server_name
        self._store = store
        self._events = events
        self._state = state
        self._history = history
        self._rooms = rooms
        self._users = users
        self._memberships = memberships
        self._clock = clock

    async def _add(
        self,
        user_id: str,
        *,
        room_id: str | None = None,
        event_id: str | None = None,
        target_user_id: str | None = None,
        reason: str | None,
        score: int | None = None,
    ) -> None:
        await self._store.add_report(
            ReportRecord(
                report_id=secrets.token_urlsafe(18),
                user_id=user_id,
                room_id=room_id,
                event_id=event_id,
                target_user_id=target_user_id,
                reason=reason,
                score=score,
                received_ts=self._clock.now_ms(),
            )
        )

    async def report_event(
        self, user_id: str, room_id: str, event_id: str, body: Mapping[str, Any]
    ) -> None:
        """``POST /rooms/{roomId}/report/{eventId}``."""
        reason = _reason(body, required=False)
        score = body.get("score")
        if score is not None and (
            not isinstance(score, int)
            or isinstance(score, bool)
            or not MIN_SCORE <= score <= MAX_SCORE
        ):
            raise MatrixError(
                400, "M_INVALID_PARAM", "score must be an integer in the range [-100, 0]"
            )
        not_found = MatrixError(
            404, "M_NOT_FOUND", "The event was not found or you are not joined to the room."
        )
        membership = await self._memberships.current_membership(room_id, user_id)
        if membership != "join":
            raise not_found
        stored = await self._events.get_event(event_id)
        if stored is None or stored.room_id != room_id or stored.outlier:
            raise not_found
        room = await self._rooms.get_room(room_id)
        if room is None:
            raise not_found
        visible, _ = await filter_visible(
            StateCache(self._events, self._state),
            self._history,
            get_room_version(room.room_version),
            user_id,
            [stored],
            membership_now=membership,
        )
        if not visible:
            raise not_found
        await self._add(user_id, room_id=room_id, event_id=event_id, reason=reason, score=score)

    async def report_room(self, user_id: str, room_id: str, body: Mapping[str, Any]) -> None:
        """``POST /rooms/{roomId}/report`` (the reporter need not be joined)."""
        reason = _reason(body, required=True)
        if await self._rooms.get_room(room_id) is None:
            raise MatrixError(404, "M_NOT_FOUND", "The room was not found.")
        await self._add(user_id, room_id=room_id, reason=reason)

    async def report_user(self, user_id: str, target: str, body: Mapping[str, Any]) -> None:
        """``POST /users/{userId}/report``."""
        reason = _reason(body, required=True)
        if not is_valid_user_id(target):
            raise MatrixError(400, "M_INVALID_PARAM", "Invalid user ID")
        local = target.endswith(":" + self._server_name)
        if local and await self._users.get_user(target) is None:
            raise MatrixError(404, "M_NOT_FOUND", "The user was not found.")
        await self._add(user_id, target_user_id=target, reason=reason)
