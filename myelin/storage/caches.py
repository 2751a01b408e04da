"""In-process caches of immutable stored rows (no spec section: server internals).

A persisted event row changes only when an outlier joins the room's DAG (its facts and stream
ordering are rewritten) or when its room is purged, and a state group only when it is purged;
the stores that do any of these invalidate here. Room versions and access tokens are cached
likewise, and user records with their lock and suspension, users' push rule texts and rooms'
joined members and forward extremities (see ``DatabaseCaches``).
One cache per ``Database`` object, so every store opened on it shares (and invalidates) the
same one. Several worker processes on one database would each need to hear of the other's
invalidations; this server runs one process.
"""

import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from myelin.storage.database import Database

K = TypeVar("K")
V = TypeVar("V")

EVENT_CACHE_SIZE = 5000
STATE_MAP_CACHE_SIZE = 2048
# A state entry (key tuple, event ID string, dict slot) takes about 250 bytes: ~25 MiB.
STATE_MAP_CACHE_ENTRIES = 100_000
ROOM_VERSION_CACHE_SIZE = 10_000
ACCESS_TOKEN_CACHE_SIZE = 10_000
USER_CACHE_SIZE = 10_000
ROOM_MEMBERS_CACHE_SIZE = 1000
ROOM_MEMBERS_CACHE_ENTRIES = 100_000


