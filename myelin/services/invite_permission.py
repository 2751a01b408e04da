"""Invite permission (spec: Client-Server API, "Invite permission", added in v1.18).

A user blocks every invite with the global account data ``m.invite_permission_config``
whose ``default_action`` is ``block`` ("A missing, invalid or unsupported value means that the
user wants to receive invites as normal"). Their homeserver then refuses invites to them with
403 ``M_INVITE_BLOCKED`` (``/invite``, ``PUT /state/m.room.member``, ``/createRoom``, the
federation ``/invite``) and serves no invite to them over ``/sync``.
"""

from collections.abc import Mapping
from typing import Any, Protocol

from myelin.core.identifiers import server_name_of
from myelin.services.errors import MatrixError

__all__ = ["INVITE_PERMISSION_CONFIG", "InvitePermissions", "blocks_all_invites"]

INVITE_PERMISSION_CONFIG = "m.invite_permission_config"


class AccountDataReader(Protocol):
    async def get_account_data(
        self, user_id: str, room_id: str | None, data_type: str
    ) -> Mapping[str, Any] | None: ...


def blocks_all_invites(content: Any) -> bool:
    """Whether an ``m.invite_permission_config`` content blocks every invite."""
    return isinstance(content, Mapping) and content.get("default_action") == "block"


class InvitePermissions:
    """Whether this server's users accept invites."""

    def __init__(self, *, server_name: str, account_data: AccountDataReader) -> None:
        self._server_name = server_name
        self._account_data = account_data

    async def invites_blocked(self, user_id: str) -> bool:
        """Whether ``user_id`` (a user of this server) blocks every invite."""
        content = await self._account_data.get_account_data(user_id, None, INVITE_PERMISSION_CONFIG)
        return blocks_all_invites(content)

    async def check_invite(self, invitee: str) -> None:
        """403 ``M_INVITE_BLOCKED`` when ``invitee`` is ours and blocks invites (users of
        other servers: their server decides)."""
        try:
            local = server_name_of(invitee) == self._server_name
        except ValueError:
            return
        if local and await self.invites_blocked(invitee):
            raise MatrixError(403, "M_INVITE_BLOCKED", f"{invitee} does not accept invites")
