"""Content hashes, reference hashes and event IDs (spec: Server-Server API, "Signing Events").

Also "Calculating the reference hash for an event", "Calculating the content hash for an event",
the "Event IDs" section of room versions 1, 3 and 4, and the room ID of room version 12
(``content/rooms/v12.md``: the create event's ID with sigil ``!``).

Room versions 1 to 5 do not enforce canonical JSON, so their events are hashed with the lenient
encoding (``encode_canonical_json(..., strict=False)``), which rejects nothing that matrix-org's
``canonicaljson`` would encode.
"""

import hashlib
from collections.abc import Mapping
from typing import Any

from myelin.core.canonical_json import encode_canonical_json
from myelin.core.errors import InvalidEventError, InvalidIdentifierError, ProtocolError
from myelin.core.identifiers import EventID
from myelin.core.redaction import redact
from myelin.core.room_versions import EventIdFormat, RoomVersion
from myelin.core.unpadded_base64 import decode_base64, encode_base64

SHA256 = "sha256"


def compute_content_hash(pdu: Mapping[str, Any], *, strict: bool = True) -> bytes:
    """The SHA-256 content hash of ``pdu``: the whole event without ``unsigned``,
    ``signatures`` and ``hashes``, as canonical JSON.

    ``strict=False`` for room versions without strict canonical JSON (1 to 5).
    """
    stripped = {k: v for k, v in pdu.items() if k not in ("unsigned", "signatures", "hashes")}
    return hashlib.sha256(encode_canonical_json(stripped, strict=strict)).digest()


def check_content_hash(pdu: Mapping[str, Any], *, strict: bool = True) -> bool:
    """Whether ``hashes.sha256`` of ``pdu`` matches its content hash.

    False when the hash is missing or not valid base64: such an event must be treated as
    redacted by the receiver (spec: "Validating hashes and signatures on received events").
    """
    hashes = pdu.get("hashes")
    if not isinstance(hashes, Mapping):
        return False
    expected = hashes.get(SHA256)
    if not isinstance(expected, str):
        return False
    try:
        return decode_base64(expected) == compute_content_hash(pdu, strict=strict)
    except ProtocolError:
        return False


def add_content_hash(pdu: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """A copy of ``pdu`` with ``hashes.sha256`` set to its content hash (other hashes kept)."""
    digest = compute_content_hash(pdu, strict=strict)
    hashed = dict(pdu)
    existing = pdu.get("hashes")
    hashes = dict(existing) if isinstance(existing, Mapping) else {}
    hashes[SHA256] = encode_base64(digest)
    hashed["hashes"] = hashes
    return hashed


def compute_reference_hash(pdu: Mapping[str, Any], room_version: RoomVersion) -> bytes:
    """The SHA-256 reference hash of ``pdu`` (spec: "Calculating the reference hash")."""
    # 1. The event is put through the redaction algorithm.
    redacted = redact(pdu, room_version)
    # 2. The signatures and unsigned properties are removed, if present.
    redacted.pop("signatures", None)
    redacted.pop("unsigned", None)
    # 3. The event is converted into canonical JSON.
    encoded = encode_canonical_json(redacted, strict=room_version.strict_canonicaljson)
    # 4. A sha256 hash is calculated on the resulting JSON object.
    return hashlib.sha256(encoded).digest()


def compute_event_id(pdu: Mapping[str, Any], room_version: RoomVersion) -> str:
    """The event ID of ``pdu`` in ``room_version``; raise ``InvalidEventError``.

    Room versions 1 and 2: the ``event_id`` field chosen by the origin server, validated.
    Version 3: ``$`` + unpadded base64 of the reference hash. Version 4 and later: the same in
    the URL-safe alphabet.
    """
    event_id_format = room_version.event_id_format
    if event_id_format is EventIdFormat.V1:
        event_id = pdu.get("event_id")
        if not isinstance(event_id, str):
            raise InvalidEventError("event has no event_id")
        try:
            EventID.parse(event_id, EventIdFormat.V1)
        except InvalidIdentifierError as e:
            raise InvalidEventError(f"invalid event_id: {e}") from e
        return event_id
    try:
        digest = compute_reference_hash(pdu, room_version)
    except ProtocolError as e:
        raise InvalidEventError(f"cannot hash event: {e}") from e
    return "$" + encode_base64(digest, urlsafe=event_id_format is EventIdFormat.V4)


def room_id_for_create_event(create_event_id: str) -> str:
    """The room ID of a room version 12 room: its create event's ID with sigil ``!``.

    Raise ``InvalidIdentifierError`` unless ``create_event_id`` is a URL-safe hash event ID.
    """
    EventID.parse(create_event_id, EventIdFormat.V4)
    return "!" + create_event_id[1:]
