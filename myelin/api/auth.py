"""Request authentication (spec: Client-Server API, "Using access tokens"; Server-Server API,
"Request Authentication"; Application Service API, "Authorization").

Every endpoint declares an ``AuthKind``; ``Authenticator.authenticate`` is the one place that
enforces it. Credentials are extracted here; checking them is delegated to verifiers given to
the constructor. Without a verifier for a kind, every request of that kind is refused: there are
no access tokens, federation keys or application services to check against yet.
"""

import enum
import re
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from myelin.api.account_restrictions import SuspensionPolicy, check_locked
from myelin.services.errors import MatrixError


class AuthKind(enum.Enum):
    """How an endpoint authenticates its caller."""

    NONE = "none"
    ACCESS_TOKEN = "access_token"
    X_MATRIX = "x_matrix"
    APPSERVICE_TOKEN = "appservice_token"


@dataclass(frozen=True)
class Requester:
    """Who made a request: a user (``user_id``), a server (``server_name``) or an appservice."""

    kind: AuthKind
    user_id: str | None = None
    device_id: str | None = None
    server_name: str | None = None
    appservice_id: str | None = None
    # Account locking and suspension (checked by the Authenticator, see account_restrictions).
    locked: bool = False
    suspended: bool = False
    # False for an application service acting as its sender, or as a namespace user when its
    # registration says rate_limited: false (Application Service API, "Registration").
    ratelimited: bool = True


@dataclass(frozen=True)
class XMatrixCredentials:
    """The parameters of an ``Authorization: X-Matrix ...`` header."""

    origin: str
    destination: str | None
    key: str
    sig: str


class AccessTokenVerifier(Protocol):
    async def verify_access_token(self, token: str) -> Requester | None: ...


class AppserviceTokenVerifier(Protocol):
    async def verify_appservice_token(
        self, token: str, kind: AuthKind, user_id: str | None, device_id: str | None
    ) -> Requester | None:
        """The requester of an ``as_token`` (None when ``token`` is not one); ``user_id`` and
        ``device_id`` are the identity assertion query parameters."""
        ...


class XMatrixVerifier(Protocol):
    async def verify_x_matrix(
        self, credentials: XMatrixCredentials, method: str, uri: str, body: bytes
    ) -> Requester | None: ...


def access_token_of(request: web.BaseRequest) -> str | None:
    """The token from ``Authorization: Bearer`` or the deprecated ``access_token`` parameter.

    Raise ``M_MISSING_TOKEN`` when both are given and differ (the spec allows rejecting a
    request that uses both).
    """
    header = request.headers.get("Authorization")
    from_header = None
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            from_header = value.strip()
    from_query = request.query.get("access_token")
    if from_header is not None and from_query is not None and from_header != from_query:
        raise MatrixError(401, "M_MISSING_TOKEN", "Access token given twice, differently")
    return from_header if from_header is not None else from_query


# A header parameter: name=value or name="quoted value" (quoted-pair escapes allowed).
_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')


def parse_x_matrix(header: str) -> XMatrixCredentials:
    """Parse ``X-Matrix origin=...,destination=...,key="ed25519:...",sig="..."``.

    Raise ``M_UNAUTHORIZED`` when the header is not of that scheme or misses a parameter.
    """
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "x-matrix":
        raise MatrixError(401, "M_UNAUTHORIZED", "Expected an X-Matrix Authorization header")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM_RE.match(rest, position)
        if match is None or match.end() == position:
            raise MatrixError(401, "M_UNAUTHORIZED", "Malformed X-Matrix Authorization header")
        value = match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[match.group(1).lower()] = value
        position = match.end()
    missing = [name for name in ("origin", "key", "sig") if not params.get(name)]
    if missing:
        raise MatrixError(401, "M_UNAUTHORIZED", f"X-Matrix header lacks {', '.join(missing)}")
    return XMatrixCredentials(
        params["origin"], params.get("destination"), params["key"], params["sig"]
    )


class Authenticator:
    """Enforces each endpoint's ``AuthKind``."""

    def __init__(
        self,
        *,
        access_tokens: AccessTokenVerifier | None = None,
        x_matrix: XMatrixVerifier | None = None,
        appservice_tokens: AppserviceTokenVerifier | None = None,
        suspension: SuspensionPolicy | None = None,
    ) -> None:
        self._access_tokens = access_tokens
        self._suspension = suspension
        self._x_matrix = x_matrix
        self._appservice_tokens = appservice_tokens

    async def authenticate(self, request: web.Request, kind: AuthKind) -> Requester | None:
        """The requester, ``None`` for unauthenticated endpoints; raise ``MatrixError`` (401)."""
        if kind is AuthKind.NONE:
            return None
        if kind is AuthKind.X_MATRIX:
            header = request.headers.get("Authorization")
            if header is None:
                raise MatrixError(401, "M_UNAUTHORIZED", "Missing X-Matrix Authorization header")
            credentials = parse_x_matrix(header)
            body = await request.read()
            requester = None
            if self._x_matrix is not None:
                requester = await self._x_matrix.verify_x_matrix(
                    credentials, request.method, str(request.rel_url), body
                )
            if requester is None:
                raise MatrixError(401, "M_UNAUTHORIZED", "Invalid X-Matrix signature")
            return requester
        token = access_token_of(request)
        if token is None:
            raise MatrixError(401, "M_MISSING_TOKEN", "Missing access token")
        requester = None
        if self._appservice_tokens is not None:
            # Application Service API, "Identity assertion": an as_token is accepted wherever
            # an access token is, acting as the user named by ``user_id`` (and ``device_id``).
            requester = await self._appservice_tokens.verify_appservice_token(
                token, kind, request.query.get("user_id"), request.query.get("device_id")
            )
        if requester is None and kind is AuthKind.ACCESS_TOKEN and self._access_tokens is not None:
            requester = await self._access_tokens.verify_access_token(token)
        if requester is None:
            raise MatrixError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token")
        if requester.locked:
            check_locked(request)
        if requester.suspended and self._suspension is not None and requester.user_id:
            await self._suspension.check(request, requester.user_id)
        return requester
