"""User-interactive authentication (spec: Client-Server API, "User-Interactive Authentication
API", with the auth types "Password-based", "Dummy Auth" and "Token-authenticated registration").

An endpoint protected by UIA offers ``flows`` (lists of stages).
``UserInteractiveAuth.authenticate`` checks the ``auth`` dict of one request against them: it
either returns once a flow is complete, or raises ``UIARequiredError`` (HTTP 401 with
``flows``, ``params``, ``session``, ``completed`` and, after a failed attempt,
``errcode``/``error``). Sessions live in the database, are tied to the operation (method and
path) and user they were started for, and expire when unused.
"""

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from myelin.clock import Clock
from myelin.services.errors import MatrixError
from myelin.storage import RegistrationTokenRecord, UIASessionRecord

DUMMY = "m.login.dummy"
PASSWORD = "m.login.password"
REGISTRATION_TOKEN = "m.login.registration_token"

# How long an unused session is kept (Synapse keeps UIA sessions for 48 hours).
SESSION_LIFETIME_MS = 48 * 3_600_000
# Expired sessions are swept at most this often.
_SWEEP_INTERVAL_MS = 60_000


class UIARequiredError(MatrixError):
    """HTTP 401 with the UIA body; ``errcode``/``error`` only after a failed stage."""

    def __init__(self, body: dict[str, Any], errcode: str | None = None, message: str = "") -> None:
        super().__init__(401, errcode or "M_UNAUTHORIZED", message or "Authentication required")
        self.body = body
        self.failed = errcode is not None

    def to_json(self) -> dict[str, Any]:
        if self.failed:
            return {**self.body, "errcode": self.errcode, "error": self.message}
        return dict(self.body)


class SessionStore(Protocol):
    async def create_session(
        self, session_id: str, *, method: str, uri: str, user_id: str | None, now_ts: int
    ) -> None: ...

    async def get_session(self, session_id: str) -> UIASessionRecord | None: ...

    async def mark_completed(
        self, session_id: str, stage: str, *, now_ts: int, registration_token: str | None = None
    ) -> tuple[str, ...] | None: ...

    async def touch(self, session_id: str, now_ts: int) -> None: ...

    async def delete_session(self, session_id: str, *, token_used: bool = False) -> None: ...

    async def delete_expired(self, before_ts: int) -> int: ...


class RegistrationTokenReader(Protocol):
    async def get_token(self, token: str) -> RegistrationTokenRecord | None: ...


# Checks an m.login.password auth dict: the user it authenticates, or None for a wrong password.
# Raises MatrixError for requests that cannot be retried (bad identifier, unknown 3PID).
PasswordCheck = Callable[[dict[str, Any]], Awaitable[str | None]]


@dataclass(frozen=True)
class UIAResult:
    """A completed flow: the session, the user (the requester the session is bound to, else the
    user a password stage authenticated in this very request), the registration token used."""

    session_id: str
    user_id: str | None
    registration_token: str | None


class StageFailedError(MatrixError):
    """A stage completed through a fallback page failed its check (wrong password, invalid
    registration token): the user may try again."""

    def __init__(self, errcode: str, message: str) -> None:
        super().__init__(401, errcode, message)


class _StageFailedError(Exception):
    def __init__(self, errcode: str, message: str) -> None:
        super().__init__(message)
        self.errcode = errcode
        self.message = message


