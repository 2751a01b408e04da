"""Signing events and checking their format (spec: Server-Server API, "Signing Events").

``sign_event`` follows "Adding hashes and signatures to outgoing events"; ``verify_event_signature``
follows "Validating hashes and signatures on received events". ``load_event`` is check 1 of
"Checks performed on receipt of a PDU" (the event complies with the event format of its room
version: ``pdu_v1``, ``pdu_v3``, ``pdu_v4``, ``pdu_v6``, ``pdu_v11`` and ``pdu_v12`` in the
server-server API definitions), plus the "Size limits" of the Client-Server API.
"""

from collections.abc import Mapping
from typing import Any

from myelin.core.canonical_json import MAX_INT, check_canonical_value, encode_canonical_json
from myelin.core.errors import CanonicalJsonError, InvalidEventError, InvalidIdentifierError
from myelin.core.events import EventView
from myelin.core.hashes import SHA256, add_content_hash, compute_event_id
from myelin.core.identifiers import EventID, RoomID, UserID, server_name_of
from myelin.core.redaction import redact
from myelin.core.room_versions import EventIdFormat, RoomVersion
from myelin.core.signing import SigningKey, VerifyKey, compute_signature, verify_signature

# Size limits (spec: Client-Server API, "Size limits").
MAX_PDU_BYTES = 65536
MAX_KEY_BYTES = 255  # state_key and type
# "Must contain less than or equal to" (pdu_v1 .. pdu_v12 definitions).
MAX_PREV_EVENTS = 20
MAX_AUTH_EVENTS = 10
# depth "must be less than the maximum value for an integer": 2^63 - 1 before room version 6.
_MAX_DEPTH_LENIENT = 2**63 - 1


def sign_event(
    pdu: Mapping[str, Any], server_name: str, signing_key: SigningKey, room_version: RoomVersion
) -> dict[str, Any]:
    """Return a copy of ``pdu`` hashed (if not already) and signed by ``server_name``."""
    # 1. The content hash is calculated and stored under hashes.sha256 (unless present).
    hashes = pdu.get("hashes")
    if isinstance(hashes, Mapping) and isinstance(hashes.get(SHA256), str):
        hashed = dict(pdu)
    else:
        hashed = add_content_hash(pdu, strict=room_version.strict_canonicaljson)
    # 2. The event object is redacted, and 3. the redacted form is signed.
    strict = room_version.strict_canonicaljson
    signature = compute_signature(redact(hashed, room_version), signing_key, strict=strict)
    # 4. The signature is copied back to the original event object.
    existing = hashed.get("signatures")
    signatures = (
        {name: dict(sigs) for name, sigs in existing.items() if isinstance(sigs, Mapping)}
        if isinstance(existing, Mapping)
        else {}
    )
    signatures.setdefault(server_name, {})[signing_key.key_id] = signature
    hashed["signatures"] = signatures
    return hashed


def verify_event_signature(
    pdu: Mapping[str, Any], server_name: str, verify_key: VerifyKey, room_version: RoomVersion
) -> None:
    """Check ``server_name``'s signature with ``verify_key`` on the redacted form of ``pdu``.

    Raise ``SignatureError``. This succeeds whether the full event or a redacted copy is given.
    """
    strict = room_version.strict_canonicaljson
    verify_signature(redact(pdu, room_version), server_name, verify_key, strict=strict)


def required_signers(pdu: Mapping[str, Any], room_version: RoomVersion) -> set[str]:
    """The servers whose signatures ``pdu`` must carry (spec: "Validating hashes and
    signatures on received events"); raise ``InvalidIdentifierError`` on a malformed ID.

    - The originating server (the ``sender``'s), unless the event is a 3rd party invite, whose
      sender matched the invite and which another server may send.
    - Room versions 1 and 2: also the server in the ``event_id``.
    - With the restricted join rule (v8+): a join's ``join_authorised_via_users_server`` server
      (auth rule "If the event is not validly signed by the homeserver of the user ID denoted
      by the key, reject").
    """
    servers: set[str] = set()
    content = pdu.get("content")
    content = content if isinstance(content, Mapping) else {}
    is_member = pdu.get("type") == "m.room.member"
    membership = content.get("membership") if is_member else None
    if not (membership == "invite" and "third_party_invite" in content):
        servers.add(server_name_of(str(pdu.get("sender"))))
    if room_version.event_id_format is EventIdFormat.V1:
        servers.add(server_name_of(str(pdu.get("event_id"))))
    authoriser = content.get("join_authorised_via_users_server")
    if room_version.restricted_join_rule and membership == "join" and authoriser is not None:
        servers.add(server_name_of(str(authoriser)))
    return servers


