"""Room versions 1 to 12 as data (spec: "Room Versions", ``content/rooms/``).

Each version is a frozen record of rule flags; each is the previous one with a few fields
replaced. Code tests flags, never version strings.
"""

from dataclasses import dataclass, replace
from enum import Enum

from myelin.core.errors import UnsupportedRoomVersionError


class EventIdFormat(Enum):
    """How event IDs are formed (spec: room versions 1, 3 and 4 "Event IDs")."""

    V1 = "v1"  # "$localpart:server", chosen by the origin server (v1, v2)
    V3 = "v3"  # "$" + standard base64 of the reference hash (v3)
    V4 = "v4"  # "$" + URL-safe base64 of the reference hash (v4 and later)


class StateResVersion(Enum):
    """Which state resolution algorithm the room uses."""

    V1 = "v1"  # room version 1
    V2 = "v2"  # room versions 2 to 11
    V2_1 = "v2.1"  # room version 12: v2 with the creator and conflicted-subgraph changes


class RedactionRules(Enum):
    """Which redaction algorithm applies (spec: room versions 1, 6, 9 and 11 "Redactions")."""

    V1 = "v1"  # v1-v5: m.room.aliases keeps "aliases"
    V6 = "v6"  # v6-v8: m.room.aliases no longer special
    V9 = "v9"  # v9-v10: m.room.member keeps "join_authorised_via_users_server"
    V11 = "v11"  # v11+: create keeps all content, redaction keeps "redacts", PL keeps "invite"


@dataclass(frozen=True)
class RoomVersion:
    """The rules of one room version."""

    identifier: str
    stable: bool
    event_id_format: EventIdFormat
    state_res: StateResVersion
    redaction: RedactionRules
    # Signatures: enforce the signing key's valid_until_ts (v5+).
    enforce_key_validity: bool
    # Auth: m.room.aliases events have their own auth rule (v1-v5).
    special_case_aliases_auth: bool
    # Canonical JSON is enforced: integers in range, no floats (v6+).
    strict_canonicaljson: bool
    # Auth: the "notifications" key of m.room.power_levels is checked (v6+).
    limit_notifications_power_levels: bool
    # Auth: the "knock" membership and join rule (v7+).
    knock: bool
    # Auth: the "restricted" join rule (v8+).
    restricted_join_rule: bool
    # Auth: the "knock_restricted" join rule (v10+).
    knock_restricted_join_rule: bool
    # Auth: power level values must be integers, not strings (v10+).
    integer_power_levels: bool
    # Auth: the creator is the create event's sender, not content.creator (v11+).
    creator_is_sender: bool
    # Format: "redacts" of m.room.redaction lives in content (v11+).
    redacts_in_content: bool
    # Format: room ID is the create event's ID with sigil "!" and the create event has no
    # room_id (v12+).
    room_id_is_create_event_id: bool
    # Auth: creators (sender of create plus additional_creators) have infinite power (v12+).
    privileged_creators: bool

    def __str__(self) -> str:
        return self.identifier


ROOM_V1 = RoomVersion(
    identifier="1",
    stable=True,
    event_id_format=EventIdFormat.V1,
    state_res=StateResVersion.V1,
    redaction=RedactionRules.V1,
    enforce_key_validity=False,
    special_case_aliases_auth=True,
    strict_canonicaljson=False,
    limit_notifications_power_levels=False,
    knock=False,
    restricted_join_rule=False,
    knock_restricted_join_rule=False,
    integer_power_levels=False,
    creator_is_sender=False,
    redacts_in_content=False,
    room_id_is_create_event_id=False,
    privileged_creators=False,
)
ROOM_V2 = replace(ROOM_V1, identifier="2", state_res=StateResVersion.V2)
ROOM_V3 = replace(ROOM_V2, identifier="3", event_id_format=EventIdFormat.V3)
ROOM_V4 = replace(ROOM_V3, identifier="4", event_id_format=EventIdFormat.V4)
ROOM_V5 = replace(ROOM_V4, identifier="5", enforce_key_validity=True)
ROOM_V6 = replace(
    ROOM_V5,
    identifier="6",
    redaction=RedactionRules.V6,
    special_case_aliases_auth=False,
    strict_canonicaljson=True,
    limit_notifications_power_levels=True,
)
ROOM_V7 = replace(ROOM_V6, identifier="7", knock=True)
ROOM_V8 = replace(ROOM_V7, identifier="8", restricted_join_rule=True)
ROOM_V9 = replace(ROOM_V8, identifier="9", redaction=RedactionRules.V9)
ROOM_V10 = replace(
    ROOM_V9, identifier="10", knock_restricted_join_rule=True, integer_power_levels=True
)
ROOM_V11 = replace(
    ROOM_V10,
    identifier="11",
    redaction=RedactionRules.V11,
    creator_is_sender=True,
    redacts_in_content=True,
)
ROOM_V12 = replace(
    ROOM_V11,
    identifier="12",
    state_res=StateResVersion.V2_1,
    room_id_is_create_event_id=True,
    privileged_creators=True,
)

KNOWN_ROOM_VERSIONS: dict[str, RoomVersion] = {
    v.identifier: v
    for v in (
        ROOM_V1, ROOM_V2, ROOM_V3, ROOM_V4, ROOM_V5, ROOM_V6,
        ROOM_V7, ROOM_V8, ROOM_V9, ROOM_V10, ROOM_V11, ROOM_V12,
    )
}  # fmt: skip

DEFAULT_ROOM_VERSION = ROOM_V11


def get_room_version(identifier: str) -> RoomVersion:
    """The room version named ``identifier``; raise ``UnsupportedRoomVersionError`` if unknown."""
    try:
        return KNOWN_ROOM_VERSIONS[identifier]
    except (KeyError, TypeError):
        raise UnsupportedRoomVersionError(f"unknown room version {identifier!r}") from None
