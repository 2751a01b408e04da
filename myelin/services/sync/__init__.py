"""Syncing (spec: Client-Server API, "Syncing"): sync tokens, the provider protocol each
``/sync`` response section is built with, and the sync service that assembles them.
"""

from myelin.services.sync.account_data import AccountDataProvider
from myelin.services.sync.lazy import LazyMemberCache
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
from myelin.services.sync.rooms import RoomsProvider
from myelin.services.sync.service import SyncService
from myelin.services.sync.token import STREAM_NAMES, InvalidSyncTokenError, StreamName, SyncToken

__all__ = [
    "STREAM_NAMES",
    "AccountDataProvider",
    "InvalidSyncTokenError",
    "JoinedRoom",
    "LazyMemberCache",
    "LeftRoom",
    "PresenceSetter",
    "RoomDecorator",
    "RoomsProvider",
    "StreamName",
    "StreamProvider",
    "SyncRequest",
    "SyncResponse",
    "SyncService",
    "SyncToken",
    "wait_targets",
]
