"""Account data and room tags (spec: Client-Server API, "Client Config" and "Room Tagging").

Global and per-room account data of local users, and tags (the room's ``m.tag`` account data).
Every change is announced on the account data stream's own notifier, which wakes the user's
long-polling ``/sync``. Other services set server-managed types (``m.fully_read`` from read
markers, ``m.push_rules``) through ``set_account_data`` as well; only the client endpoints
refuse them (405).
"""

from typing import Any, Protocol

from myelin.core.identifiers import is_valid_room_id
from myelin.services.errors import MatrixError
from myelin.services.notifier import Notifier

JsonDict = dict[str, Any]

# Types the server manages: clients may read them but not set them through the account data
# endpoints (spec: "Client Config", server behaviour: a 405 response with M_BAD_JSON).
SERVER_MANAGED_TYPES = frozenset({"m.fully_read", "m.push_rules"})
TAG_TYPE = "m.tag"


class AccountDataStorage(Protocol):
    async def current_position(self) -> int: ...

    async def set_account_data(
        self, user_id: str, room_id: str | None, data_type: str, content: JsonDict
    ) -> int: ...

    async def get_account_data(
        self, user_id: str, room_id: str | None, data_type: str
    ) -> JsonDict | None: ...

    async def get_tags(self, user_id: str, room_id: str) -> JsonDict: ...

    async def set_tag(self, user_id: str, room_id: str, tag: str, value: JsonDict) -> int: ...

    async def remove_tag(self, user_id: str, room_id: str, tag: str) -> int | None: ...


def check_owner(requester: str, user_id: str) -> None:
    if requester != user_id:
        raise MatrixError(403, "M_FORBIDDEN", "Cannot access account data of other users")


def check_room_id(room_id: str) -> None:
    if not is_valid_room_id(room_id):
        raise MatrixError(400, "M_INVALID_PARAM", f"Invalid room ID {room_id[:255]!r}")


class AccountDataService:
    def __init__(self, store: AccountDataStorage, notifier: Notifier) -> None:
        self._store = store
        self.notifier = notifier

    async def set_account_data(
        self, user_id: str, room_id: str | None, data_type: str, content: JsonDict
    ) -> int:
        """Set one type for ``user_id`` (no permission checks) and wake their syncs."""
        position = await self._store.set_account_data(user_id, room_id, data_type, content)
        await self.notifier.notify(position, None, (user_id,))
        return position

    async def get_account_data(
        self, user_id: str, room_id: str | None, data_type: str
    ) -> JsonDict | None:
        return await self._store.get_account_data(user_id, room_id, data_type)

    async def client_set(
        self, requester: str, user_id: str, room_id: str | None, data_type: str, body: JsonDict
    ) -> None:
        """``PUT .../account_data/{type}`` of a client."""
        check_owner(requester, user_id)
        if room_id is not None:
            check_room_id(room_id)
        if data_type in SERVER_MANAGED_TYPES:
            raise MatrixError(405, "M_BAD_JSON", f"Cannot set {data_type} through this API.")
        await self.set_account_data(user_id, room_id, data_type, body)

    async def client_get(
        self, requester: str, user_id: str, room_id: str | None, data_type: str
    ) -> JsonDict:
        """``GET .../account_data/{type}`` of a client; 404 when unset."""
        check_owner(requester, user_id)
        if room_id is not None:
            check_room_id(room_id)
        content = await self._store.get_account_data(user_id, room_id, data_type)
        if content is None:
            raise MatrixError(404, "M_NOT_FOUND", "Account data not found")
        return content

    async def get_tags(self, requester: str, user_id: str, room_id: str) -> JsonDict:
        check_owner(requester, user_id)
        check_room_id(room_id)
        return await self._store.get_tags(user_id, room_id)

    async def set_tag(
        self, requester: str, user_id: str, room_id: str, tag: str, body: JsonDict
    ) -> None:
        """``PUT /user/{userId}/rooms/{roomId}/tags/{tag}``: ``order`` is a number in 0..1."""
        check_owner(requester, user_id)
        check_room_id(room_id)
        if len(tag.encode()) > 255:
            raise MatrixError(400, "M_INVALID_PARAM", "Tag names are at most 255 bytes")
        value = dict(body)
        if "order" in value:
            order = value["order"]
            if isinstance(order, bool) or not isinstance(order, int | float):
                raise MatrixError(400, "M_BAD_JSON", "order must be a number")
            if not 0 <= order <= 1:
                raise MatrixError(400, "M_BAD_JSON", "order must be between 0 and 1")
        position = await self._store.set_tag(user_id, room_id, tag, value)
        await self.notifier.notify(position, None, (user_id,))

    async def remove_tag(self, requester: str, user_id: str, room_id: str, tag: str) -> None:
        check_owner(requester, user_id)
        check_room_id(room_id)
        position = await self._store.remove_tag(user_id, room_id, tag)
        if position is not None:
            await self.notifier.notify(position, None, (user_id,))
