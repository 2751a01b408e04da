"""Login and sessions (spec: Client-Server API, "Login", "Using access tokens", "Refreshing
access tokens", "Soft logout", "Identifier types" and POST /login/get_token).

Access, refresh and login tokens are random strings stored only as hashes. An access token
issued together with a refresh token expires (``refreshable_access_token_lifetime``); using an
expired token answers 401 ``M_UNKNOWN_TOKEN`` with ``soft_logout: true``.
"""

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.core.errors import InvalidIdentifierError
from myelin.core.identifiers import UserID
from myelin.services.accounts import check_password
from myelin.services.devices import DeviceService
from myelin.services.errors import MatrixError
from myelin.storage import AccessTokenRecord, RefreshTokenRecord, UserRecord

PASSWORD_LOGIN = "m.login.password"
TOKEN_LOGIN = "m.login.token"
# Synapse refuses passwords longer than this; so do we (bcrypt reads 72 bytes anyway).
MAX_PASSWORD_LENGTH = 512


class UserReader(Protocol):
    async def get_user(self, user_id: str) -> UserRecord | None: ...


class TokenStore(Protocol):
    async def add_access_token(
        self,
        token: str,
        *,
        user_id: str,
        device_id: str | None,
        created_ts: int,
        expires_ts: int | None = None,
    ) -> None: ...

    async def add_token_pair(
        self,
        access_token: str,
        refresh_token: str,
        *,
        user_id: str,
        device_id: str,
        created_ts: int,
        access_expires_ts: int | None,
        refresh_expires_ts: int | None = None,
    ) -> None: ...

    async def get_access_token(self, token: str) -> AccessTokenRecord | None: ...

    async def delete_access_token(self, token: str) -> bool: ...

    async def delete_access_tokens_for_user(
        self, user_id: str, *, except_device_id: str | None = None
    ) -> int: ...

    async def get_refresh_token(self, token: str) -> RefreshTokenRecord | None: ...

    async def refresh(
        self,
        old_refresh_token: str,
        new_access_token: str,
        new_refresh_token: str,
        *,
        now_ts: int,
        access_expires_ts: int | None,
        refresh_expires_ts: int | None = None,
    ) -> RefreshTokenRecord | None: ...


class LoginTokenStore(Protocol):
    async def add_login_token(self, token: str, *, user_id: str, expires_ts: int) -> None: ...

    async def consume_login_token(self, token: str, now_ts: int) -> str | None: ...


@dataclass(frozen=True)
class TokenLifetimes:
    """Milliseconds; None: does not expire."""

    refreshable_access: int = 300_000
    refresh: int | None = None
    nonrefreshable_access: int | None = None
    login_token: int = 120_000


@dataclass(frozen=True)
class Session:
    """What login, registration and refresh hand to the client."""

    user_id: str
    device_id: str
    access_token: str
    refresh_token: str | None
    expires_in_ms: int | None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "user_id": self.user_id,
            "access_token": self.access_token,
            "device_id": self.device_id,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        if self.expires_in_ms is not None:
            body["expires_in_ms"] = self.expires_in_ms
        return body


@dataclass(frozen=True)
class TokenOwner:
    """Who an access token belongs to."""

    user_id: str
    device_id: str | None
    is_guest: bool


def new_access_token() -> str:
    return "mya_" + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    return "myr_" + secrets.token_urlsafe(32)


def new_login_token() -> str:
    return "myl_" + secrets.token_urlsafe(32)


