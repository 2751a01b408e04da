"""The registered application services and their namespaces (spec: Application Service API,
"Registration", "Identity assertion" and "Server admin style permissions").

``AppserviceRegistry`` answers who owns a token, a user ID or an alias, and decides identity
assertion: an application service acts as its ``sender_localpart`` user, or with ``user_id`` as
any local user of its users namespaces (exclusive or not) that exists, optionally as one of that
user's devices with ``device_id``.
"""

import contextlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from myelin.clock import Clock
from myelin.config.appservices import AppserviceRegistration
from myelin.services.errors import MatrixError
from myelin.storage import DeviceRecord, UserExistsError, UserRecord


class UserLookup(Protocol):
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
    ) -> None: ...


class DeviceLookup(Protocol):
    async def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None: ...


@dataclass(frozen=True)
class Assertion:
    """Who an application service request acts as."""

    appservice: AppserviceRegistration
    user_id: str
    device_id: str | None
    # "rate_limited: Whether requests from masqueraded users are rate-limited. The sender is
    # excluded."
    ratelimited: bool


class AppserviceRegistry:
    def __init__(
        self,
        server_name: str,
        registrations: Sequence[AppserviceRegistration],
        *,
        users: UserLookup,
        devices: DeviceLookup,
        clock: Clock,
    ) -> None:
        self.server_name = server_name
        self.registrations = tuple(registrations)
        self._by_id = {r.id: r for r in self.registrations}
        self._users = users
        self._devices = devices
        self._clock = clock

    def __bool__(self) -> bool:
        return bool(self.registrations)

    def get(self, appservice_id: str) -> AppserviceRegistration | None:
        return self._by_id.get(appservice_id)

    def by_token(self, token: str) -> AppserviceRegistration | None:
        """The registration whose ``as_token`` is ``token`` (compared in constant time)."""
        found = None
        for registration in self.registrations:
            if hmac.compare_digest(registration.as_token.encode(), token.encode()):
                found = registration
        return found

    async def ensure_senders(self) -> None:
        """Create the ``sender_localpart`` user of every registration that lacks it."""
        for registration in self.registrations:
            user_id = registration.sender(self.server_name)
            if await self._users.get_user(user_id) is not None:
                continue
            with contextlib.suppress(UserExistsError):
                await self._users.create_user(
                    user_id,
                    None,
                    admin=False,
                    created_ts=self._clock.now_ms(),
                    appservice_id=registration.id,
                )

    # ---- namespaces ----------------------------------------------------------------------

    def interested_in_user(self, user_id: str) -> list[AppserviceRegistration]:
        return [r for r in self.registrations if r.is_interested_in_user(user_id, self.server_name)]

    def exclusive_user_owner(self, user_id: str) -> AppserviceRegistration | None:
        """The application service whose exclusive users namespace holds ``user_id``."""
        for registration in self.registrations:
            if registration.is_exclusive_user(user_id) or user_id == registration.sender(
                self.server_name
            ):
                return registration
        return None

    def exclusive_alias_owner(self, alias: str) -> AppserviceRegistration | None:
        for registration in self.registrations:
            if registration.is_exclusive_alias(alias):
                return registration
        return None

    def alias_namespace_owners(self, alias: str) -> list[AppserviceRegistration]:
        return [r for r in self.registrations if r.is_interested_in_alias(alias)]

    def user_namespace_owners(self, user_id: str) -> list[AppserviceRegistration]:
        """Application services whose users namespaces (not their sender) hold ``user_id``."""
        if not user_id.endswith(f":{self.server_name}"):
            return []
        return [r for r in self.registrations if any(n.matches(user_id) for n in r.users)]

    def check_user_creatable(self, user_id: str, appservice_id: str | None) -> None:
        """Spec "Server admin style permissions": an application service creates users only in
        its namespaces; others may not create users in an exclusive namespace (``M_EXCLUSIVE``).
        """
        if appservice_id is not None:
            registration = self._by_id.get(appservice_id)
            if registration is None or not registration.is_interested_in_user(
                user_id, self.server_name
            ):
                raise MatrixError(
                    400, "M_EXCLUSIVE", "This user ID is not in the application service's namespace"
                )
            return
        owner = self.exclusive_user_owner(user_id)
        if owner is not None:
            raise MatrixError(
                400, "M_EXCLUSIVE", "This user ID is reserved by an application service"
            )

    def may_manage_alias(self, user_id: str, alias: str) -> bool:
        """Whether ``user_id`` may create or delete ``alias``: an exclusive alias namespace is
        reserved to its application service (acting as its sender or one of its users)."""
        owner = self.exclusive_alias_owner(alias)
        return owner is None or owner.is_interested_in_user(user_id, self.server_name)

    # ---- identity assertion --------------------------------------------------------------

    async def assert_identity(
        self, registration: AppserviceRegistration, user_id: str | None, device_id: str | None
    ) -> Assertion:
        """Who a request with ``registration``'s token acts as (spec "Identity assertion").

        403 ``M_EXCLUSIVE`` for a user outside its namespaces, 403 ``M_FORBIDDEN`` for one that
        was never registered, 400 ``M_UNKNOWN_DEVICE`` for a device that is not the user's.
        """
        sender = registration.sender(self.server_name)
        target = sender if user_id is None else user_id
        if target != sender:
            if not registration.is_interested_in_user(target, self.server_name):
                raise MatrixError(
                    403,
                    "M_EXCLUSIVE",
                    f"Application service cannot masquerade as this user ({target})",
                )
            # Matching Synapse: a namespace user must have been registered first.
            if await self._users.get_user(target) is None:
                raise MatrixError(
                    403,
                    "M_FORBIDDEN",
                    f"Application service has not registered this user ({target})",
                )
        if device_id is not None and await self._devices.get_device(target, device_id) is None:
            raise MatrixError(400, "M_UNKNOWN_DEVICE", f"Unknown device {device_id} for {target}")
        return Assertion(
            registration,
            target,
            device_id,
            ratelimited=registration.rate_limited and target != sender,
        )
