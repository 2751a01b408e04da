"""What locked and suspended accounts may still do (spec: Client-Server API, "Account
locking" and "Account suspension").

``Authenticator`` applies these after it has verified an access token:

* a locked account gets 401 ``M_USER_LOCKED`` with ``soft_logout: true`` on every endpoint but
  ``POST /logout`` and ``POST /logout/all``;
* a suspended account gets 403 ``M_USER_SUSPENDED`` on the spec's recommended set of forbidden
  actions: joining and knocking, inviting, sending events (redactions excepted), changing the
  profile, redacting other users' events; also creating and upgrading rooms, which would send
  events (Synapse refuses these too). Leaving, reading, /sync, keys, devices and logout stay open.
"""

import re
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from myelin.services.errors import MatrixError

# The version segment of Client-Server paths (r0 is served as an alias of v3).
_CLIENT = r"^/_matrix/client/(?:v1|v3|r0|unstable)"

_LOGOUT = re.compile(_CLIENT + r"/logout(?:/all)?/?$")

# (method, path) patterns a suspended user may not call.
_SUSPENDED_FORBIDDEN: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (method, re.compile(_CLIENT + pattern))
    for method, pattern in (
        ("POST", r"/join/[^/]+/?$"),
        ("POST", r"/knock/[^/]+/?$"),
        ("POST", r"/rooms/[^/]+/(?:join|invite|kick|ban|unban|upgrade)/?$"),
        ("PUT", r"/rooms/[^/]+/state/.*$"),
        ("POST", r"/createRoom/?$"),
        ("PUT", r"/profile/[^/]+/[^/]+/?$"),
        ("DELETE", r"/profile/[^/]+/[^/]+/?$"),
    )
)
# PUT /rooms/{roomId}/send/{eventType}/{txnId}: forbidden but for redactions.
_SEND = re.compile(_CLIENT + r"/rooms/[^/]+/send/([^/]+)/[^/]+/?$")
# PUT /rooms/{roomId}/redact/{eventId}/{txnId}: allowed for the user's own events only.
_REDACT = re.compile(_CLIENT + r"/rooms/([^/]+)/redact/([^/]+)/[^/]+/?$")

# The sender of an event in a room, or None when unknown.
EventSenderLookup = Callable[[str, str], Awaitable[str | None]]


def locked_error() -> MatrixError:
    return MatrixError(401, "M_USER_LOCKED", "This account has been locked", soft_logout=True)


def suspended_error() -> MatrixError:
    return MatrixError(403, "M_USER_SUSPENDED", "You cannot perform this action while suspended.")


def check_locked(request: web.BaseRequest) -> None:
    """Raise ``M_USER_LOCKED`` unless the request is a logout."""
    if _LOGOUT.match(request.path) is None:
        raise locked_error()


class SuspensionPolicy:
    """Refuses the actions a suspended user may not perform."""

    def __init__(self, event_sender: EventSenderLookup | None = None) -> None:
        self._event_sender = event_sender

    async def check(self, request: web.Request, user_id: str) -> None:
        """Raise ``M_USER_SUSPENDED`` when ``user_id`` (suspended) may not make ``request``."""
        method, path = request.method, request.path
        for forbidden_method, pattern in _SUSPENDED_FORBIDDEN:
            if method == forbidden_method and pattern.match(path):
                raise suspended_error()
        if method != "PUT":
            return
        send = _SEND.match(path)
        if send is not None:
            if request.match_info.get("eventType", send.group(1)) != "m.room.redaction":
                raise suspended_error()
            return
        redact = _REDACT.match(request.raw_path.split("?", 1)[0])
        if redact is not None and self._event_sender is not None:
            room_id = request.match_info.get("roomId", "")
            event_id = request.match_info.get("eventId", "")
            sender = await self._event_sender(room_id, event_id)
            if sender is not None and sender != user_id:
                raise suspended_error()


class AccountStatusLike(Protocol):
    @property
    def locked(self) -> bool: ...

    @property
    def suspended(self) -> bool: ...


class AccountStatusLookup(Protocol):
    """Where ``AccessTokens`` learns whether an account is locked or suspended."""

    async def get_status(self, user_id: str) -> AccountStatusLike | None: ...
