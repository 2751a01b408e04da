"""Tests for JSON signing (spec: Appendices, "Signing JSON" and "Cryptographic Test Vectors")."""

from typing import Any

import pytest
import signedjson.key
import signedjson.sign
from hypothesis import given, settings
from hypothesis import strategies as st

from myelin.core.canonical_json import MAX_INT, MIN_INT
from myelin.core.errors import ProtocolError, SignatureError
from myelin.core.signing import (
    SigningKey,
    VerifyKey,
    read_signing_keys,
    sign_json,
    verify_signature,
    write_signing_keys,
)
from myelin.core.unpadded_base64 import decode_base64

SEED_B64 = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
SERVER_NAME = "domain"


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.from_seed("1", decode_base64(SEED_B64))


def test_spec_vector_empty_object(key: SigningKey) -> None:
    assert sign_json({}, SERVER_NAME, key) == {
        "signatures": {
            "domain": {
                "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg"
                "4ahLwYGYZzuHGZKM5ZAQ"
            }
        }
    }


def test_spec_vector_object_with_data(key: SigningKey) -> None:
    assert sign_json({"one": 1, "two": "Two"}, SERVER_NAME, key) == {
        "one": 1,
        "signatures": {
            "domain": {
                "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG"
                "6kYdD13EIMJpvhJI+6Bw"
            }
        },
        "two": "Two",
    }


def test_unsigned_and_existing_signatures_not_covered(key: SigningKey) -> None:
    signed = sign_json({"a": 1, "unsigned": {"age": 5}}, SERVER_NAME, key)
    other = SigningKey.from_seed("2", bytes(32))
    both = sign_json(signed, "other", other)
    both["unsigned"] = {"age": 99}
    verify_signature(both, SERVER_NAME, key.verify_key)
    verify_signature(both, "other", other.verify_key)


def test_sign_json_does_not_mutate(key: SigningKey) -> None:
    original: dict[str, Any] = {"a": 1, "signatures": {"x": {"ed25519:0": "sig"}}}
    sign_json(original, SERVER_NAME, key)
    assert original == {"a": 1, "signatures": {"x": {"ed25519:0": "sig"}}}


def test_tampered_object_fails(key: SigningKey) -> None:
    signed = sign_json({"one": 1}, SERVER_NAME, key)
    signed["one"] = 2
    with pytest.raises(SignatureError):
        verify_signature(signed, SERVER_NAME, key.verify_key)


@pytest.mark.parametrize(
    "signatures",
    [None, {}, {"domain": {}}, {"domain": {"ed25519:1": 5}}, {"domain": {"ed25519:1": "!!"}}],
)
def test_missing_or_malformed_signature_fails(key: SigningKey, signatures: Any) -> None:
    obj: dict[str, Any] = {"a": 1}
    if signatures is not None:
        obj["signatures"] = signatures
    with pytest.raises(SignatureError):
        verify_signature(obj, SERVER_NAME, key.verify_key)


def test_lenient_mode_signs_non_canonical_values(key: SigningKey) -> None:
    obj = {"big": 2**64, "f": 0.5}
    with pytest.raises(ProtocolError):
        sign_json(obj, SERVER_NAME, key)
    signed = sign_json(obj, SERVER_NAME, key, strict=False)
    verify_signature(signed, SERVER_NAME, key.verify_key, strict=False)
    with pytest.raises(SignatureError):
        verify_signature(signed, SERVER_NAME, key.verify_key)
    # The same bytes as matrix-org's signedjson, which is lenient too.
    their_key = signedjson.key.decode_signing_key_base64("ed25519", "1", SEED_B64)
    assert signedjson.sign.sign_json(dict(obj), SERVER_NAME, their_key) == signed


def test_wrong_key_fails(key: SigningKey) -> None:
    signed = sign_json({"a": 1}, SERVER_NAME, key)
    other = SigningKey.from_seed("1", bytes(32)).verify_key
    with pytest.raises(SignatureError):
        verify_signature(signed, SERVER_NAME, other)


def test_verify_key_decode(key: SigningKey) -> None:
    encoded = key.verify_key.encode()
    assert VerifyKey.decode("ed25519:1", encoded).key == key.verify_key.key
    with pytest.raises(SignatureError):
        VerifyKey.decode("curve25519:1", encoded)
    with pytest.raises(SignatureError):
        VerifyKey.decode("ed25519:1", "AAAA")


def test_key_file_round_trip_and_signedjson_format(key: SigningKey) -> None:
    text = write_signing_keys([key])
    # The spec's seed ends with non-zero padding bits ("...XA1"); it re-encodes as "...XA0".
    assert text == f"ed25519 1 {SEED_B64[:-1]}0\n"
    [read] = read_signing_keys(text)
    assert bytes(read.key) == bytes(key.key)
    [theirs] = signedjson.key.read_signing_keys(text.splitlines())
    assert bytes(theirs) == bytes(key.key)
    with pytest.raises(ProtocolError):
        read_signing_keys("ed25519 1\n")


_text = st.text(st.characters(codec="utf-8"), max_size=10)
json_objects = st.dictionaries(
    _text.filter(lambda k: k not in ("signatures", "unsigned")),
    st.recursive(
        st.none() | st.booleans() | st.integers(MIN_INT, MAX_INT) | _text,
        lambda c: st.lists(c, max_size=3) | st.dictionaries(_text, c, max_size=3),
        max_leaves=10,
    ),
    max_size=5,
)


@settings(max_examples=50)
@given(json_objects)
def test_our_signatures_verify_with_signedjson(obj: dict[str, Any]) -> None:
    key = SigningKey.from_seed("1", decode_base64(SEED_B64))
    signed = sign_json(obj, SERVER_NAME, key)
    their_verify_key = signedjson.key.get_verify_key(
        signedjson.key.decode_signing_key_base64("ed25519", "1", SEED_B64)
    )
    signedjson.sign.verify_signed_json(signed, SERVER_NAME, their_verify_key)


@settings(max_examples=50)
@given(json_objects)
def test_signedjson_signatures_verify_with_ours(obj: dict[str, Any]) -> None:
    their_key = signedjson.key.decode_signing_key_base64("ed25519", "1", SEED_B64)
    signed = signedjson.sign.sign_json(dict(obj), SERVER_NAME, their_key)
    ours = SigningKey.from_seed("1", decode_base64(SEED_B64))
    verify_signature(signed, SERVER_NAME, ours.verify_key)
    assert signed == sign_json(obj, SERVER_NAME, ours)
