"""OpenID (spec: Client-Server API, "OpenID": POST /user/{userId}/openid/request_token;
Server-Server API, "OpenID": GET /_matrix/federation/v1/openid/userinfo).

A token proves to a third party (an integration manager, a widget host) which user holds it:
the third party exchanges it with this server over federation for the user ID. Tokens are good
for nothing else; they are stored hashed with their expiry.
"""

import secrets
from collections.abc import Callable
from typing import Any

from myelin.clock import Clock
from myelin.services.errors import MatrixError
from myelin.storage.account_status import OpenIdTokenStore

# Synapse's lifetime for OpenID tokens (one hour).
OPENID_TOKEN_LIFETIME_MS = 3_600_000


def _random_token() -> str:
    return secrets.token_urlsafe(32)


class OpenIdService:
    def __init__(
        self,
        server_name: str,
        tokens: OpenIdTokenStore,
        clock: Clock,
        *,
        lifetime_ms: int = OPENID_TOKEN_LIFETIME_MS,
        new_token: Callable[[], str] = _random_token,
    ) -> None:
        self._server_name = server_name
        self._tokens = tokens
        self._clock = clock
        self._lifetime_ms = lifetime_ms
        self._new_token = new_token

    async def request_token(self, requester: str, user_id: str) -> dict[str, Any]:
        """A new OpenID token for the requester (403 ``M_FORBIDDEN`` for another user)."""
        if user_id != requester:
            raise MatrixError(403, "M_FORBIDDEN", "Cannot request tokens for other users.")
        now = self._clock.now_ms()
        await self._tokens.delete_expired(now)
        token = self._new_token()
        await self._tokens.add_token(token, user_id, now + self._lifetime_ms)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "matrix_server_name": self._server_name,
            "expires_in": self._lifetime_ms // 1000,
        }

    async def userinfo(self, token: str | None) -> dict[str, Any]:
        """The owner of a valid token (401 ``M_UNKNOWN_TOKEN`` otherwise)."""
        user_id = None
        if token:
            user_id = await self._tokens.get_user(token, self._clock.now_ms())
        if user_id is None:
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Access token unknown or expired")
        return {"sub": user_id}
