"""Redaction algorithms (spec: room versions 1, 6, 9 and 11 "Redactions").

``redact`` strips an event down to the keys its room version's redaction algorithm keeps
(``content/rooms/fragments/v1-redactions.md``, ``v6-redactions.md``, ``v9-redactions.md`` and
``v11-redactions.md``). It is used to sign events, to compute reference hashes, and to redact
events for real. The input is never mutated; the result shares no mutable object with it.
"""

import copy
from collections.abc import Mapping
from typing import Any

from myelin.core.room_versions import RedactionRules, RoomVersion

# Top-level keys kept by the v1, v6 and v9 algorithms.
_TOP_LEVEL_V1 = frozenset(
    {
        "event_id",
        "type",
        "room_id",
        "sender",
        "state_key",
        "content",
        "hashes",
        "signatures",
        "depth",
        "prev_events",
        "prev_state",
        "auth_events",
        "origin",
        "origin_server_ts",
        "membership",
    }
)
# v11 no longer keeps "origin", "membership" and "prev_state".
_TOP_LEVEL_V11 = _TOP_LEVEL_V1 - {"origin", "membership", "prev_state"}

_POWER_LEVELS_V1 = frozenset(
    {"ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"}
)

# Content keys kept per event type, for each algorithm.
_CONTENT_V1: dict[str, frozenset[str]] = {
    "m.room.member": frozenset({"membership"}),
    "m.room.create": frozenset({"creator"}),
    "m.room.join_rules": frozenset({"join_rule"}),
    "m.room.power_levels": _POWER_LEVELS_V1,
    "m.room.aliases": frozenset({"aliases"}),
    "m.room.history_visibility": frozenset({"history_visibility"}),
}
# v6: m.room.aliases is no longer special.
_CONTENT_V6 = {k: v for k, v in _CONTENT_V1.items() if k != "m.room.aliases"}
# v9: m.room.member keeps join_authorised_via_users_server, m.room.join_rules keeps allow.
_CONTENT_V9 = {
    **_CONTENT_V6,
    "m.room.member": frozenset({"membership", "join_authorised_via_users_server"}),
    "m.room.join_rules": frozenset({"join_rule", "allow"}),
}
# v11: power levels keep invite, redactions keep redacts; m.room.create keeps everything and
# m.room.member keeps third_party_invite.signed (both handled in _redact_content).
_CONTENT_V11 = {
    **_CONTENT_V9,
    "m.room.power_levels": _POWER_LEVELS_V1 | {"invite"},
    "m.room.redaction": frozenset({"redacts"}),
}

_RULES: dict[RedactionRules, tuple[frozenset[str], dict[str, frozenset[str]]]] = {
    RedactionRules.V1: (_TOP_LEVEL_V1, _CONTENT_V1),
    RedactionRules.V6: (_TOP_LEVEL_V1, _CONTENT_V6),
    RedactionRules.V9: (_TOP_LEVEL_V1, _CONTENT_V9),
    RedactionRules.V11: (_TOP_LEVEL_V11, _CONTENT_V11),
}


def redact(pdu: Mapping[str, Any], room_version: RoomVersion) -> dict[str, Any]:
    """Return a redacted copy of ``pdu`` under ``room_version``'s redaction algorithm."""
    top_level, content_keys = _RULES[room_version.redaction]
    # Strip every top-level key not in the algorithm's list.
    redacted = {key: copy.deepcopy(value) for key, value in pdu.items() if key in top_level}
    # Strip every content key unless the event type allows it. The content stays an object
    # even if the original had none (or a non-object): "content" is a required key.
    content = pdu.get("content")
    event_type = pdu.get("type")
    redacted["content"] = _redact_content(
        event_type if isinstance(event_type, str) else "",
        content if isinstance(content, Mapping) else {},
        content_keys,
        room_version,
    )
    return redacted


def _redact_content(
    event_type: str,
    content: Mapping[str, Any],
    content_keys: Mapping[str, frozenset[str]],
    room_version: RoomVersion,
) -> dict[str, Any]:
    v11 = room_version.redaction is RedactionRules.V11
    if v11 and event_type == "m.room.create":
        # v11: m.room.create allows all keys.
        return copy.deepcopy(dict(content))
    allowed = content_keys.get(event_type, frozenset())
    kept = {key: copy.deepcopy(value) for key, value in content.items() if key in allowed}
    if v11 and event_type == "m.room.member":
        # v11: m.room.member additionally allows the "signed" key of "third_party_invite".
        invite = content.get("third_party_invite")
        if isinstance(invite, Mapping) and "signed" in invite:
            kept["third_party_invite"] = {"signed": copy.deepcopy(invite["signed"])}
    return kept