def load_event(pdu: Mapping[str, Any], room_version: RoomVersion) -> EventView:
    """Check that ``pdu`` has the event format of ``room_version`` and compute its event ID.

    Raise ``InvalidEventError``. The returned view keeps ``pdu`` itself as its JSON.
    """
    if not isinstance(pdu, Mapping):
        raise InvalidEventError("a PDU must be a JSON object")
    strict = room_version.strict_canonicaljson
    # Room version 6+: canonical JSON is strictly enforced (integers in range, no floats).
    if strict:
        try:
            check_canonical_value(pdu)
        except CanonicalJsonError as e:
            raise InvalidEventError(f"not canonical JSON: {e}") from e
    # The complete event, signatures included, as canonical JSON must fit in 65536 bytes.
    try:
        size = len(encode_canonical_json(pdu, strict=strict))
    except CanonicalJsonError as e:
        raise InvalidEventError(f"not encodable as JSON: {e}") from e
    if size > MAX_PDU_BYTES:
        raise InvalidEventError(f"event is {size} bytes, more than {MAX_PDU_BYTES}")

    _check_base_fields(pdu, room_version)
    _check_room_id(pdu, room_version)
    _check_event_refs(pdu, room_version)
    if not room_version.redacts_in_content and "redacts" in pdu:
        _require(pdu, "redacts", str)

    return EventView(pdu, compute_event_id(pdu, room_version), room_version)


def _require(pdu: Mapping[str, Any], key: str, kind: type) -> Any:
    value = pdu.get(key)
    if value is None and key not in pdu:
        raise InvalidEventError(f"missing required key {key!r}")
    if not _is_type(value, kind):
        raise InvalidEventError(f"{key!r} must be of type {kind.__name__}")
    return value


def _is_type(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is dict:
        return isinstance(value, Mapping)
    return isinstance(value, kind)


def _check_base_fields(pdu: Mapping[str, Any], room_version: RoomVersion) -> None:
    # pdu_base: required sender, origin_server_ts, type, content, depth, hashes, signatures.
    sender = _require(pdu, "sender", str)
    try:
        UserID.parse(sender)  # the historical grammar: events may come from old users
    except InvalidIdentifierError as e:
        raise InvalidEventError(f"invalid sender: {e}") from e
    _require(pdu, "origin_server_ts", int)
    event_type = _require(pdu, "type", str)
    if len(event_type.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidEventError(f"type is longer than {MAX_KEY_BYTES} bytes")
    _require(pdu, "content", dict)
    depth = _require(pdu, "depth", int)
    if not room_version.strict_canonicaljson and depth > _MAX_DEPTH_LENIENT:
        raise InvalidEventError("depth is too large")
    if room_version.strict_canonicaljson and depth > MAX_INT:
        raise InvalidEventError("depth is too large")
    hashes = _require(pdu, "hashes", dict)
    if not isinstance(hashes.get(SHA256), str):
        raise InvalidEventError("hashes.sha256 must be a string")
    signatures = _require(pdu, "signatures", dict)
    for by_server in signatures.values():
        if not isinstance(by_server, Mapping) or not all(
            isinstance(sig, str) for sig in by_server.values()
        ):
            raise InvalidEventError("signatures must map server names to key IDs to strings")
    if "state_key" in pdu:
        state_key = _require(pdu, "state_key", str)
        if len(state_key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise InvalidEventError(f"state_key is longer than {MAX_KEY_BYTES} bytes")
    if "unsigned" in pdu:
        _require(pdu, "unsigned", dict)
    if room_version.event_id_format is EventIdFormat.V1:
        # pdu_v1: event_id is required (and chosen by the origin server).
        _require(pdu, "event_id", str)


def _check_room_id(pdu: Mapping[str, Any], room_version: RoomVersion) -> None:
    if room_version.room_id_is_create_event_id and pdu.get("type") == "m.room.create":
        # pdu_v12: room_id is omitted from m.room.create events.
        if "room_id" in pdu:
            raise InvalidEventError("an m.room.create event must not have a room_id")
        return
    room_id = _require(pdu, "room_id", str)
    try:
        RoomID.parse(room_id, room_version)
    except InvalidIdentifierError as e:
        raise InvalidEventError(f"invalid room_id: {e}") from e


def _check_event_refs(pdu: Mapping[str, Any], room_version: RoomVersion) -> None:
    for key, limit in (("prev_events", MAX_PREV_EVENTS), ("auth_events", MAX_AUTH_EVENTS)):
        refs = _require(pdu, key, list)
        if len(refs) > limit:
            raise InvalidEventError(f"{key} has more than {limit} entries")
        for ref in refs:
            if room_version.event_id_format is EventIdFormat.V1:
                # pdu_v1: [event_id, {"sha256": hash}] pairs.
                if not (
                    isinstance(ref, list)
                    and len(ref) == 2
                    and isinstance(ref[0], str)
                    and isinstance(ref[1], Mapping)
                    and isinstance(ref[1].get(SHA256), str)
                ):
                    raise InvalidEventError(f"{key} entries must be [event_id, hashes] pairs")
                event_id = ref[0]
            else:
                # pdu_v3 and later: plain event IDs.
                if not isinstance(ref, str):
                    raise InvalidEventError(f"{key} entries must be event ID strings")
                event_id = ref
            try:
                EventID.parse(event_id)
            except InvalidIdentifierError as e:
                raise InvalidEventError(f"invalid event ID in {key}: {e}") from e
