"""Helpers for the authorization rule tests: a tiny room whose events are EventViews.

Event IDs are chosen, not hashed: the auth rules never look at hashes.
"""

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from myelin.core.auth_rules import (
    auth_types_for_event,
    check_auth_rules,
    check_state_dependent_auth_rules,
)
from myelin.core.errors import AuthError
from myelin.core.events import EventView
from myelin.core.room_versions import KNOWN_ROOM_VERSIONS, EventIdFormat, RoomVersion

ALL_VERSIONS: list[RoomVersion] = list(KNOWN_ROOM_VERSIONS.values())

CREATOR = "@creator:a.example"
ALICE = "@alice:a.example"
BOB = "@bob:b.example"
CAROL = "@carol:c.example"


def versions(*, where: Any = None, **flags: bool) -> list[Any]:
    """Room versions whose flags have the given values, as pytest params named by identifier."""
    chosen = [
        v
        for v in ALL_VERSIONS
        if all(getattr(v, name) == value for name, value in flags.items())
        and (where is None or where(v))
    ]
    return [pytest.param(v, id=f"v{v.identifier}") for v in chosen]


def expected(room_version: RoomVersion, table: Mapping[str, str]) -> str:
    """The rule number for ``room_version`` from a table keyed by version ranges ("1-5", "12")."""
    number = int(room_version.identifier)
    for key, rule in table.items():
        low, _, high = key.partition("-")
        if int(low) <= number <= int(high or low):
            return rule
    raise KeyError(room_version.identifier)


_counter = itertools.count()


class Room:
    """A room's create event and current state, and a factory for new events in it."""

    def __init__(
        self,
        room_version: RoomVersion,
        creator: str = CREATOR,
        *,
        create_content: Mapping[str, Any] | None = None,
    ) -> None:
        self.room_version = room_version
        self.state: dict[tuple[str, str], EventView] = {}
        content: dict[str, Any] = {"room_version": room_version.identifier}
        if not room_version.creator_is_sender:
            content["creator"] = creator
        content.update(create_content or {})
        create_id = self.new_event_id()
        self.room_id = (
            "!" + create_id[1:]
            if room_version.room_id_is_create_event_id
            else "!room:" + creator.split(":", 1)[1]
        )
        self.create = self.event(
            "m.room.create",
            creator,
            "",
            content,
            prev_events=[],
            event_id=create_id,
            include_room_id=not room_version.room_id_is_create_event_id,
        )
        self.add(self.create)

    def new_event_id(self, server: str = "a.example") -> str:
        n = next(_counter)
        if self.room_version.event_id_format is EventIdFormat.V1:
            return f"$e{n}:{server}"
        return f"$Ev{n}Opaque"

    def _ids(self, ids: Iterable[str]) -> list[Any]:
        if self.room_version.event_id_format is EventIdFormat.V1:
            return [[i, {"sha256": "x"}] for i in ids]
        return list(ids)

    def event(
        self,
        event_type: str,
        sender: str,
        state_key: str | None = None,
        content: Mapping[str, Any] | None = None,
        *,
        prev_events: list[str] | None = None,
        auth_events: list[str] | None = None,
        event_id: str | None = None,
        include_room_id: bool = True,
        extra: Mapping[str, Any] | None = None,
    ) -> EventView:
        """A new event (not added to the state)."""
        event_id = event_id or self.new_event_id()
        pdu: dict[str, Any] = {
            "type": event_type,
            "sender": sender,
            "content": dict(content or {}),
            "prev_events": self._ids(prev_events if prev_events is not None else ["$prev"]),
            "auth_events": self._ids(auth_events or []),
            "depth": 5,
            "origin_server_ts": 0,
            "hashes": {"sha256": "x"},
            "signatures": {sender.split(":", 1)[-1]: {"ed25519:k": "sig"}},
        }
        if include_room_id:
            pdu["room_id"] = self.room_id
        if state_key is not None:
            pdu["state_key"] = state_key
        if self.room_version.event_id_format is EventIdFormat.V1:
            pdu["event_id"] = event_id
        pdu.update(extra or {})
        return EventView(pdu, event_id, self.room_version)

    def add(self, event: EventView) -> EventView:
        """Put a state event into the current state."""
        pair = event.state_pair
        assert pair is not None
        self.state[pair] = event
        return event

    def set_state(
        self, event_type: str, state_key: str, content: Mapping[str, Any], sender: str = CREATOR
    ) -> EventView:
        return self.add(self.event(event_type, sender, state_key, content))

    def member(self, user: str, membership: str, sender: str | None = None) -> EventView:
        return self.set_state(
            "m.room.member", user, {"membership": membership}, sender=sender or user
        )

    def join_rules(self, rule: str) -> EventView:
        return self.set_state("m.room.join_rules", "", {"join_rule": rule})

    def power_levels(self, content: Mapping[str, Any]) -> EventView:
        return self.set_state("m.room.power_levels", "", content)

    # Checks.

    def check(self, event: EventView) -> None:
        """The state-dependent rules against the current state."""
        check_state_dependent_auth_rules(self.room_version, event, self.state)

    def auth_events_for(self, event: EventView) -> list[EventView]:
        """The event's auth events picked from the current state by auth events selection."""
        pairs = auth_types_for_event(
            self.room_version, event.type, event.sender, event.state_key, event.content
        )
        return [self.state[pair] for pair in sorted(pairs) if pair in self.state]

    def check_full(self, event: EventView, auth_events: list[EventView] | None = None) -> None:
        """Every rule, against the event's auth events (selected from the state if None)."""
        if auth_events is None:
            auth_events = self.auth_events_for(event)
        check_auth_rules(self.room_version, event, auth_events, create_event=self.create)

    def rejects(self, event: EventView, *, full: bool = False) -> str:
        """The rule that rejects ``event`` (fails the test if it is allowed)."""
        with pytest.raises(AuthError) as info:
            if full:
                self.check_full(event)
            else:
                self.check(event)
        return info.value.rule


def joined_room(room_version: RoomVersion, *members: str) -> Room:
    """A room where the creator and ``members`` are joined and the join rule is public."""
    room = Room(room_version)
    room.member(CREATOR, "join")
    room.join_rules("public")
    for user in members:
        room.member(user, "join")
    return room
