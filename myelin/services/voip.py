"""TURN credentials (spec: Client-Server API, "Voice over IP": GET /voip/turnServer).

With Synapse's ``turn_shared_secret`` (coturn's ``static-auth-secret`` / the TURN REST API
draft) every answer carries time-limited credentials: the username is
``<expiry in seconds>:<user ID>`` and the password the base64 HMAC-SHA1 of that username under
the secret. Otherwise the fixed ``turn_username`` / ``turn_password`` are handed out. Without
``turn_uris`` the answer is an empty object, as Synapse answers.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from myelin.clock import Clock
from myelin.services.errors import MatrixError


@dataclass(frozen=True)
class TurnSettings:
    uris: tuple[str, ...] = ()
    shared_secret: str | None = None
    username: str | None = None
    password: str | None = None
    user_lifetime_ms: int = 3_600_000
    allow_guests: bool = True


def turn_credentials(secret: str, user_id: str, expiry_s: int) -> tuple[str, str]:
    """The TURN REST API username and password valid until ``expiry_s`` (Unix seconds)."""
    username = f"{expiry_s}:{user_id}"
    mac = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return username, base64.b64encode(mac).decode("ascii")


class TurnService:
    def __init__(self, settings: TurnSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock

    def turn_server(self, user_id: str, is_guest: bool) -> dict[str, Any]:
        settings = self._settings
        if is_guest and not settings.allow_guests:
            raise MatrixError(403, "M_FORBIDDEN", "Guest access to the TURN server is disabled")
        if not settings.uris:
            return {}
        ttl_s = settings.user_lifetime_ms // 1000
        if settings.shared_secret:
            expiry_s = self._clock.now_ms() // 1000 + ttl_s
            username, password = turn_credentials(settings.shared_secret, user_id, expiry_s)
        elif settings.username and settings.password:
            username, password = settings.username, settings.password
        else:
            # URIs without a way to authenticate: nothing usable to hand out (Synapse too).
            return {}
        return {
            "username": username,
            "password": password,
            "uris": list(settings.uris),
            "ttl": ttl_s,
        }
