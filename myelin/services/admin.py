"""Server administration (spec: Client-Server API, "Server Administration": GET
/admin/whois/{userId}, GET/PUT /admin/lock/{userId} and GET/PUT /admin/suspend/{userId}).

Who is a server administrator is the ``admin`` flag of the account (server-local, as the spec
leaves it). Authorisation is checked before the target account is looked up, as the spec asks
(no user enumeration).
"""

from typing import Any

from myelin.core.identifiers import is_valid_user_id, server_name_of
from myelin.services.errors import MatrixError
from myelin.storage.account_status import AccountStatus, AccountStatusStore
from myelin.storage.devices import DeviceStore
from myelin.storage.users import UserStore


class AccountModeration:
    def __init__(
        self,
        server_name: str,
        *,
        users: UserStore,
        devices: DeviceStore,
        statuses: AccountStatusStore,
    ) -> None:
        self._server_name = server_name
        self._users = users
        self._devices = devices
        self._statuses = statuses

    async def get_status(self, user_id: str) -> AccountStatus | None:
        """The account's lock and suspension (for the access-token verifier)."""
        return await self._statuses.get_status(user_id)

    async def is_admin(self, user_id: str) -> bool:
        user = await self._users.get_user(user_id)
        return user is not None and user.admin and not user.deactivated

    async def whois(self, requester: str, user_id: str) -> dict[str, Any]:
        """GET /admin/whois/{userId}: the user's devices and their last connection.

        Only server admins may look up others (403 ``M_FORBIDDEN``); an unknown user is 404
        ``M_NOT_FOUND``, as Synapse answers.
        """
        if requester != user_id and not await self.is_admin(requester):
            raise MatrixError(403, "M_FORBIDDEN", "You are not a server admin")
        if not self._is_local(user_id) or await self._users.get_user(user_id) is None:
            raise MatrixError(404, "M_NOT_FOUND", "User not found")
        devices: dict[str, Any] = {}
        for device in await self._devices.list_devices(user_id):
            connections = []
            if device.last_seen_ts is not None:
                connection: dict[str, Any] = {"last_seen": device.last_seen_ts}
                if device.last_seen_ip is not None:
                    connection["ip"] = device.last_seen_ip
                if device.last_seen_user_agent is not None:
                    connection["user_agent"] = device.last_seen_user_agent
                connections.append(connection)
            devices[device.device_id] = {"sessions": [{"connections": connections}]}
        return {"user_id": user_id, "devices": devices}

    async def get_locked(self, requester: str, user_id: str) -> bool:
        return (await self._target_status(requester, user_id)).locked

    async def get_suspended(self, requester: str, user_id: str) -> bool:
        return (await self._target_status(requester, user_id)).suspended

    async def set_locked(self, requester: str, user_id: str, locked: bool) -> bool:
        await self._check_change(requester, user_id)
        await self._statuses.set_locked(user_id, locked)
        return locked

    async def set_suspended(self, requester: str, user_id: str, suspended: bool) -> bool:
        await self._check_change(requester, user_id)
        await self._statuses.set_suspended(user_id, suspended)
        return suspended

    def _is_local(self, user_id: str) -> bool:
        return is_valid_user_id(user_id) and server_name_of(user_id) == self._server_name

    async def _target_status(self, requester: str, user_id: str) -> AccountStatus:
        # Authorisation first, then the lookup (the spec forbids user enumeration).
        if not await self.is_admin(requester):
            raise MatrixError(403, "M_FORBIDDEN", "You are not a server admin")
        if not self._is_local(user_id):
            raise MatrixError(400, "M_INVALID_PARAM", "User does not belong to the local server.")
        user = await self._users.get_user(user_id)
        status = await self._statuses.get_status(user_id)
        if user is None or user.deactivated or status is None:
            raise MatrixError(404, "M_NOT_FOUND", "User not found")
        return status

    async def _check_change(self, requester: str, user_id: str) -> None:
        await self._target_status(requester, user_id)
        # 403 when the admin targets their own account or another administrator.
        if user_id == requester:
            raise MatrixError(403, "M_FORBIDDEN", "You cannot change your own account's status")
        if await self.is_admin(user_id):
            raise MatrixError(403, "M_FORBIDDEN", "The target user is a server admin")
