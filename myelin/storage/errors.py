"""Storage errors (no spec section: server internals).

Every error the storage layer raises derives from ``StorageError`` so callers can catch one type.
"""


class StorageError(Exception):
    """Base class of every error raised by ``myelin.storage``."""


class SchemaTooNewError(StorageError):
    """The database was migrated by a newer Myelin than this one.

    Opening it with older code could corrupt it, so it is refused.
    """

    def __init__(self, database_version: int, code_version: int) -> None:
        super().__init__(
            f"the database schema is at version {database_version}, but this version of Myelin "
            f"only knows schema versions up to {code_version}; upgrade Myelin to open this "
            "database"
        )
        self.database_version = database_version
        self.code_version = code_version


class MigrationError(StorageError):
    """The migration files shipped with Myelin are inconsistent, or one failed to apply."""


class UserExistsError(StorageError):
    """A user with this ID is already registered."""


class RoomAliasExistsError(StorageError):
    """The room alias is already mapped to a room."""


class EventExistsError(StorageError):
    """An event with this ID is already persisted."""


class UnknownStateGroupError(StorageError):
    """A state group ID does not exist (or belongs to another room)."""


class TxnIdUsedError(StorageError):
    """The client transaction ID already created an event (``event_id``)."""

    def __init__(self, room_id: str, event_id: str) -> None:
        super().__init__(f"the transaction already created {event_id}")
        self.room_id = room_id
        self.event_id = event_id
