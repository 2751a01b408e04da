"""Unpadded Base64 (spec: Appendices, "Unpadded Base64" and "URL-safe unpadded Base64")."""

import base64
import binascii
import re

from myelin.core.errors import ProtocolError

# One alphabet or the other, never both in one string; then at most the right amount of "=".
_STANDARD_RE = re.compile(r"[A-Za-z0-9+/]*")
_URLSAFE_RE = re.compile(r"[A-Za-z0-9_-]*")


def encode_base64(data: bytes, *, urlsafe: bool = False) -> str:
    """Encode ``data`` as unpadded base64, standard or URL-safe alphabet."""
    encoded = base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)
    return encoded.rstrip(b"=").decode("ascii")


def decode_base64(text: str) -> bytes:
    """Decode unpadded (or correctly padded) base64 in either alphabet.

    Raise ``ProtocolError`` on characters outside the alphabets, a mix of the two alphabets,
    wrong padding or an impossible length. Implementations "SHOULD accept input with or without
    padding characters" (spec), so both are accepted.
    """
    if not isinstance(text, str):
        raise ProtocolError("base64 must be a string")
    stripped = text.rstrip("=")
    padding = len(text) - len(stripped)
    if len(stripped) % 4 == 1:
        raise ProtocolError("invalid base64 length")
    if padding and (len(text) % 4 != 0 or padding > 2):
        raise ProtocolError("invalid base64 padding")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        if _STANDARD_RE.fullmatch(stripped):
            return base64.b64decode(padded, validate=True)
        if _URLSAFE_RE.fullmatch(stripped):
            return base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError) as e:
        raise ProtocolError(f"invalid base64: {e}") from e
    raise ProtocolError("invalid base64: characters outside the alphabet or mixed alphabets")
