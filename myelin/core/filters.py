"""Filters (spec: Client-Server API, "Filtering"; ``POST /user/{userId}/filter`` and the
``Filter``, ``EventFilter`` and ``RoomEventFilter`` definitions).

``parse_filter`` validates a client's filter JSON into frozen typed records with the spec's
defaults; a wrong type raises ``FilterError`` naming the key path (the API maps it to M_BAD_JSON).
Unknown keys are ignored, and a JSON ``null`` counts as an absent key. ``EventFilter.matches``
and ``RoomEventFilter.matches`` decide whether an event passes (``not_*`` lists take precedence
over the allow lists); applying ``limit`` is left to callers. ``Filter.project`` keeps only
``event_fields``; ``event_format`` is recorded for the caller, which serves either the client
format or the federation format.
"""

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from myelin.core.errors import ProtocolError
from myelin.core.push.property_paths import split_path

JsonDict = dict[str, Any]


class FilterError(ProtocolError):
    """A filter is not valid; ``path`` is the dot-separated key path of the bad value."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


class EventFormat(enum.StrEnum):
    """``client``: events as clients see them; ``federation``: the raw event as received."""

    CLIENT = "client"
    FEDERATION = "federation"


@lru_cache(maxsize=1024)
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def type_matches(pattern: str, event_type: str) -> bool:
    """Whether an event type matches a filter's type entry; ``*`` matches any sequence."""
    if "*" not in pattern:
        return pattern == event_type
    return _wildcard_regex(pattern).fullmatch(event_type) is not None


def _allowed(value: Any, allow: tuple[str, ...] | None, deny: tuple[str, ...], match: Any) -> bool:
    """The precedence of the filter lists: a ``not_*`` match excludes even if allowed."""
    if isinstance(value, str) and any(match(entry, value) for entry in deny):
        return False
    if allow is None:
        return True
    return isinstance(value, str) and any(match(entry, value) for entry in allow)


def _equal(entry: str, value: str) -> bool:
    return entry == value


@dataclass(frozen=True)
class EventFilter:
    """The spec's ``EventFilter`` (presence and global account data).

    ``None`` for ``senders``/``types`` means the list is absent: everything is included.
    """

    limit: int | None = None
    senders: tuple[str, ...] | None = None
    not_senders: tuple[str, ...] = ()
    types: tuple[str, ...] | None = None
    not_types: tuple[str, ...] = ()

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` passes the sender and type lists."""
        return _allowed(event.get("sender"), self.senders, self.not_senders, _equal) and _allowed(
            event.get("type"), self.types, self.not_types, type_matches
        )


@dataclass(frozen=True)
class RoomEventFilter(EventFilter):
    """The spec's ``RoomEventFilter`` (room state, timeline, ephemeral and account data)."""

    rooms: tuple[str, ...] | None = None
    not_rooms: tuple[str, ...] = ()
    # True: only events whose content has a ``url`` key; False: only those without; None: either.
    contains_url: bool | None = None
    lazy_load_members: bool = False
    include_redundant_members: bool = False
    unread_thread_notifications: bool = False

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` passes the sender, type and room lists and ``contains_url``."""
        if not super().matches(event):
            return False
        if not _allowed(event.get("room_id"), self.rooms, self.not_rooms, _equal):
            return False
        if self.contains_url is not None:
            content = event.get("content")
            has_url = isinstance(content, Mapping) and "url" in content
            return has_url == self.contains_url
        return True

    def matches_room(self, room_id: str) -> bool:
        """Whether this filter's ``rooms``/``not_rooms`` let the room ``room_id`` through."""
        return _allowed(room_id, self.rooms, self.not_rooms, _equal)


@dataclass(frozen=True)
class RoomFilter:
    """The spec's ``RoomFilter``: ``rooms``/``not_rooms`` apply before the per-section filters."""

    rooms: tuple[str, ...] | None = None
    not_rooms: tuple[str, ...] = ()
    ephemeral: RoomEventFilter = field(default_factory=RoomEventFilter)
    include_leave: bool = False
    state: RoomEventFilter = field(default_factory=RoomEventFilter)
    timeline: RoomEventFilter = field(default_factory=RoomEventFilter)
    account_data: RoomEventFilter = field(default_factory=RoomEventFilter)

    def matches_room(self, room_id: str) -> bool:
        """Whether the room ``room_id`` is included at all."""
        return _allowed(room_id, self.rooms, self.not_rooms, _equal)


@dataclass(frozen=True)
class Filter:
    """The spec's ``Filter`` (the body of ``POST /user/{userId}/filter``)."""

    event_fields: tuple[str, ...] | None = None
    event_format: EventFormat = EventFormat.CLIENT
    presence: EventFilter = field(default_factory=EventFilter)
    account_data: EventFilter = field(default_factory=EventFilter)
    room: RoomFilter = field(default_factory=RoomFilter)

    def project(self, event: Mapping[str, Any]) -> JsonDict:
        """``event`` reduced to ``event_fields`` (all of it when the list is absent)."""
        if self.event_fields is None:
            return dict(event)
        return project_fields(event, self.event_fields)


