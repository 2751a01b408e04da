"""Events: building this server's events and the one write path for all events (spec:
Server-Server API, "Auth events selection", "Signing Events", "Checks performed on receipt of a
PDU" and "Room State Resolution").
"""

from myelin.services.events.build import (
    MAX_PREV_EVENTS,
    EventTemplate,
    Extremity,
    build_event,
    choose_prev_events,
    next_depth,
    select_auth_events,
)
from myelin.services.events.errors import EventRejectedError, MissingPrerequisiteError
from myelin.services.events.ids import IdSource, RandomIds, SequentialIds
from myelin.services.events.service import EventService
from myelin.services.events.write_path import EventSource, EventWriter, RoomLocks, WrittenEvent

__all__ = [
    "MAX_PREV_EVENTS",
    "EventRejectedError",
    "EventService",
    "EventSource",
    "EventTemplate",
    "EventWriter",
    "Extremity",
    "IdSource",
    "MissingPrerequisiteError",
    "RandomIds",
    "RoomLocks",
    "SequentialIds",
    "WrittenEvent",
    "build_event",
    "choose_prev_events",
    "next_depth",
    "select_auth_events",
]
