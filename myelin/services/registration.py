"""Account registration (spec: Client-Server API, "Account registration": POST /register and
GET /register/available; and Synapse's shared-secret registration admin API, which clients of
Synapse's tooling rely on).

Registration through the client API is closed unless ``enable_registration``; it then runs
user-interactive auth with ``m.login.dummy`` or, with ``registration_requires_token``,
``m.login.registration_token``. Shared-secret registration (HMAC-SHA1 over a single-use nonce)
works whenever a ``registration_shared_secret`` is configured.

Every new account's display name is its localpart unless one is given, as in Synapse (whose
``register_user`` and application service registration create the profile so): profiles and
member events then have one. Synapse does it for guests (with their generated localpart) too.
"""

import asyncio
import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from typing import Protocol

from myelin.clock import Clock
from myelin.core.identifiers import is_valid_user_localpart
from myelin.services.accounts import (
    AccountService,
    InvalidUsernameError,
    UserInUseError,
    hash_password,
    local_user_id,
    localpart_of,
)
from myelin.services.errors import MatrixError
from myelin.services.login import MAX_PASSWORD_LENGTH
from myelin.storage import UserExistsError, UserRecord

# A shared-secret nonce is good for one registration within this time (as in Synapse).
NONCE_LIFETIME_MS = 60_000
# Generated localparts: this many lowercase letters and digits.
_GENERATED_LOCALPART_LENGTH = 12
_LOCALPART_ALPHABET = string.ascii_lowercase + string.digits


class UserStore(Protocol):
    async def get_user(self, user_id: str) -> UserRecord | None: ...

    async def create_user(
        self,
        user_id: str,
        password_hash: str | None,
        *,
        admin: bool,
        created_ts: int,
        is_guest: bool = False,
        user_type: str | None = None,
        appservice_id: str | None = None,
        displayname: str | None = None,
    ) -> None: ...

    async def set_displayname(self, user_id: str, displayname: str | None) -> bool: ...


class UserNamespaces(Protocol):
    def check_user_creatable(self, user_id: str, appservice_id: str | None) -> None:
        """Raise ``M_EXCLUSIVE`` for a user ID reserved by (or outside) an appservice."""
        ...


@dataclass(frozen=True)
class RegistrationPolicy:
    enabled: bool
    requires_token: bool
    allow_guests: bool


def check_new_password(password: str) -> None:
    if len(password) > MAX_PASSWORD_LENGTH:
        raise MatrixError(
            400, "M_INVALID_PARAM", f"password must be at most {MAX_PASSWORD_LENGTH} characters"
        )


def _username_error(e: InvalidUsernameError) -> MatrixError:
    return MatrixError(400, "M_INVALID_USERNAME", str(e))