class UserInteractiveAuth:
    """Runs UIA for any endpoint; each call names the flows it offers."""

    def __init__(
        self,
        sessions: SessionStore,
        registration_tokens: RegistrationTokenReader,
        clock: Clock,
        password_check: PasswordCheck,
        *,
        session_lifetime_ms: int = SESSION_LIFETIME_MS,
    ) -> None:
        self._sessions = sessions
        self._tokens = registration_tokens
        self._clock = clock
        self._password_check = password_check
        self._lifetime = session_lifetime_ms
        self._last_sweep = 0

    async def authenticate(
        self,
        auth: Any,
        flows: Sequence[Sequence[str]],
        *,
        method: str,
        uri: str,
        user_id: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> UIAResult:
        """Check one request's ``auth`` dict; return when a flow is complete, else raise.

        ``user_id`` is the authenticated requester (a password stage must prove it is them);
        ``method``/``uri`` identify the operation the session is for.
        """
        now = self._clock.now_ms()
        await self._sweep(now)
        params = params or {}
        if auth is not None and not isinstance(auth, dict):
            raise MatrixError(400, "M_BAD_JSON", "auth must be an object")
        session = await self._session_for(auth, method=method, uri=uri, user_id=user_id, now=now)
        body = {
            "flows": [{"stages": list(flow)} for flow in flows],
            "params": params,
            "session": session.session_id,
        }
        completed = session.completed
        # A request without auth never succeeds: it starts (or re-announces) the session.
        if auth is None:
            raise UIARequiredError({**body, "completed": list(completed)} if completed else body)
        stage = auth.get("type")
        if stage is not None:
            if not isinstance(stage, str):
                raise MatrixError(400, "M_BAD_JSON", "auth.type must be a string")
            offered = {s for flow in flows for s in flow}
            if stage not in offered:
                raise MatrixError(400, "M_UNRECOGNIZED", f"Unrecognised auth type {stage}")
            # Completed stages are not retried: answer as if they were just completed.
            if stage not in completed:
                try:
                    authed_user, token = await self._check_stage(stage, auth, user_id, now)
                except _StageFailedError as e:
                    await self._sessions.touch(session.session_id, now)
                    raise UIARequiredError(
                        {**body, "completed": list(completed)}, e.errcode, e.message
                    ) from e
                marked = await self._sessions.mark_completed(
                    session.session_id, stage, now_ts=now, registration_token=token
                )
                if marked is None:
                    # The token was used up (or expired) since it was checked.
                    raise UIARequiredError(
                        {**body, "completed": list(completed)},
                        "M_UNAUTHORIZED",
                        "Invalid registration token",
                    )
                completed = marked
                if authed_user is not None and user_id is None:
                    user_id = authed_user
        else:
            await self._sessions.touch(session.session_id, now)
        done = set(completed)
        if not any(set(flow) <= done for flow in flows):
            raise UIARequiredError({**body, "completed": list(completed)})
        final = await self._sessions.get_session(session.session_id)
        token = final.registration_token if final is not None else None
        return UIAResult(session.session_id, user_id or session.user_id, token)

    async def finish(self, result: UIAResult, *, token_used: bool = False) -> None:
        """Forget the session once its operation has succeeded (completed stages die with it).

        ``token_used``: the operation was a registration that consumed the session's token.
        """
        await self._sessions.delete_session(result.session_id, token_used=token_used)

    async def fallback_session(self, session_id: str) -> UIASessionRecord:
        """The live session a fallback page is for (spec: "Fallback"); 400 ``M_UNKNOWN``
        when it is unknown or expired."""
        now = self._clock.now_ms()
        session = await self._sessions.get_session(session_id)
        if session is None or session.last_used_ts < now - self._lifetime:
            raise MatrixError(400, "M_UNKNOWN", "Unknown or expired session ID")
        return session

    async def complete_out_of_band(self, session_id: str, stage: str, auth: dict[str, Any]) -> None:
        """Complete ``stage`` of a session through its fallback page (spec: "Fallback"): the
        client then resubmits its request with only the session ID, and ``authenticate``
        finds the stage completed. A password stage proves the session's own user, so it
        needs a session started by a logged-in user.

        Raise ``StageFailedError`` when the stage's check fails (the page says why and lets
        the user retry), ``MatrixError`` for a request that cannot succeed."""
        session = await self.fallback_session(session_id)
        now = self._clock.now_ms()
        if stage == PASSWORD:
            if session.user_id is None:
                raise MatrixError(
                    400, "M_UNKNOWN", "This session has no user whose password could be checked"
                )
            auth = {"identifier": {"type": "m.id.user", "user": session.user_id}, **auth}
        if stage in session.completed:
            return
        try:
            _, token = await self._check_stage(stage, auth, session.user_id, now)
        except _StageFailedError as e:
            await self._sessions.touch(session_id, now)
            raise StageFailedError(e.errcode, e.message) from e
        marked = await self._sessions.mark_completed(
            session_id, stage, now_ts=now, registration_token=token
        )
        if marked is None:
            raise StageFailedError("M_UNAUTHORIZED", "Invalid registration token")

    async def _sweep(self, now: int) -> None:
        if now - self._last_sweep >= _SWEEP_INTERVAL_MS:
            self._last_sweep = now
            await self._sessions.delete_expired(now - self._lifetime)

    async def _session_for(
        self, auth: dict[str, Any] | None, *, method: str, uri: str, user_id: str | None, now: int
    ) -> UIASessionRecord:
        session_id = None if auth is None else auth.get("session")
        if session_id is None:
            session_id = secrets.token_urlsafe(24)
            await self._sessions.create_session(
                session_id, method=method, uri=uri, user_id=user_id, now_ts=now
            )
            created = await self._sessions.get_session(session_id)
            assert created is not None
            return created
        if not isinstance(session_id, str):
            raise MatrixError(400, "M_BAD_JSON", "auth.session must be a string")
        session = await self._sessions.get_session(session_id)
        if session is None or session.last_used_ts < now - self._lifetime:
            raise MatrixError(400, "M_UNKNOWN", "Unknown or expired session ID")
        # A session authorises the operation it was started for, for the user who started it.
        if session.method != method or session.uri != uri:
            raise MatrixError(
                403, "M_FORBIDDEN", "The requested operation changed during the UIA session"
            )
        if session.user_id != user_id:
            raise MatrixError(403, "M_FORBIDDEN", "This UIA session belongs to another user")
        return session

    async def _check_stage(
        self, stage: str, auth: dict[str, Any], user_id: str | None, now: int
    ) -> tuple[str | None, str | None]:
        """Run one stage: (user it authenticated, registration token used); may fail."""
        if stage == DUMMY:
            return None, None
        if stage == PASSWORD:
            authed = await self._password_check(auth)
            if authed is None:
                raise _StageFailedError("M_FORBIDDEN", "Invalid username or password")
            if user_id is not None and authed != user_id:
                raise _StageFailedError("M_FORBIDDEN", "The password is not that of the requester")
            return authed, None
        if stage == REGISTRATION_TOKEN:
            token = auth.get("token")
            if token is None:
                raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: token")
            if not isinstance(token, str):
                raise MatrixError(400, "M_INVALID_PARAM", "token must be a string")
            record = await self._tokens.get_token(token)
            if record is None or not record.valid(now):
                raise _StageFailedError("M_UNAUTHORIZED", "Invalid registration token")
            return None, token
        raise MatrixError(400, "M_UNRECOGNIZED", f"Unrecognised auth type {stage}")
