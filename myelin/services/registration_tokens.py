"""Registration tokens (spec: Client-Server API, "Token-authenticated registration"; managed
through Synapse's admin API ``/_synapse/admin/v1/registration_tokens``).

A token is an opaque string of at most 64 characters from ``[A-Za-z0-9._~-]``. It is valid
while it has not expired and ``pending + completed < uses_allowed`` (when limited).
"""

import re
import secrets
import string
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.services.errors import MatrixError
from myelin.storage import RegistrationTokenRecord

MAX_TOKEN_LENGTH = 64
DEFAULT_GENERATED_LENGTH = 16
_TOKEN = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
_ALPHABET = string.ascii_letters + string.digits + "._~-"


class RegistrationTokenStore(Protocol):
    async def create_token(
        self, token: str, *, uses_allowed: int | None, expiry_time: int | None
    ) -> bool: ...

    async def get_token(self, token: str) -> RegistrationTokenRecord | None: ...

    async def list_tokens(self) -> list[RegistrationTokenRecord]: ...

    async def update_token(
        self,
        token: str,
        *,
        uses_allowed: int | None,
        set_uses_allowed: bool,
        expiry_time: int | None,
        set_expiry_time: bool,
    ) -> RegistrationTokenRecord | None: ...

    async def delete_token(self, token: str) -> bool: ...


def token_json(record: RegistrationTokenRecord) -> dict[str, Any]:
    return {
        "token": record.token,
        "uses_allowed": record.uses_allowed,
        "pending": record.pending,
        "completed": record.completed,
        "expiry_time": record.expiry_time,
    }


def _optional_non_negative_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be a non-negative integer or null")
    return value


class RegistrationTokenService:
    def __init__(self, tokens: RegistrationTokenStore, clock: Clock) -> None:
        self._tokens = tokens
        self._clock = clock

    async def is_valid(self, token: str) -> bool:
        record = await self._tokens.get_token(token)
        return record is not None and record.valid(self._clock.now_ms())

    async def list_tokens(self, valid: bool | None) -> list[RegistrationTokenRecord]:
        now = self._clock.now_ms()
        records = await self._tokens.list_tokens()
        if valid is None:
            return records
        return [r for r in records if r.valid(now) == valid]

    async def get(self, token: str) -> RegistrationTokenRecord:
        record = await self._tokens.get_token(token)
        if record is None:
            raise MatrixError(404, "M_NOT_FOUND", "No such registration token")
        return record

    def _expiry(self, body: dict[str, Any]) -> int | None:
        expiry = _optional_non_negative_int(body, "expiry_time")
        if expiry is not None and expiry < self._clock.now_ms():
            raise MatrixError(400, "M_INVALID_PARAM", "expiry_time must not be in the past")
        return expiry

    async def create(self, body: dict[str, Any]) -> RegistrationTokenRecord:
        """``POST .../registration_tokens/new``: a given ``token`` or a generated one."""
        uses_allowed = _optional_non_negative_int(body, "uses_allowed")
        expiry = self._expiry(body)
        token = body.get("token")
        if token is not None:
            if not isinstance(token, str) or not _TOKEN.match(token):
                raise MatrixError(
                    400,
                    "M_INVALID_PARAM",
                    "token must be 1 to 64 characters from A-Z a-z 0-9 . _ ~ -",
                )
            if not await self._tokens.create_token(
                token, uses_allowed=uses_allowed, expiry_time=expiry
            ):
                raise MatrixError(400, "M_INVALID_PARAM", f"Token already exists: {token}")
            return await self.get(token)
        length = body.get("length", DEFAULT_GENERATED_LENGTH)
        if (
            not isinstance(length, int)
            or isinstance(length, bool)
            or not 0 < length <= MAX_TOKEN_LENGTH
        ):
            raise MatrixError(400, "M_INVALID_PARAM", "length must be an integer from 1 to 64")
        while True:
            token = "".join(secrets.choice(_ALPHABET) for _ in range(length))
            if await self._tokens.create_token(
                token, uses_allowed=uses_allowed, expiry_time=expiry
            ):
                return await self.get(token)

    async def update(self, token: str, body: dict[str, Any]) -> RegistrationTokenRecord:
        record = await self._tokens.update_token(
            token,
            uses_allowed=_optional_non_negative_int(body, "uses_allowed"),
            set_uses_allowed="uses_allowed" in body,
            expiry_time=self._expiry(body),
            set_expiry_time="expiry_time" in body,
        )
        if record is None:
            raise MatrixError(404, "M_NOT_FOUND", "No such registration token")
        return record

    async def delete(self, token: str) -> None:
        if not await self._tokens.delete_token(token):
            raise MatrixError(404, "M_NOT_FOUND", "No such registration token")
