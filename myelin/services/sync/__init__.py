"""Syncing (spec: Client-Server API, "Syncing"): sync tokens, the provider protocol each
``/sync`` response section is built with, and the sync service that assembles them.
"""

from myelin.services.sync.provider import (
    JoinedRoom,
    LeftRoom,
    PresenceSetter,
    RoomDecorator,
    StreamProvider,
    SyncRequest,
    SyncResponse,
    wait_targets,
)
from myelin.services.sync.token import STREAM_NAMES, InvalidSyncTokenError, StreamName, SyncToken

__all__ = [
    "STREAM_NAMES",
    "InvalidSyncTokenError",
    "JoinedRoom",
    "LeftRoom",
    "PresenceSetter",
    "RoomDecorator",
    "StreamName",
    "StreamProvider",
    "SyncRequest",
    "SyncResponse",
    "SyncToken",
    "wait_targets",
]
