"""Query parameters shared by the room endpoints (spec: Client-Server API, "Getting events for
a room" and "Relationships": ``limit``, ``dir``, ``from``/``to`` and ``filter``).
"""

from typing import Any

import orjson
from aiohttp import web

from myelin.core.errors import ProtocolError
from myelin.core.filters import RoomEventFilter, parse_room_event_filter
from myelin.services.errors import MatrixError


def query_int(
    request: web.Request, name: str, default: int, *, minimum: int = 0, maximum: int = 1000
) -> int:
    """An integer parameter, clamped to ``maximum``; 400 ``M_INVALID_PARAM`` when invalid."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be an integer") from e
    if value < minimum:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be at least {minimum}")
    return min(value, maximum)


def query_dir(request: web.Request, *, default: str | None = None) -> bool:
    """``dir``: True for ``b`` (backwards), False for ``f``."""
    raw = request.query.get("dir", default)
    if raw is None:
        raise MatrixError(400, "M_MISSING_PARAM", "Missing parameter: dir")
    if raw not in ("b", "f"):
        raise MatrixError(400, "M_INVALID_PARAM", "dir must be b or f")
    return raw == "b"


def query_bool(request: web.Request, name: str) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise MatrixError(400, "M_INVALID_PARAM", f"{name} must be true or false")
    return raw == "true"


def query_filter(request: web.Request) -> RoomEventFilter:
    """The JSON ``RoomEventFilter`` of ``filter``."""
    raw = request.query.get("filter")
    if raw is None or raw == "":
        return RoomEventFilter()
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise MatrixError(400, "M_NOT_JSON", "filter is not JSON") from e
    try:
        return parse_room_event_filter(value)
    except ProtocolError as e:
        raise MatrixError(400, "M_BAD_JSON", f"invalid filter: {e}") from e
