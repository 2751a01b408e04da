"""The checks of a received PDU that need no room state (spec: Server-Server API, "Checks
performed on receipt of a PDU", steps 1 to 3, and "Validating hashes and signatures on received
events").

``check_pdu`` returns the event to process further: the PDU as received, or its redacted form
when its content hash does not match. Steps 4 to 6 (the authorization rules against the auth
events, the state before the event and the current state) are the write path's.
"""

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from myelin.core.errors import InvalidEventError, SignatureError
from myelin.core.event_signing import load_event
from myelin.core.events import EventView
from myelin.core.hashes import check_content_hash
from myelin.core.redaction import redact
from myelin.core.room_versions import RoomVersion

logger = logging.getLogger("myelin.federation.pdus")


class PduDroppedError(Exception):
    """The PDU is dropped: it is not a valid event (step 1) or its signatures fail (step 2)."""

    def __init__(self, step: int, reason: str) -> None:
        super().__init__(f"step {step}: {reason}")
        self.step = step
        self.reason = reason


class EventSignatureChecker(Protocol):
    """The part of the key ring the checks use (``KeyRing.verify_event_signatures``)."""

    async def verify_event_signatures(
        self, pdu: Mapping[str, Any], room_version: RoomVersion
    ) -> None: ...


async def check_pdu(pdu: Any, room_version: RoomVersion, keys: EventSignatureChecker) -> EventView:
    """Steps 1 to 3 for one received PDU; raise ``PduDroppedError``."""
    # 1. A valid event of its room version (format, sizes, identifiers), else dropped.
    try:
        event = load_event(pdu, room_version)
    except InvalidEventError as e:
        raise PduDroppedError(1, str(e)) from e
    # 2. Signatures: every required signer's signature checks out, else dropped.
    try:
        await keys.verify_event_signatures(event.json, room_version)
    except SignatureError as e:
        raise PduDroppedError(2, str(e)) from e
    # 3. Hashes: a content hash mismatch means the event is processed redacted. The event ID
    # (a reference hash over the redacted form) is the same either way.
    if not check_content_hash(event.json, strict=room_version.strict_canonicaljson):
        logger.info("Event %s has a bad content hash: redacting it", event.event_id)
        redacted = redact(event.json, room_version)
        return EventView(redacted, event.event_id, room_version)
    return event
