"""Unpadded Base64 (spec: Appendices, "Unpadded Base64" and "URL-safe unpadded Base64")."""

import base64
import binascii

from myelin.core.errors import ProtocolError


def encode_base64(data: bytes, *, urlsafe: bool = False) -> str:
    """Encode ``data`` as unpadded base64, standard or URL-safe alphabet."""
    encoded = base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)
    return encoded.rstrip(b"=").decode("ascii")


def decode_base64(text: str) -> bytes:
    """Decode unpadded (or padded) base64 in either alphabet; raise ``ProtocolError`` if invalid."""
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise ProtocolError("invalid base64 length")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        raw = padded.encode("ascii")
        if b"-" in raw or b"_" in raw:
            return base64.urlsafe_b64decode(raw)
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise ProtocolError(f"invalid base64: {e}") from e
