"""Application service support assembled for the composition root (spec: Application Service
API, "Querying" and "Pushing ephemeral data"; no new behaviour beyond wiring).

``build_appservices`` makes the registry, HTTP client, store, queries, third-party networks and
transaction sender from the validated registrations. ``QueryingUsers`` and
``AliasQueryingRoomStore`` make the client lookups of a user profile or a room alias ask the
owning application service when the user or alias does not exist yet. ``start`` creates the
services' sender users, starts the transaction tasks and feeds them local typing notifications
and public read receipts.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from myelin.clock import Clock
from myelin.config.appservices import AppserviceRegistration
from myelin.services.appservice.client import AppserviceClient
from myelin.services.appservice.queries import AppserviceNetworks, AppserviceQueries
from myelin.services.appservice.registry import AppserviceRegistry
from myelin.services.appservice.transactions import AppserviceTransactions
from myelin.storage import (
    AliasRecord,
    Database,
    DeviceStore,
    EventStore,
    ProfileRecord,
    RoomStore,
    StateStore,
    UserRecord,
    UserStore,
)
from myelin.storage.appservices import AppserviceStore

TypingHook = Callable[[str, str, bool], Awaitable[None]]
ReceiptHook = Callable[[str, str, str, str, dict[str, Any]], Awaitable[None]]


class QueryingUsers:
    """The profile service's user store: an unknown user of an application service's users
    namespace is asked for (``GET /_matrix/app/v1/users/{userId}``) before being "not found"."""

    def __init__(self, users: UserStore, queries: AppserviceQueries) -> None:
        self._users = users
        self._queries = queries

    async def get_user(self, user_id: str) -> UserRecord | None:
        user = await self._users.get_user(user_id)
        if user is None and await self._queries.query_user(user_id):
            user = await self._users.get_user(user_id)
        return user

    async def get_profile(self, user_id: str) -> ProfileRecord | None:
        return await self._users.get_profile(user_id)

    async def set_displayname(self, user_id: str, displayname: str | None) -> bool:
        return await self._users.set_displayname(user_id, displayname)

    async def set_avatar_url(self, user_id: str, avatar_url: str | None) -> bool:
        return await self._users.set_avatar_url(user_id, avatar_url)


class AliasQueryingRoomStore(RoomStore):
    """A room store whose alias lookups ask the owning application service about an alias that
    does not exist yet (``GET /_matrix/app/v1/rooms/{roomAlias}``), e.g. when joining by it."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.queries: AppserviceQueries | None = None

    async def get_alias(self, room_alias: str) -> AliasRecord | None:
        record = await super().get_alias(room_alias)
        queries = self.queries
        if record is None and queries is not None and await queries.query_alias(room_alias):
            record = await super().get_alias(room_alias)
        return record


@dataclass
class Appservices:
    registry: AppserviceRegistry
    client: AppserviceClient
    store: AppserviceStore
    queries: AppserviceQueries
    networks: AppserviceNetworks
    transactions: AppserviceTransactions
    rooms: AliasQueryingRoomStore
    users: QueryingUsers

    async def start(
        self,
        *,
        typing_users: Callable[[str], Awaitable[list[str]]],
        typing_hook: TypingHook | None,
        receipt_hook: ReceiptHook | None,
    ) -> tuple[TypingHook, ReceiptHook]:
        """Create the sender users, start sending; the typing and receipt hooks to install
        (each calls the one installed before, if any)."""
        await self.registry.ensure_senders()
        await self.transactions.start()
        transactions = self.transactions

        async def on_typing(room_id: str, user_id: str, typing: bool) -> None:
            if typing_hook is not None:
                await typing_hook(room_id, user_id, typing)
            if transactions.has_ephemeral_receivers():
                edu = {
                    "type": "m.typing",
                    "room_id": room_id,
                    "content": {"user_ids": await typing_users(room_id)},
                }
                await transactions.push_ephemeral(edu, room_id=room_id)

        async def on_receipt(
            room_id: str, receipt_type: str, user_id: str, event_id: str, data: dict[str, Any]
        ) -> None:
            if receipt_hook is not None:
                await receipt_hook(room_id, receipt_type, user_id, event_id, data)
            if transactions.has_ephemeral_receivers():
                edu = {
                    "type": "m.receipt",
                    "room_id": room_id,
                    "content": {event_id: {receipt_type: {user_id: dict(data)}}},
                }
                await transactions.push_ephemeral(edu, room_id=room_id)

        return on_typing, on_receipt

    async def close(self) -> None:
        await self.transactions.close()


def build_appservices(
    server_name: str,
    registrations: Sequence[AppserviceRegistration],
    *,
    database: Database,
    users: UserStore,
    devices: DeviceStore,
    events: EventStore,
    state: StateStore,
    rooms: RoomStore,
    clock: Clock,
) -> Appservices:
    registry = AppserviceRegistry(
        server_name, registrations, users=users, devices=devices, clock=clock
    )
    client = AppserviceClient()
    store = AppserviceStore(database)
    queries = AppserviceQueries(
        registry, client, users=users, aliases=rooms, rooms=rooms, store=store, clock=clock
    )
    querying_rooms = AliasQueryingRoomStore(database)
    querying_rooms.queries = queries

    async def room_version(room_id: str) -> str | None:
        room = await rooms.get_room(room_id)
        return None if room is None else room.room_version

    transactions = AppserviceTransactions(
        registry,
        store=store,
        events=events,
        state=state,
        aliases=rooms,
        room_versions=room_version,
        client=client,
        clock=clock,
    )
    return Appservices(
        registry=registry,
        client=client,
        store=store,
        queries=queries,
        networks=AppserviceNetworks(registry, client),
        transactions=transactions,
        rooms=querying_rooms,
        users=QueryingUsers(users, queries),
    )
