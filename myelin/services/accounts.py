"""Local user accounts (spec: Client-Server API, "User identifiers" and "Password-based" login).

Creating a user checks the localpart against the current user ID grammar (Appendices, "User
Identifiers") and stores a bcrypt hash of the password, in Synapse's format so that hashes move
between the two servers.
"""

import asyncio
from typing import Protocol

from myelin.clock import Clock
from myelin.core.errors import InvalidIdentifierError
from myelin.core.identifiers import UserID, is_valid_user_localpart
from myelin.storage import UserExistsError

# bcrypt reads at most 72 bytes of a password. bcrypt 5 refuses longer input where older
# versions (and so the hashes Synapse made) silently used the first 72 bytes: do the same.
_BCRYPT_MAX_BYTES = 72


class UserStore(Protocol):
    """The part of the user store that accounts need."""

    async def create_user(
        self,
        user_id: str,
        password_hash: str | None,
        *,
        admin: bool,
        created_ts: int,
        displayname: str | None = None,
    ) -> None: ...

    async def get_user(self, user_id: str) -> object | None: ...


class InvalidUsernameError(ValueError):
    """The requested user ID or localpart is not allowed for a new local user."""


class UserInUseError(ValueError):
    """A user with this ID already exists."""


def _password_bytes(password: str) -> bytes:
    return password.encode("utf-8")[:_BCRYPT_MAX_BYTES]


def hash_password(password: str, rounds: int) -> str:
    """A bcrypt hash (``$2b$...``) of ``password`` with cost ``rounds``."""
    import bcrypt  # loaded with the first password, not at start

    return bcrypt.hashpw(_password_bytes(password), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches a bcrypt ``password_hash``."""
    import bcrypt

    try:
        return bcrypt.checkpw(_password_bytes(password), password_hash.encode("ascii"))
    except ValueError:
        return False


def local_user_id(user: str, server_name: str) -> str:
    """The full user ID for a localpart or a full ID of this server.

    Raise ``InvalidUsernameError`` unless the result follows the current grammar (lowercase
    ``a-z 0-9 . _ = - / +``, at most 255 bytes) and belongs to ``server_name``.
    """
    text = user if user.startswith("@") else f"@{user}:{server_name}"
    try:
        parsed = UserID.parse(text, strict=True)
    except InvalidIdentifierError as e:
        localpart = user.removeprefix("@").split(":", 1)[0]
        if not is_valid_user_localpart(localpart):
            raise InvalidUsernameError(
                f"invalid user name {localpart!r}: only lowercase letters, digits and"
                " ._=-/+ are allowed"
            ) from e
        raise InvalidUsernameError(f"invalid user ID {text!r}: {e}") from e
    if str(parsed.server_name) != server_name:
        raise InvalidUsernameError(f"{text} does not belong to this server ({server_name})")
    return str(parsed)


def localpart_of(user_id: str) -> str:
    """The localpart of a user ID (the default display name of a new user)."""
    return user_id.removeprefix("@").split(":", 1)[0]


class AccountService:
    """Creates and looks up local users."""

    def __init__(self, server_name: str, users: UserStore, clock: Clock, bcrypt_rounds: int):
        self._server_name = server_name
        self._users = users
        self._clock = clock
        self._rounds = bcrypt_rounds

    async def register_user(
        self, user: str, password: str | None, *, admin: bool, displayname: str | None = None
    ) -> str:
        """Create a local user with a bcrypt-hashed password; return the user ID.

        The profile's display name is ``displayname``, by default the localpart (as Synapse
        does for every registration, so that profiles and member events have one).
        Raise ``InvalidUsernameError`` or ``UserInUseError``.
        """
        user_id = local_user_id(user, self._server_name)
        if not displayname:
            displayname = localpart_of(user_id)
        if await self._users.get_user(user_id) is not None:
            raise UserInUseError(f"{user_id} already exists")
        password_hash = None
        if password is not None:
            # Hashing takes a deliberate ~0.25 s at 12 rounds: keep it off the event loop.
            password_hash = await asyncio.to_thread(hash_password, password, self._rounds)
        try:
            await self._users.create_user(
                user_id,
                password_hash,
                admin=admin,
                created_ts=self._clock.now_ms(),
                displayname=displayname,
            )
        except UserExistsError as e:
            raise UserInUseError(f"{user_id} already exists") from e
        return user_id

    async def user_exists(self, user: str) -> bool:
        return await self._users.get_user(local_user_id(user, self._server_name)) is not None
