"""Storage: the only place with SQL (no spec section: server internals).

One ``Database`` interface over two engines (SQLite by default, PostgreSQL for larger
deployments), numbered migrations, and narrow stores, one per concern.
"""

from dataclasses import dataclass

from myelin.storage.account_data import AccountDataRecord, AccountDataStore
from myelin.storage.database import Database, PostgresParams, Row, Transaction
from myelin.storage.devices import DeviceRecord, DeviceStore
from myelin.storage.errors import (
    EventExistsError,
    MigrationError,
    RoomAliasExistsError,
    SchemaTooNewError,
    StorageError,
    TxnIdUsedError,
    UnknownStateGroupError,
    UserExistsError,
)
from myelin.storage.events import EventStore, PersistedEvent, StoredEvent
from myelin.storage.filters import FilterStore
from myelin.storage.login_tokens import LoginTokenStore
from myelin.storage.media import MediaStore
from myelin.storage.postgres_engine import open_postgres
from myelin.storage.presence import PresenceRecord, PresenceStore
from myelin.storage.profile_fields import ProfileFieldStore
from myelin.storage.push_actions import PendingPushActions, PushActionRow, PushActionStore
from myelin.storage.push_rules import PusherRecord, PusherStore, PushRuleStore
from myelin.storage.receipts import ReceiptRecord, ReceiptStore
from myelin.storage.registration_tokens import RegistrationTokenRecord, RegistrationTokenStore
from myelin.storage.relations import RelatedEvent, RelationStore, ThreadSummary
from myelin.storage.reports import ReportRecord, ReportStore
from myelin.storage.room_reads import EventPosition, RoomReadStore, TxnIdKey, TxnRecord
from myelin.storage.rooms import AliasRecord, RoomRecord, RoomStore
from myelin.storage.sqlite_engine import open_sqlite
from myelin.storage.state import MAX_CHAIN_LENGTH, NewStateGroup, StateKey, StateMap, StateStore
from myelin.storage.sync import MemberChange, SyncStore
from myelin.storage.tokens import (
    AccessTokenRecord,
    AccessTokenStore,
    RefreshTokenRecord,
    hash_token,
)
from myelin.storage.uia import UIASessionRecord, UIASessionStore
from myelin.storage.user_directory import UserDirectoryStore
from myelin.storage.users import ProfileRecord, UserRecord, UserStore


@dataclass
class Stores:
    """Every store over one database, built by ``make_stores``."""

    users: UserStore
    devices: DeviceStore
    tokens: AccessTokenStore
    rooms: RoomStore
    events: EventStore
    state: StateStore
    uia_sessions: UIASessionStore
    registration_tokens: RegistrationTokenStore
    login_tokens: LoginTokenStore
    profile_fields: ProfileFieldStore
    relations: RelationStore
    filters: FilterStore
    account_data: AccountDataStore
    sync: SyncStore
    room_reads: RoomReadStore
    media: MediaStore
    receipts: ReceiptStore
    presence: PresenceStore
    push_rules: PushRuleStore
    pushers: PusherStore
    push_actions: PushActionStore
    reports: ReportStore
    user_directory: UserDirectoryStore


def make_stores(db: Database) -> Stores:
    return Stores(
        users=UserStore(db),
        devices=DeviceStore(db),
        tokens=AccessTokenStore(db),
        rooms=RoomStore(db),
        events=EventStore(db),
        state=StateStore(db),
        uia_sessions=UIASessionStore(db),
        registration_tokens=RegistrationTokenStore(db),
        login_tokens=LoginTokenStore(db),
        profile_fields=ProfileFieldStore(db),
        relations=RelationStore(db),
        filters=FilterStore(db),
        account_data=AccountDataStore(db),
        sync=SyncStore(db),
        room_reads=RoomReadStore(db),
        media=MediaStore(db),
        receipts=ReceiptStore(db),
        presence=PresenceStore(db),
        push_rules=PushRuleStore(db),
        pushers=PusherStore(db),
        push_actions=PushActionStore(db),
        reports=ReportStore(db),
        user_directory=UserDirectoryStore(db),
    )


__all__ = [
    "MAX_CHAIN_LENGTH",
    "AccessTokenRecord",
    "AccessTokenStore",
    "AccountDataRecord",
    "AccountDataStore",
    "AliasRecord",
    "Database",
    "DeviceRecord",
    "DeviceStore",
    "EventExistsError",
    "EventPosition",
    "EventStore",
    "FilterStore",
    "LoginTokenStore",
    "MediaStore",
    "MemberChange",
    "MigrationError",
    "NewStateGroup",
    "PendingPushActions",
    "PersistedEvent",
    "PostgresParams",
    "PresenceRecord",
    "PresenceStore",
    "ProfileFieldStore",
    "ProfileRecord",
    "PushActionRow",
    "PushActionStore",
    "PushRuleStore",
    "PusherRecord",
    "PusherStore",
    "ReceiptRecord",
    "ReceiptStore",
    "RefreshTokenRecord",
    "RegistrationTokenRecord",
    "RegistrationTokenStore",
    "RelatedEvent",
    "RelationStore",
    "ReportRecord",
    "ReportStore",
    "RoomAliasExistsError",
    "RoomReadStore",
    "RoomRecord",
    "RoomStore",
    "Row",
    "SchemaTooNewError",
    "StateKey",
    "StateMap",
    "StateStore",
    "StorageError",
    "StoredEvent",
    "Stores",
    "SyncStore",
    "ThreadSummary",
    "Transaction",
    "TxnIdKey",
    "TxnIdUsedError",
    "TxnRecord",
    "UIASessionRecord",
    "UIASessionStore",
    "UnknownStateGroupError",
    "UserDirectoryStore",
    "UserExistsError",
    "UserRecord",
    "UserStore",
    "hash_token",
    "make_stores",
    "open_postgres",
    "open_sqlite",
]