def project_fields(event: Mapping[str, Any], fields: Sequence[str]) -> JsonDict:
    """A new object holding only the properties at the dot-separated paths ``fields``.

    Each path keeps its nesting (``content.body`` gives ``{"content": {"body": ...}}``); a path
    that does not lead to a value is skipped. Values are not copied deeply.
    """
    result: JsonDict = {}
    for path in fields:
        names = split_path(path)
        source: Any = event
        for name in names:
            if not isinstance(source, Mapping) or name not in source:
                break
            source = source[name]
        else:
            target = result
            for name in names[:-1]:
                nested = target.get(name)
                if not isinstance(nested, dict):
                    nested = {}
                    target[name] = nested
                target = nested
            target[names[-1]] = source
    return result


# --- Parsing ------------------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise FilterError(path, "must be an object")
    return value


def _bool(data: Mapping[str, Any], key: str, path: str) -> bool | None:
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise FilterError(_join(path, key), "must be a boolean")
    return value


def _strings(
    data: Mapping[str, Any], key: str, path: str, prefix: str = ""
) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    where = _join(path, key)
    if not isinstance(value, list):
        raise FilterError(where, "must be an array of strings")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise FilterError(f"{where}[{index}]", "must be a string")
        if prefix and not item.startswith(prefix):
            raise FilterError(f"{where}[{index}]", f"must start with {prefix!r}")
    return tuple(value)


def _limit(data: Mapping[str, Any], path: str) -> int | None:
    value = data.get("limit")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise FilterError(_join(path, "limit"), "must be an integer")
    # "must be an integer greater than 0"
    if value < 1:
        raise FilterError(_join(path, "limit"), "must be greater than 0")
    return value


def parse_event_filter(value: Any, path: str = "") -> EventFilter:
    """An ``EventFilter`` from JSON (an absent filter is the default: everything)."""
    if value is None:
        return EventFilter()
    data = _object(value, path)
    return EventFilter(
        limit=_limit(data, path),
        senders=_strings(data, "senders", path, "@"),
        not_senders=_strings(data, "not_senders", path, "@") or (),
        types=_strings(data, "types", path),
        not_types=_strings(data, "not_types", path) or (),
    )


def parse_room_event_filter(value: Any, path: str = "") -> RoomEventFilter:
    """A ``RoomEventFilter`` from JSON."""
    if value is None:
        return RoomEventFilter()
    data = _object(value, path)
    base = parse_event_filter(data, path)
    return RoomEventFilter(
        limit=base.limit,
        senders=base.senders,
        not_senders=base.not_senders,
        types=base.types,
        not_types=base.not_types,
        rooms=_strings(data, "rooms", path, "!"),
        not_rooms=_strings(data, "not_rooms", path, "!") or (),
        contains_url=_bool(data, "contains_url", path),
        lazy_load_members=bool(_bool(data, "lazy_load_members", path)),
        include_redundant_members=bool(_bool(data, "include_redundant_members", path)),
        unread_thread_notifications=bool(_bool(data, "unread_thread_notifications", path)),
    )


def parse_room_filter(value: Any, path: str = "room") -> RoomFilter:
    """A ``RoomFilter`` from JSON."""
    if value is None:
        return RoomFilter()
    data = _object(value, path)
    return RoomFilter(
        rooms=_strings(data, "rooms", path, "!"),
        not_rooms=_strings(data, "not_rooms", path, "!") or (),
        ephemeral=parse_room_event_filter(data.get("ephemeral"), _join(path, "ephemeral")),
        include_leave=bool(_bool(data, "include_leave", path)),
        state=parse_room_event_filter(data.get("state"), _join(path, "state")),
        timeline=parse_room_event_filter(data.get("timeline"), _join(path, "timeline")),
        account_data=parse_room_event_filter(data.get("account_data"), _join(path, "account_data")),
    )


def parse_filter(value: Any) -> Filter:
    """Validate a client's filter JSON; raise ``FilterError`` naming the bad key's path."""
    data = _object(value, "")
    event_format = data.get("event_format", EventFormat.CLIENT.value)
    if event_format not in (EventFormat.CLIENT.value, EventFormat.FEDERATION.value):
        raise FilterError("event_format", "must be 'client' or 'federation'")
    return Filter(
        event_fields=_strings(data, "event_fields", ""),
        event_format=EventFormat(event_format),
        presence=parse_event_filter(data.get("presence"), "presence"),
        account_data=parse_event_filter(data.get("account_data"), "account_data"),
        room=parse_room_filter(data.get("room"), "room"),
    )