class LoginService:
    """Turns credentials into sessions and access tokens into their owners."""

    def __init__(
        self,
        server_name: str,
        *,
        users: UserReader,
        tokens: TokenStore,
        login_tokens: LoginTokenStore,
        devices: DeviceService,
        clock: Clock,
        lifetimes: TokenLifetimes,
    ) -> None:
        self._server_name = server_name
        self._users = users
        self._tokens = tokens
        self._login_tokens = login_tokens
        self._devices = devices
        self._clock = clock
        self._lifetimes = lifetimes

    # ---- identifiers and passwords --------------------------------------------------------

    def user_id_of(self, user: str) -> str:
        """A full user ID from ``m.id.user``'s ``user``: a localpart or a full ID.

        Lookups are case-insensitive on the localpart as Synapse's are: localparts are
        lowercased (historical mixed-case IDs are matched by ``find_user``).
        """
        text = user if user.startswith("@") else f"@{user}:{self._server_name}"
        try:
            return str(UserID.parse(text))
        except InvalidIdentifierError as e:
            raise MatrixError(403, "M_FORBIDDEN", "Invalid username or password") from e

    async def find_user(self, user: str) -> UserRecord | None:
        user_id = self.user_id_of(user)
        record = await self._users.get_user(user_id)
        if record is None:
            localpart, _, server = user_id[1:].partition(":")
            if localpart != localpart.lower():
                record = await self._users.get_user(f"@{localpart.lower()}:{server}")
        return record

    def user_from_identifier(self, body: dict[str, Any]) -> str:
        """The ``user`` of an ``m.id.user`` identifier (or the deprecated top-level ``user``).

        Third-party identifiers answer 403 ``M_FORBIDDEN``: this server binds no 3PIDs, so it
        knows none of them (spec: "Password-based", "Legacy Login").
        """
        identifier = body.get("identifier")
        if identifier is None:
            if "medium" in body or "address" in body:
                raise MatrixError(403, "M_FORBIDDEN", "Unknown third-party identifier")
            user = body.get("user")
            if user is None:
                raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: identifier")
            if not isinstance(user, str):
                raise MatrixError(400, "M_BAD_JSON", "user must be a string")
            return user
        if not isinstance(identifier, dict):
            raise MatrixError(400, "M_BAD_JSON", "identifier must be an object")
        kind = identifier.get("type")
        if kind is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: identifier.type")
        if kind in ("m.id.thirdparty", "m.id.phone"):
            raise MatrixError(403, "M_FORBIDDEN", "Unknown third-party identifier")
        if kind != "m.id.user":
            raise MatrixError(400, "M_UNKNOWN", f"Unknown identifier type {kind!r}")
        user = identifier.get("user")
        if user is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: identifier.user")
        if not isinstance(user, str):
            raise MatrixError(400, "M_BAD_JSON", "identifier.user must be a string")
        return user

    async def check_password_auth(self, body: dict[str, Any]) -> str | None:
        """The user an identifier + ``password`` body authenticates, or None.

        Deactivated users are refused like wrong passwords (their hash is gone). Used by
        ``/login`` and by UIA's ``m.login.password`` stage.
        """
        user = self.user_from_identifier(body)
        password = body.get("password")
        if password is None:
            raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: password")
        if not isinstance(password, str):
            raise MatrixError(400, "M_BAD_JSON", "password must be a string")
        record = await self.find_user(user)
        if record is None or record.password_hash is None or record.deactivated:
            return None
        if len(password) > MAX_PASSWORD_LENGTH:
            return None
        # bcrypt is deliberately slow: keep it off the event loop.
        if not await asyncio.to_thread(check_password, password, record.password_hash):
            return None
        return record.user_id

    async def is_admin(self, user_id: str) -> bool:
        user = await self._users.get_user(user_id)
        return user is not None and user.admin and not user.deactivated

    async def is_guest(self, user_id: str) -> bool:
        user = await self._users.get_user(user_id)
        return user is not None and user.is_guest

    async def uia_flows(self, user_id: str) -> list[list[str]]:
        """The UIA flows proving a logged-in user is themselves: their password, or (for
        accounts without one, such as guests) nothing more than their access token."""
        user = await self._users.get_user(user_id)
        if user is not None and user.password_hash is not None:
            return [[PASSWORD_LOGIN]]
        return [["m.login.dummy"]]

    # ---- sessions -------------------------------------------------------------------------

    async def create_session(
        self,
        user_id: str,
        *,
        device_id: str | None,
        display_name: str | None,
        refresh: bool,
    ) -> Session:
        """A device (reused or new) with a fresh access token, and a refresh token if asked."""
        device_id = await self._devices.ensure_device(user_id, device_id, display_name)
        now = self._clock.now_ms()
        access = new_access_token()
        if refresh:
            refresh_token = new_refresh_token()
            lifetime = self._lifetimes.refreshable_access
            await self._tokens.add_token_pair(
                access,
                refresh_token,
                user_id=user_id,
                device_id=device_id,
                created_ts=now,
                access_expires_ts=now + lifetime,
                refresh_expires_ts=self._expiry(now, self._lifetimes.refresh),
            )
            return Session(user_id, device_id, access, refresh_token, lifetime)
        lifetime_or_none = self._lifetimes.nonrefreshable_access
        await self._tokens.add_access_token(
            access,
            user_id=user_id,
            device_id=device_id,
            created_ts=now,
            expires_ts=self._expiry(now, lifetime_or_none),
        )
        return Session(user_id, device_id, access, None, lifetime_or_none)

    @staticmethod
    def _expiry(now: int, lifetime: int | None) -> int | None:
        return None if lifetime is None else now + lifetime

    async def login_password(
        self,
        body: dict[str, Any],
        *,
        device_id: str | None,
        display_name: str | None,
        refresh: bool,
    ) -> Session:
        """``m.login.password``: 403 ``M_FORBIDDEN`` on any wrong credential."""
        user_id = await self.check_password_auth(body)
        if user_id is None:
            raise MatrixError(403, "M_FORBIDDEN", "Invalid username or password")
        return await self.create_session(
            user_id, device_id=device_id, display_name=display_name, refresh=refresh
        )

    async def login_token(
        self, token: str, *, device_id: str | None, display_name: str | None, refresh: bool
    ) -> Session:
        """``m.login.token``: a single-use token from ``create_login_token``."""
        user_id = await self._login_tokens.consume_login_token(token, self._clock.now_ms())
        if user_id is None:
            raise MatrixError(403, "M_FORBIDDEN", "Invalid or expired login token")
        user = await self._users.get_user(user_id)
        if user is None or user.deactivated:
            raise MatrixError(403, "M_USER_DEACTIVATED", "This account has been deactivated")
        return await self.create_session(
            user_id, device_id=device_id, display_name=display_name, refresh=refresh
        )

    async def create_login_token(self, user_id: str) -> tuple[str, int]:
        """A single-use login token for ``user_id`` and its lifetime in milliseconds."""
        token = new_login_token()
        lifetime = self._lifetimes.login_token
        await self._login_tokens.add_login_token(
            token, user_id=user_id, expires_ts=self._clock.now_ms() + lifetime
        )
        return token, lifetime

    async def refresh(self, refresh_token: str) -> Session:
        """Exchange a refresh token for a new pair (spec: "Refreshing access tokens").

        An unknown (or already used) token is 401 ``M_UNKNOWN_TOKEN``; an expired one adds
        ``soft_logout: true`` since the device lives on and the user may log in to it again.
        """
        now = self._clock.now_ms()
        old = await self._tokens.get_refresh_token(refresh_token)
        if old is None:
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown refresh token", soft_logout=False)
        if old.expired(now):
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Refresh token expired", soft_logout=True)
        access, new_refresh = new_access_token(), new_refresh_token()
        lifetime = self._lifetimes.refreshable_access
        record = await self._tokens.refresh(
            refresh_token,
            access,
            new_refresh,
            now_ts=now,
            access_expires_ts=now + lifetime,
            refresh_expires_ts=self._expiry(now, self._lifetimes.refresh),
        )
        if record is None:
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown refresh token", soft_logout=False)
        return Session(record.user_id, record.device_id, access, new_refresh, lifetime)

    # ---- access tokens --------------------------------------------------------------------

    async def verify_access_token(self, token: str) -> TokenOwner | None:
        """The owner of a valid token, or None (unknown, logged out, deactivated user).

        An expired token raises 401 ``M_UNKNOWN_TOKEN`` with ``soft_logout: true``.
        """
        record = await self._tokens.get_access_token(token)
        if record is None:
            return None
        if record.expired(self._clock.now_ms()):
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Access token expired", soft_logout=True)
        user = await self._users.get_user(record.user_id)
        if user is None or user.deactivated:
            return None
        if record.device_id is not None:
            await self._devices.seen(record.user_id, record.device_id)
        return TokenOwner(record.user_id, record.device_id, user.is_guest)

    async def logout(self, token: str) -> None:
        """Invalidate the token and delete its device (spec: POST /logout)."""
        record = await self._tokens.get_access_token(token)
        if record is None:
            return
        if record.device_id is not None:
            await self._devices.delete_devices(record.user_id, [record.device_id])
        await self._tokens.delete_access_token(token)

    async def logout_all(self, user_id: str) -> None:
        """Invalidate every token of the user and delete every device (POST /logout/all)."""
        await self._devices.delete_all_devices(user_id, except_device_id=None)
        await self._tokens.delete_access_tokens_for_user(user_id)

    async def logout_other_devices(self, user_id: str, device_id: str | None) -> None:
        """Delete every device (and token) of the user but ``device_id`` (password change)."""
        await self._devices.delete_all_devices(user_id, except_device_id=device_id)
        await self._tokens.delete_access_tokens_for_user(user_id, except_device_id=device_id)