class RegistrationService:
    """Creates accounts for /register, /register/available and shared-secret registration."""

    def __init__(
        self,
        server_name: str,
        *,
        accounts: AccountService,
        users: UserStore,
        clock: Clock,
        policy: RegistrationPolicy,
        bcrypt_rounds: int,
        shared_secret: str | None,
    ) -> None:
        self._server_name = server_name
        self._accounts = accounts
        self._users = users
        self._clock = clock
        self.policy = policy
        self._rounds = bcrypt_rounds
        self._shared_secret = shared_secret
        self._nonces: dict[str, int] = {}
        # The application services' users namespaces (Application Service API, "Server admin
        # style permissions"), when any are registered.
        self.namespaces: UserNamespaces | None = None

    def flows(self) -> list[list[str]]:
        """The UIA flows of POST /register."""
        if self.policy.requires_token:
            return [["m.login.registration_token"]]
        return [["m.login.dummy"]]

    def require_enabled(self) -> None:
        if not self.policy.enabled:
            raise MatrixError(403, "M_FORBIDDEN", "Registration is disabled")

    async def check_username(self, username: str, appservice_id: str | None = None) -> str:
        """The user ID for a requested localpart; 400 ``M_INVALID_USERNAME``/``M_USER_IN_USE``,
        or ``M_EXCLUSIVE`` for a user ID reserved by an application service (or, for
        ``appservice_id``, one outside that service's namespaces).

        Localparts are not mapped: anything outside the grammar (uppercase included) is refused.
        """
        if not is_valid_user_localpart(username):
            raise MatrixError(
                400,
                "M_INVALID_USERNAME",
                "User names may contain only a-z, 0-9 and . _ = - / +",
            )
        try:
            user_id = local_user_id(username, self._server_name)
        except InvalidUsernameError as e:
            raise _username_error(e) from e
        if self.namespaces is not None:
            self.namespaces.check_user_creatable(user_id, appservice_id)
        if await self._users.get_user(user_id) is not None:
            raise MatrixError(400, "M_USER_IN_USE", "Desired user ID is already taken")
        return user_id

    async def register_appservice_user(self, username: str, appservice_id: str) -> str:
        """``m.login.application_service``: a passwordless user in the service's namespace."""
        user_id = await self.check_username(username, appservice_id)
        try:
            await self._users.create_user(
                user_id,
                None,
                admin=False,
                created_ts=self._clock.now_ms(),
                appservice_id=appservice_id,
                displayname=localpart_of(user_id),
            )
        except UserExistsError as e:
            raise MatrixError(400, "M_USER_IN_USE", "Desired user ID is already taken") from e
        return user_id

    async def register(self, username: str | None, password: str | None) -> str:
        """Create a user (generated localpart without ``username``); return its ID."""
        if password is not None:
            check_new_password(password)
        if username is None:
            return await self._register_generated(password, is_guest=False)
        await self.check_username(username)
        try:
            return await self._accounts.register_user(username, password, admin=False)
        except InvalidUsernameError as e:
            raise _username_error(e) from e
        except UserInUseError as e:
            raise MatrixError(400, "M_USER_IN_USE", "Desired user ID is already taken") from e

    async def register_guest(self) -> str:
        if not self.policy.allow_guests:
            raise MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is disabled")
        return await self._register_generated(None, is_guest=True)

    async def _register_generated(self, password: str | None, *, is_guest: bool) -> str:
        password_hash = None
        if password is not None:
            password_hash = await asyncio.to_thread(hash_password, password, self._rounds)
        while True:
            localpart = "".join(
                secrets.choice(_LOCALPART_ALPHABET) for _ in range(_GENERATED_LOCALPART_LENGTH)
            )
            user_id = f"@{localpart}:{self._server_name}"
            try:
                await self._users.create_user(
                    user_id,
                    password_hash,
                    admin=False,
                    created_ts=self._clock.now_ms(),
                    is_guest=is_guest,
                    displayname=localpart,
                )
            except UserExistsError:
                continue
            return user_id

    # ---- shared-secret registration (Synapse's /_synapse/admin/v1/register) --------------

    def new_nonce(self) -> str:
        self._require_shared_secret()
        now = self._clock.now_ms()
        self._nonces = {n: ts for n, ts in self._nonces.items() if now - ts < NONCE_LIFETIME_MS}
        nonce = secrets.token_hex(32)
        self._nonces[nonce] = now
        return nonce

    def _require_shared_secret(self) -> str:
        if self._shared_secret is None:
            raise MatrixError(400, "M_UNKNOWN", "Shared secret registration is not enabled")
        return self._shared_secret

    def check_shared_secret_mac(
        self,
        *,
        nonce: str,
        username: str,
        password: str,
        admin: bool,
        user_type: str | None,
        mac: str,
    ) -> None:
        """Consume the nonce and check the MAC; 400 for a bad nonce, 403 for a bad MAC.

        The MAC is HMAC-SHA1 keyed with the shared secret over nonce, username, password,
        "admin"/"notadmin" and the user type if any, NUL-separated, in hex.
        """
        secret = self._require_shared_secret()
        issued = self._nonces.pop(nonce, None)
        if issued is None or self._clock.now_ms() - issued >= NONCE_LIFETIME_MS:
            raise MatrixError(400, "M_UNKNOWN", "Unrecognised nonce")
        parts = [nonce, username, password, "admin" if admin else "notadmin"]
        if user_type is not None:
            parts.append(user_type)
        expected = hmac.new(
            secret.encode("utf-8"), "\x00".join(parts).encode("utf-8"), hashlib.sha1
        ).hexdigest()
        if not hmac.compare_digest(expected, mac.lower()):
            raise MatrixError(403, "M_FORBIDDEN", "HMAC incorrect")

    async def register_with_shared_secret(
        self,
        *,
        username: str,
        password: str,
        admin: bool,
        user_type: str | None,
        displayname: str | None,
    ) -> str:
        check_new_password(password)
        try:
            user_id = local_user_id(username, self._server_name)
        except InvalidUsernameError as e:
            raise _username_error(e) from e
        password_hash = await asyncio.to_thread(hash_password, password, self._rounds)
        try:
            await self._users.create_user(
                user_id,
                password_hash,
                admin=admin,
                created_ts=self._clock.now_ms(),
                user_type=user_type,
                # Synapse: the given displayname, else the localpart.
                displayname=displayname or localpart_of(user_id),
            )
        except UserExistsError as e:
            raise MatrixError(400, "M_USER_IN_USE", "User ID already taken") from e
        return user_id
