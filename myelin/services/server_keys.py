"""Publishing this server's signing keys (spec: Server-Server API, "Publishing Keys").

The key file is Synapse's (``ed25519 <version> <seed>`` per line): every key in it is a current
key, published in ``verify_keys`` and used to sign the response. Keys from ``old_signing_keys``
are published in ``old_verify_keys`` with their ``expired_ts``.
"""

import os
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from myelin.clock import Clock
from myelin.core.errors import ProtocolError
from myelin.core.signing import (
    SigningKey,
    VerifyKey,
    read_signing_keys,
    sign_json,
    write_signing_keys,
)

_VERSION_ALPHABET = string.ascii_letters + string.digits


class SigningKeyFileError(Exception):
    """The signing key file cannot be read or holds no valid key."""


@dataclass(frozen=True)
class OldVerifyKey:
    """A key this server no longer signs with, and when it stopped."""

    key: VerifyKey
    expired_ts: int


def new_key_version() -> str:
    """A fresh key version: ``a_`` and four random letters or digits, as Synapse makes them."""
    return "a_" + "".join(secrets.choice(_VERSION_ALPHABET) for _ in range(4))


def load_or_generate_signing_keys(path: Path) -> tuple[list[SigningKey], bool]:
    """Read the key file, or create it with a new Ed25519 key (mode 0600) when it is missing.

    Return the keys and whether the file was generated; raise ``SigningKeyFileError``.
    """
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        key = SigningKey.generate(new_key_version())
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            raise SigningKeyFileError(f"cannot create signing key file {path}: {e}") from e
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(write_signing_keys([key]))
        return [key], True
    except (OSError, UnicodeDecodeError) as e:
        raise SigningKeyFileError(f"cannot read signing key file {path}: {e}") from e
    try:
        keys = read_signing_keys(text)
    except ProtocolError as e:
        raise SigningKeyFileError(f"invalid signing key file {path}: {e}") from e
    if not keys:
        raise SigningKeyFileError(f"signing key file {path} holds no key")
    return keys, False


class ServerKeyService:
    """Builds the signed ``/_matrix/key/v2/server`` response."""

    def __init__(
        self,
        server_name: str,
        signing_keys: list[SigningKey],
        old_keys: Mapping[str, OldVerifyKey],
        key_refresh_interval_ms: int,
        clock: Clock,
    ) -> None:
        if not signing_keys:
            raise ValueError("at least one signing key is needed")
        self._server_name = server_name
        self._signing_keys = list(signing_keys)
        self._old_keys = dict(old_keys)
        self._refresh_ms = key_refresh_interval_ms
        self._clock = clock

    @property
    def signing_key(self) -> SigningKey:
        """The key that signs events and requests."""
        return self._signing_keys[0]

    def server_keys(self) -> dict[str, Any]:
        """Our keys, valid for ``key_refresh_interval``, signed by every current key."""
        response: dict[str, Any] = {
            "server_name": self._server_name,
            "verify_keys": {k.key_id: {"key": k.verify_key.encode()} for k in self._signing_keys},
            "old_verify_keys": {
                key_id: {"key": old.key.encode(), "expired_ts": old.expired_ts}
                for key_id, old in self._old_keys.items()
            },
            "valid_until_ts": self._clock.now_ms() + self._refresh_ms,
        }
        for key in self._signing_keys:
            response = sign_json(response, self._server_name, key)
        return response
