"""Account management (spec: Client-Server API, "Account management": "Password management"
and "Account deactivation").

Both run after user-interactive authentication (done by the caller). Changing the password
logs out the user's other devices unless told not to; deactivation forgets the password,
devices, tokens and profile, and makes the user leave the rooms they are joined to.
"""

import asyncio
import logging
from typing import Protocol

from myelin.services.accounts import hash_password
from myelin.services.errors import MatrixError
from myelin.services.login import LoginService
from myelin.services.profile import ProfileService
from myelin.services.registration import check_new_password

logger = logging.getLogger(__name__)


class AccountStore(Protocol):
    async def set_password_hash(self, user_id: str, password_hash: str | None) -> bool: ...

    async def deactivate_user(self, user_id: str) -> bool: ...


class RoomLeaver(Protocol):
    async def leave_all_rooms(self, user_id: str) -> None: ...


class AccountManagementService:
    def __init__(
        self,
        *,
        users: AccountStore,
        login: LoginService,
        profile: ProfileService,
        bcrypt_rounds: int,
        rooms: RoomLeaver | None = None,
    ) -> None:
        self._users = users
        self._login = login
        self._profile = profile
        self._rounds = bcrypt_rounds
        self._rooms = rooms

    async def change_password(
        self, user_id: str, new_password: str, *, logout_devices: bool, keep_device: str | None
    ) -> None:
        """Set the new password; with ``logout_devices`` every other device is logged out."""
        check_new_password(new_password)
        password_hash = await asyncio.to_thread(hash_password, new_password, self._rounds)
        if not await self._users.set_password_hash(user_id, password_hash):
            raise MatrixError(404, "M_NOT_FOUND", "Unknown user")
        if logout_devices:
            await self._login.logout_other_devices(user_id, keep_device)

    async def deactivate(self, user_id: str, *, erase: bool) -> None:
        """Deactivate the account for good.

        ``erase`` is accepted; the profile is erased in every case, and there is no other
        per-user data (account data, 3PIDs) to erase yet.
        """
        if self._rooms is not None:
            await self._rooms.leave_all_rooms(user_id)
        await self._profile.clear(user_id)
        await self._users.deactivate_user(user_id)
        logger.info("Deactivated %s (erase=%s)", user_id, erase)


class MembershipUpdater(Protocol):
    async def update_membership(
        self, sender: str, target: str, room_id: str, action: str, reason: str | None = None
    ) -> object: ...


class JoinedRooms(Protocol):
    async def get_rooms_for_user(self, user_id: str, membership: str = "join") -> list[str]: ...


class EventRoomLeaver:
    """Leaves rooms through the event write path (one leave event per room)."""

    def __init__(self, state: JoinedRooms, events: MembershipUpdater) -> None:
        self._state = state
        self._events = events

    async def leave_all_rooms(self, user_id: str) -> None:
        for membership in ("join", "invite", "knock"):
            for room_id in await self._state.get_rooms_for_user(user_id, membership):
                try:
                    await self._events.update_membership(user_id, user_id, room_id, "leave")
                except MatrixError as e:
                    logger.warning("%s could not leave %s on deactivation: %s", user_id, room_id, e)
