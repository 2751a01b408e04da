"""Signing JSON with Ed25519 (spec: Appendices, "Signing JSON" and "Checking for a Signature").

Keys are PyNaCl objects wrapped with their key ID (``ed25519:<version>``). The key file format is
Synapse's: one key per line, ``ed25519 <version> <unpadded base64 seed>``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

from myelin.core.canonical_json import encode_canonical_json
from myelin.core.errors import ProtocolError, SignatureError
from myelin.core.unpadded_base64 import decode_base64, encode_base64

ED25519 = "ed25519"


@dataclass(frozen=True)
class VerifyKey:
    """A public Ed25519 key with its ID (``ed25519:abc``)."""

    key_id: str
    key: nacl.signing.VerifyKey

    @property
    def version(self) -> str:
        return self.key_id.split(":", 1)[1]

    def encode(self) -> str:
        """The key as unpadded base64, as served in ``verify_keys``."""
        return encode_base64(bytes(self.key))

    @classmethod
    def decode(cls, key_id: str, text: str) -> "VerifyKey":
        """Parse a base64 public key; raise ``SignatureError`` if it is not an Ed25519 key."""
        if not key_id.startswith(ED25519 + ":"):
            raise SignatureError(f"unsupported key algorithm in {key_id!r}")
        try:
            raw = decode_base64(text)
            return cls(key_id, nacl.signing.VerifyKey(raw))
        except (ProtocolError, ValueError, TypeError, nacl.exceptions.CryptoError) as e:
            raise SignatureError(f"invalid verify key {key_id!r}: {e}") from e


@dataclass(frozen=True)
class SigningKey:
    """A private Ed25519 key with its ID."""

    key_id: str
    key: nacl.signing.SigningKey

    @property
    def version(self) -> str:
        return self.key_id.split(":", 1)[1]

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey(self.key_id, self.key.verify_key)

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message).signature

    @classmethod
    def generate(cls, version: str) -> "SigningKey":
        return cls(f"{ED25519}:{version}", nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, version: str, seed: bytes) -> "SigningKey":
        return cls(f"{ED25519}:{version}", nacl.signing.SigningKey(seed))


def read_signing_keys(text: str) -> list[SigningKey]:
    """Parse a key file (``ed25519 <version> <base64 seed>`` per line); raise ``ProtocolError``."""
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or parts[0] != ED25519:
            raise ProtocolError(f"line {number}: expected 'ed25519 <version> <base64 seed>'")
        try:
            seed = decode_base64(parts[2])
            keys.append(SigningKey.from_seed(parts[1], seed))
        except (ProtocolError, ValueError, TypeError, nacl.exceptions.CryptoError) as e:
            raise ProtocolError(f"line {number}: invalid key seed: {e}") from e
    return keys


def write_signing_keys(keys: list[SigningKey]) -> str:
    """Serialize keys in the format ``read_signing_keys`` reads."""
    return "".join(f"{ED25519} {k.version} {encode_base64(bytes(k.key))}\n" for k in keys)


def _signable(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}


def compute_signature(obj: Mapping[str, Any], key: SigningKey, *, strict: bool = True) -> str:
    """The unpadded base64 signature of ``obj`` without its ``signatures`` and ``unsigned``.

    ``strict=False`` encodes with lenient canonical JSON (events of room versions 1 to 5).
    """
    return encode_base64(key.sign(encode_canonical_json(_signable(obj), strict=strict)))


def sign_json(
    obj: Mapping[str, Any], signer: str, key: SigningKey, *, strict: bool = True
) -> dict[str, Any]:
    """Return a copy of ``obj`` with a signature by ``signer``'s ``key`` added."""
    signature = compute_signature(obj, key, strict=strict)
    signed = dict(obj)
    signatures = {name: dict(sigs) for name, sigs in obj.get("signatures", {}).items()}
    signatures.setdefault(signer, {})[key.key_id] = signature
    signed["signatures"] = signatures
    return signed


def verify_signature(
    obj: Mapping[str, Any], signer: str, verify_key: VerifyKey, *, strict: bool = True
) -> None:
    """Check ``signer``'s signature by ``verify_key`` on ``obj``; raise ``SignatureError``.

    ``strict=False`` encodes with lenient canonical JSON (events of room versions 1 to 5).
    """
    signatures = obj.get("signatures")
    if not isinstance(signatures, Mapping):
        raise SignatureError("no signatures")
    by_signer = signatures.get(signer)
    if not isinstance(by_signer, Mapping) or verify_key.key_id not in by_signer:
        raise SignatureError(f"not signed by {signer} with {verify_key.key_id}")
    encoded = by_signer[verify_key.key_id]
    if not isinstance(encoded, str):
        raise SignatureError("signature is not a string")
    try:
        signature = decode_base64(encoded)
        message = encode_canonical_json(_signable(obj), strict=strict)
        verify_key.key.verify(message, signature)
    except (ProtocolError, ValueError, TypeError, nacl.exceptions.CryptoError) as e:
        raise SignatureError(f"bad signature by {signer} with {verify_key.key_id}: {e}") from e
