"""Pushers (spec: Client-Server API, "Push Notifications", "Pushers").

``POST /pushers/set`` creates, updates (``kind`` a string) or deletes (``kind`` null) the
pusher with an ``app_id`` and ``pushkey``; ``GET /pushers`` lists them. The http pushers'
notifications are delivered to their push gateways by ``myelin.services.push_gateway``
(told of every change through ``on_change``); email pushers are refused (no email bound).
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from myelin.clock import Clock
from myelin.services.errors import MatrixError
from myelin.storage.push_rules import PusherRecord

JsonDict = dict[str, Any]

# "Max length, 512 bytes" (pushkey) and "Max length, 64 chars" (app_id).
MAX_PUSHKEY_BYTES = 512
MAX_APP_ID_CHARS = 64
PUSH_GATEWAY_PATH = "/_matrix/push/v1/notify"
KINDS = frozenset({"http", "email"})
_REQUIRED_TO_SET = ("app_display_name", "device_display_name", "lang", "data")


class PusherStorage(Protocol):
    async def get_pushers(self, user_id: str) -> list[PusherRecord]: ...

    async def set_pusher(self, pusher: PusherRecord, *, append: bool) -> None: ...

    async def delete_pusher(self, user_id: str, app_id: str, pushkey: str) -> bool: ...


def pusher_json(pusher: PusherRecord) -> JsonDict:
    """A pusher as ``GET /pushers`` lists it."""
    body: JsonDict = {
        "pushkey": pusher.pushkey,
        "kind": pusher.kind,
        "app_id": pusher.app_id,
        "app_display_name": pusher.app_display_name,
        "device_display_name": pusher.device_display_name,
        "lang": pusher.lang,
        "data": dict(pusher.data),
    }
    if pusher.profile_tag is not None:
        body["profile_tag"] = pusher.profile_tag
    return body


def _string(body: Mapping[str, Any], name: str) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise MatrixError(400, "M_BAD_JSON", f"{name} must be a string")
    return value


def _check_data(kind: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MatrixError(400, "M_BAD_JSON", "data must be an object")
    if "format" in data and data["format"] != "event_id_only":
        raise MatrixError(400, "M_INVALID_PARAM", "data.format must be event_id_only")
    if kind == "http":
        url = data.get("url")
        if url is None:
            raise MatrixError(400, "M_MISSING_PARAM", "'url' required in data for HTTP pusher")
        if not isinstance(url, str):
            raise MatrixError(400, "M_BAD_JSON", "data.url must be a string")
        parts = urlsplit(url)
        # The spec asks for HTTPS; plain HTTP is accepted as in Synapse (local gateways).
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise MatrixError(400, "M_INVALID_PARAM", "data.url must be an HTTPS URL")
        if parts.path != PUSH_GATEWAY_PATH:
            raise MatrixError(
                400, "M_INVALID_PARAM", f"data.url must have a path of {PUSH_GATEWAY_PATH}"
            )
    return data


class PusherService:
    def __init__(self, store: PusherStorage, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        # Set by the composition root: called with (user_id, app_id, pushkey) after a pusher
        # was created, changed or deleted (the push gateway delivery follows it).
        self.on_change: Callable[[str, str, str], Awaitable[None]] | None = None

    async def list_pushers(self, user_id: str) -> list[JsonDict]:
        return [pusher_json(p) for p in await self._store.get_pushers(user_id)]

    async def set_pusher(
        self, user_id: str, device_id: str | None, body: Mapping[str, Any]
    ) -> None:
        """``POST /pushers/set``."""
        missing = [name for name in ("kind", "app_id", "pushkey") if name not in body]
        if missing:
            raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameters: {', '.join(missing)}")
        app_id, pushkey = _string(body, "app_id"), _string(body, "pushkey")
        if not app_id or len(app_id) > MAX_APP_ID_CHARS:
            raise MatrixError(400, "M_INVALID_PARAM", "app_id must be 1 to 64 characters")
        if not pushkey or len(pushkey.encode()) > MAX_PUSHKEY_BYTES:
            raise MatrixError(400, "M_INVALID_PARAM", "pushkey must be 1 to 512 bytes")
        kind = body["kind"]
        if kind is None:
            if await self._store.delete_pusher(user_id, app_id, pushkey):
                await self._changed(user_id, app_id, pushkey)
            return
        if not isinstance(kind, str):
            raise MatrixError(400, "M_BAD_JSON", "kind must be a string or null")
        missing = [name for name in _REQUIRED_TO_SET if name not in body]
        if missing:
            raise MatrixError(400, "M_MISSING_PARAM", f"Missing parameters: {', '.join(missing)}")
        if kind not in KINDS:
            raise MatrixError(400, "M_INVALID_PARAM", "kind must be http, email or null")
        if kind == "email":
            # Email pushers need an email address bound to the account; this server manages
            # no third-party identifiers.
            raise MatrixError(
                400, "M_THREEPID_NOT_FOUND", "Email pushers need an email bound to the account"
            )
        append = body.get("append", False)
        if not isinstance(append, bool):
            raise MatrixError(400, "M_BAD_JSON", "append must be a boolean")
        profile_tag = body.get("profile_tag")
        if profile_tag is not None and not isinstance(profile_tag, str):
            raise MatrixError(400, "M_BAD_JSON", "profile_tag must be a string")
        pusher = PusherRecord(
            user_id=user_id,
            app_id=app_id,
            pushkey=pushkey,
            kind=kind,
            app_display_name=_string(body, "app_display_name"),
            device_display_name=_string(body, "device_display_name"),
            profile_tag=profile_tag,
            lang=_string(body, "lang"),
            data=_check_data(kind, body["data"]),
            device_id=device_id,
            created_ts=self._clock.now_ms(),
        )
        await self._store.set_pusher(pusher, append=append)
        await self._changed(user_id, app_id, pushkey)

    async def _changed(self, user_id: str, app_id: str, pushkey: str) -> None:
        if self.on_change is not None:
            await self.on_change(user_id, app_id, pushkey)
