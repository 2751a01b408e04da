"""Requests from the homeserver to application services (spec: Application Service API,
"Homeserver -> Application Service API": "Authorisation", "Pushing events", "Pinging",
"Querying" and "Third-party networks").

Every request carries ``Authorization: Bearer <hs_token>``. Path parameters are percent-encoded.
A failed request (connection error, timeout, non-2xx status) is reported to the caller; what to
do about it (retry later, answer "not found", 502 to a pinging client) is the caller's choice.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from myelin.config.appservices import AppserviceRegistration

logger = logging.getLogger("myelin.appservice")

APP_V1 = "/_matrix/app/v1"


@dataclass(frozen=True)
class AppserviceResponse:
    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


class AppserviceUnreachableError(Exception):
    """The application service could not be reached (``timed_out`` when it did not answer)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class AppserviceClient:
    """HTTP calls to application services, over one connection pool."""

    def __init__(self, *, timeout_s: float = 60.0, query_timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self.query_timeout_s = query_timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def request(
        self,
        registration: AppserviceRegistration,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        query: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> AppserviceResponse:
        """One request to the application service; raise ``AppserviceUnreachableError``."""
        if registration.url is None:
            raise AppserviceUnreachableError(f"application service {registration.id} has no url")
        headers = {"Authorization": f"Bearer {registration.hs_token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        timeout = aiohttp.ClientTimeout(
            total=timeout_s if timeout_s is not None else self.timeout_s
        )
        try:
            async with self._client().request(
                method,
                registration.url + path,
                data=body,
                params=dict(query) if query else None,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                return AppserviceResponse(response.status, await response.read())
        except TimeoutError as e:
            raise AppserviceUnreachableError("timed out", timed_out=True) from e
        except (aiohttp.ClientError, OSError, ValueError) as e:
            raise AppserviceUnreachableError(f"{type(e).__name__}: {e}") from e
        except asyncio.CancelledError:
            raise

    async def put_transaction(
        self, registration: AppserviceRegistration, txn_id: str, body: bytes
    ) -> bool:
        """``PUT /_matrix/app/v1/transactions/{txnId}``: whether the service acknowledged it."""
        try:
            response = await self.request(
                registration, "PUT", f"{APP_V1}/transactions/{quote(txn_id, safe='')}", body=body
            )
        except AppserviceUnreachableError as e:
            logger.warning("Transaction %s to %s failed: %s", txn_id, registration.id, e)
            return False
        if not response.ok:
            logger.warning(
                "Transaction %s to %s answered %d", txn_id, registration.id, response.status
            )
        return response.ok

    async def query_exists(
        self, registration: AppserviceRegistration, kind: str, value: str
    ) -> bool:
        """``GET /_matrix/app/v1/users/{userId}`` or ``/rooms/{roomAlias}`` (``kind``): whether
        the service answered 200 (it then has created the user or alias)."""
        try:
            response = await self.request(
                registration,
                "GET",
                f"{APP_V1}/{kind}/{quote(value, safe='')}",
                timeout_s=self.query_timeout_s,
            )
        except AppserviceUnreachableError as e:
            logger.warning("Query of %s %s at %s failed: %s", kind, value, registration.id, e)
            return False
        return response.status == 200

    async def get_json(
        self,
        registration: AppserviceRegistration,
        path: str,
        query: Mapping[str, str] | None = None,
    ) -> Any:
        """A GET answered with JSON, or None when it failed or answered otherwise."""
        try:
            response = await self.request(
                registration, "GET", path, query=query, timeout_s=self.query_timeout_s
            )
        except AppserviceUnreachableError as e:
            logger.warning("GET %s at %s failed: %s", path, registration.id, e)
            return None
        return response.json() if response.status == 200 else None
