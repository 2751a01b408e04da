"""Helpers for the room endpoint tests: users with tokens, rooms, messages over HTTP."""

from typing import Any
from urllib.parse import quote

from tests.api.account_support import V3, Client, auth_header, register
from tests.api.openapi import validate_response

V1 = "/_matrix/client/v1"


class User:
    """A registered user and the client they talk through."""

    def __init__(self, client: Client, body: dict[str, Any]) -> None:
        self.client = client
        self.user_id: str = body["user_id"]
        self.token: str = body["access_token"]
        self.device_id: str = body["device_id"]
        self.headers = auth_header(self.token)
        self._txn = 0

    async def request(
        self, method: str, path: str, *, status: int = 200, json: Any = None, **kwargs: Any
    ) -> Any:
        response = await self.client.request(
            method, path, headers=self.headers, json=json, **kwargs
        )
        body = await response.json()
        assert response.status == status, (response.status, body)
        return body

    async def create_room(self, status: int = 200, **body: Any) -> str:
        result = await self.request("POST", f"{V3}/createRoom", json=body, status=status)
        if status == 200:
            validate_response(result, "client-server/create_room.yaml", "/createRoom", "post", 200)
        return str(result.get("room_id"))

    async def send(
        self,
        room_id: str,
        body: str = "hello",
        *,
        event_type: str = "m.room.message",
        content: dict[str, Any] | None = None,
        txn: str | None = None,
        status: int = 200,
    ) -> str:
        self._txn += 1
        txn = txn or f"t{self._txn}"
        content = content if content is not None else {"msgtype": "m.text", "body": body}
        path = f"{V3}/rooms/{quote(room_id)}/send/{quote(event_type)}/{quote(txn)}"
        result = await self.request("PUT", path, json=content, status=status)
        return str(result.get("event_id"))

    async def join(self, room: str, status: int = 200) -> Any:
        return await self.request("POST", f"{V3}/join/{quote(room)}", json={}, status=status)

    async def leave(self, room_id: str, status: int = 200) -> Any:
        return await self.request(
            "POST", f"{V3}/rooms/{quote(room_id)}/leave", json={}, status=status
        )

    async def invite(self, room_id: str, user_id: str, status: int = 200) -> Any:
        return await self.request(
            "POST", f"{V3}/rooms/{quote(room_id)}/invite", json={"user_id": user_id}, status=status
        )

    async def put_state(
        self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = ""
    ) -> str:
        path = f"{V3}/rooms/{quote(room_id)}/state/{quote(event_type)}/{quote(state_key)}"
        result = await self.request("PUT", path, json=content)
        return str(result["event_id"])

    async def messages(self, room_id: str, status: int = 200, **params: Any) -> Any:
        params.setdefault("dir", "b")
        return await self.request(
            "GET", f"{V3}/rooms/{quote(room_id)}/messages", params=params, status=status
        )


async def new_user(client: Client, name: str) -> User:
    return User(client, await register(client, name))
