"""Filters (spec: Client-Server API, "Filtering": ``POST /user/{userId}/filter``,
``GET /user/{userId}/filter/{filterId}`` and the ``filter`` parameter of ``/sync``).

Filters are validated with ``myelin.core.filters.parse_filter`` before they are stored; what is
stored and served back is the filter as uploaded. A ``/sync`` filter parameter starting with
``{`` is inline JSON, anything else a filter ID of the syncing user.
"""

from typing import Any, Protocol

import orjson

from myelin.core.filters import Filter, FilterError, parse_filter
from myelin.services.errors import MatrixError


class FilterStorage(Protocol):
    async def add_filter(self, user_id: str, filter_json: str) -> int: ...

    async def get_filter(self, user_id: str, filter_id: int) -> str | None: ...


def _parse(value: Any) -> Filter:
    try:
        return parse_filter(value)
    except FilterError as e:
        raise MatrixError(400, "M_BAD_JSON", f"Invalid filter: {e}") from e


def _filter_id(text: str) -> int | None:
    """The integer a filter ID names; None for anything this server never hands out."""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    if len(text) > 1 and text.startswith("0"):
        return None
    return int(text)


class FilterService:
    def __init__(self, store: FilterStorage) -> None:
        self._store = store

    async def create_filter(self, requester: str, user_id: str, body: dict[str, Any]) -> str:
        """Validate and store ``body`` as ``user_id``'s filter; return its ID."""
        if requester != user_id:
            raise MatrixError(403, "M_FORBIDDEN", "Cannot create filters for other users")
        _parse(body)
        return str(await self._store.add_filter(user_id, orjson.dumps(body).decode()))

    async def get_filter(self, requester: str, user_id: str, filter_id: str) -> dict[str, Any]:
        """The filter as uploaded; 404 ``M_NOT_FOUND`` if there is none."""
        if requester != user_id:
            raise MatrixError(403, "M_FORBIDDEN", "Cannot get filters of other users")
        number = _filter_id(filter_id)
        text = None if number is None else await self._store.get_filter(user_id, number)
        if text is None:
            raise MatrixError(404, "M_NOT_FOUND", "No such filter")
        value = orjson.loads(text)
        return value if isinstance(value, dict) else {}

    async def sync_filter(self, user_id: str, param: str | None) -> Filter:
        """The filter of a ``/sync`` request: inline JSON, a filter ID, or the default."""
        if param is None or param == "":
            return Filter()
        if param.startswith("{"):
            try:
                value = orjson.loads(param)
            except orjson.JSONDecodeError as e:
                raise MatrixError(400, "M_NOT_JSON", "The inline filter is not JSON") from e
            return _parse(value)
        number = _filter_id(param)
        text = None if number is None else await self._store.get_filter(user_id, number)
        if text is None:
            # Synapse answers an unknown filter ID with 404 M_NOT_FOUND; clients then re-upload.
            raise MatrixError(404, "M_NOT_FOUND", "No such filter")
        return _parse(orjson.loads(text))