class LruCache(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entry first.

    ``size`` bounds the number of entries; with ``weigh``, the sum of the entries' weights is
    bounded by ``max_weight`` too (a state map weighs its number of state entries, so a few
    huge rooms cannot hold gigabytes).
    """

    def __init__(
        self, size: int, *, weigh: Callable[[V], int] | None = None, max_weight: int = 0
    ) -> None:
        self._size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._weigh = weigh
        self._max_weight = max_weight
        self._weight = 0

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self.pop(key)
        if self._weigh is not None:
            weight = self._weigh(value)
            if weight > self._max_weight:
                return  # it would push out everything else: not kept
            self._weight += weight
        self._data[key] = value
        while len(self._data) > self._size or (
            self._weigh is not None and self._weight > self._max_weight and self._data
        ):
            _, old = self._data.popitem(last=False)
            if self._weigh is not None:
                self._weight -= self._weigh(old)

    def pop(self, key: K) -> None:
        old = self._data.pop(key, None)
        if old is not None and self._weigh is not None:
            self._weight -= self._weigh(old)

    def pop_many(self, keys: Iterable[K]) -> None:
        for key in keys:
            self.pop(key)

    def clear(self) -> None:
        self._data.clear()
        self._weight = 0

    def __len__(self) -> int:
        return len(self._data)


class GuardedCache(LruCache[K, V]):
    """An ``LruCache`` of rows that writers change. A writer calls ``forget`` (or
    ``forget_all``) after it commits; a reader notes ``generation`` before it reads and stores
    what it read with ``put_unless_forgotten``: a row read while a write committed is not kept
    (it may be the old one)."""

    def __init__(
        self, size: int, *, weigh: Callable[[V], int] | None = None, max_weight: int = 0
    ) -> None:
        super().__init__(size, weigh=weigh, max_weight=max_weight)
        self.generation = 0

    def forget(self, key: K) -> None:
        self.pop(key)
        self.generation += 1

    def forget_all(self) -> None:
        self.clear()
        self.generation += 1

    def put_unless_forgotten(self, generation: int, key: K, value: V) -> None:
        if generation == self.generation:
            self.put(key, value)


class DatabaseCaches:
    """The caches of one database (see the module doc)."""

    def __init__(self) -> None:
        # event ID -> StoredEvent (typed loosely here: storage.events imports this module).
        self.events: LruCache[str, object] = LruCache(EVENT_CACHE_SIZE)
        # state group -> its full state map (a stored group never changes, and group IDs are
        # never reused: SQLite AUTOINCREMENT, a PostgreSQL sequence).
        # Bounded by count and by the state entries they hold in all.
        self.state_maps: LruCache[int, dict[tuple[str, str], str]] = LruCache(
            STATE_MAP_CACHE_SIZE, weigh=len, max_weight=STATE_MAP_CACHE_ENTRIES
        )
        # event ID -> its prev event IDs, sorted (an event's edges never change).
        self.prev_events: LruCache[str, tuple[str, ...]] = LruCache(EVENT_CACHE_SIZE)
        # event ID -> the state group after it (written once, with the event or when an
        # outlier joins the DAG; gone only with a purge). Only found rows are kept.
        self.event_state_groups: LruCache[str, int] = LruCache(EVENT_CACHE_SIZE)
        # room ID -> its joined members, sorted, from its current state. Every change of a
        # room's current state calls forget_members after it commits (as forget_user).
        self.room_members: GuardedCache[str, tuple[str, ...]] = GuardedCache(
            ROOM_MEMBERS_CACHE_SIZE, weigh=len, max_weight=ROOM_MEMBERS_CACHE_ENTRIES
        )
        # room ID -> its forward extremities, sorted. Every write of a room's extremities
        # calls forget_extremities after it commits, except that a persist which read them
        # exactly in its own statement stores what it left (see EventStore.persist_event).
        self.forward_extremities: GuardedCache[str, tuple[str, ...]] = GuardedCache(
            ROOM_MEMBERS_CACHE_SIZE
        )
        # room ID -> its version (fixed at creation; gone only with a purge).
        self.room_versions: LruCache[str, str] = LruCache(ROOM_VERSION_CACHE_SIZE)
        # access token hash -> its record (typed loosely: storage.tokens imports this module).
        # A row changes only by being deleted (logout, device deletion, refresh, password
        # change, deactivation): every store deleting tokens or devices calls forget_tokens.
        self.access_tokens: GuardedCache[str, object] = GuardedCache(ACCESS_TOKEN_CACHE_SIZE)
        # user ID -> its ``UserRecord`` / its ``AccountStatus`` (typed loosely likewise), read
        # on every authenticated request. Every write to ``users`` calls forget_user after
        # it commits.
        self.users: GuardedCache[str, object] = GuardedCache(USER_CACHE_SIZE)
        self.account_statuses: GuardedCache[str, object] = GuardedCache(USER_CACHE_SIZE)
        # user ID -> the stored JSON text of their push rule changes ("" for none), read for
        # every member at every event. ``PushRuleStore.set_push_rules`` (the only writer)
        # forgets the user after it commits.
        self.push_rules: GuardedCache[str, str] = GuardedCache(USER_CACHE_SIZE)

    def forget_tokens(self) -> None:
        """Access tokens or devices were deleted: forget every cached token (rare events)."""
        self.access_tokens.forget_all()

    def forget_user(self, user_id: str) -> None:
        """The user's row changed (password, admin, deactivation, lock, suspension...)."""
        self.users.forget(user_id)
        self.account_statuses.forget(user_id)

    def forget_members(self, room_id: str) -> None:
        """The room's current state changed (after it commits)."""
        self.room_members.forget(room_id)

    def forget_extremities(self, room_id: str) -> None:
        """The room's forward extremities changed (after it commits)."""
        self.forward_extremities.forget(room_id)

    def forget_room(self) -> None:
        """A room was purged: forget everything (purges are rare, rooms not tracked)."""
        self.events.clear()
        self.event_state_groups.clear()
        self.room_members.forget_all()
        self.forward_extremities.forget_all()
        self.state_maps.clear()
        self.room_versions.clear()
        self.prev_events.clear()


_CACHES: "weakref.WeakKeyDictionary[Database, DatabaseCaches]" = weakref.WeakKeyDictionary()


def caches_of(db: Database) -> DatabaseCaches:
    """The caches shared by every store of ``db``."""
    found = _CACHES.get(db)
    if found is None:
        found = _CACHES[db] = DatabaseCaches()
    return found
