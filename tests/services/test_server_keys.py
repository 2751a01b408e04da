"""Publishing keys: the key file, and the signed key response."""

import os
from pathlib import Path

import pytest
import signedjson.key
import signedjson.sign
from unpaddedbase64 import decode_base64

from myelin.core.signing import SigningKey, VerifyKey, write_signing_keys
from myelin.services.server_keys import (
    OldVerifyKey,
    ServerKeyService,
    SigningKeyFileError,
    load_or_generate_signing_keys,
)
from tests.api.conftest import FakeClock


def test_generates_then_loads(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "server.key"
    keys, generated = load_or_generate_signing_keys(path)
    assert generated and len(keys) == 1
    assert os.stat(path).st_mode & 0o777 == 0o600
    version = keys[0].version
    assert version.startswith("a_") and len(version) == 6 and version[2:].isalnum()
    again, generated = load_or_generate_signing_keys(path)
    assert not generated
    assert again[0].key_id == keys[0].key_id
    assert bytes(again[0].key) == bytes(keys[0].key)


def test_reads_a_synapse_key_file(tmp_path: Path) -> None:
    path = tmp_path / "k"
    key = SigningKey.from_seed("abc", bytes(range(32)))
    path.write_text(write_signing_keys([key]))
    keys, generated = load_or_generate_signing_keys(path)
    assert not generated and keys[0].key_id == "ed25519:abc"


@pytest.mark.parametrize(
    "content", ["", "\n", "ed25519 abc\n", "rsa abc AAAA\n", "ed25519 a !!!\n"]
)
def test_bad_key_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "k"
    path.write_text(content)
    with pytest.raises(SigningKeyFileError):
        load_or_generate_signing_keys(path)


def test_key_response_signed_by_every_current_key() -> None:
    clock = FakeClock()
    current = [SigningKey.generate("one"), SigningKey.generate("two")]
    old_key = SigningKey.generate("old")
    service = ServerKeyService(
        "example.org",
        current,
        {old_key.key_id: OldVerifyKey(VerifyKey(old_key.key_id, old_key.key.verify_key), 5)},
        3_600_000,
        clock,
    )
    assert service.signing_key.key_id == "ed25519:one"
    body = service.server_keys()
    assert body["valid_until_ts"] == clock.now + 3_600_000
    assert body["old_verify_keys"] == {
        "ed25519:old": {"key": old_key.verify_key.encode(), "expired_ts": 5}
    }
    assert set(body["signatures"]["example.org"]) == {"ed25519:one", "ed25519:two"}
    for key_id, entry in body["verify_keys"].items():
        verify_key = signedjson.key.decode_verify_key_bytes(key_id, decode_base64(entry["key"]))
        signedjson.sign.verify_signed_json(body, "example.org", verify_key)
    clock.now += 1000
    assert service.server_keys()["valid_until_ts"] == clock.now + 3_600_000


def test_needs_a_key() -> None:
    with pytest.raises(ValueError):
        ServerKeyService("example.org", [], {}, 1, FakeClock())
