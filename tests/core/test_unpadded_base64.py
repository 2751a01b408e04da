"""Tests for unpadded base64 (spec: Appendices, "Unpadded Base64")."""

import pytest
import unpaddedbase64
from hypothesis import given
from hypothesis import strategies as st

from myelin.core.errors import ProtocolError
from myelin.core.unpadded_base64 import decode_base64, encode_base64

SPEC_EXAMPLES = [
    (b"", ""),
    (b"f", "Zg"),
    (b"fo", "Zm8"),
    (b"foo", "Zm9v"),
    (b"foob", "Zm9vYg"),
    (b"fooba", "Zm9vYmE"),
    (b"foobar", "Zm9vYmFy"),
]


@pytest.mark.parametrize(("raw", "encoded"), SPEC_EXAMPLES)
def test_spec_examples(raw: bytes, encoded: str) -> None:
    assert encode_base64(raw) == encoded
    assert decode_base64(encoded) == raw


def test_url_safe_alphabet() -> None:
    raw = bytes([0xFB, 0xFF, 0xBF])
    assert encode_base64(raw) == "+/+/"
    assert encode_base64(raw, urlsafe=True) == "-_-_"
    assert decode_base64("-_-_") == raw


@pytest.mark.parametrize("padded", ["Zg==", "Zm8=", "Zm9v"])
def test_padding_accepted(padded: str) -> None:
    assert decode_base64(padded) == decode_base64(padded.rstrip("="))


@pytest.mark.parametrize(
    "bad",
    ["Z", "Zg=", "Zg===", "Zm9v=", "Zm!v", "Zm9v\n", " Zm9v", "+_8A", "é", "Zm=9"],
)
def test_invalid_rejected(bad: str) -> None:
    with pytest.raises(ProtocolError):
        decode_base64(bad)


@given(st.binary(), st.booleans())
def test_round_trip(raw: bytes, urlsafe: bool) -> None:
    encoded = encode_base64(raw, urlsafe=urlsafe)
    assert "=" not in encoded
    assert decode_base64(encoded) == raw


@given(st.binary(), st.booleans())
def test_matches_unpaddedbase64(raw: bytes, urlsafe: bool) -> None:
    encoded = encode_base64(raw, urlsafe=urlsafe)
    assert encoded == unpaddedbase64.encode_base64(raw, urlsafe=urlsafe)
    assert decode_base64(encoded) == unpaddedbase64.decode_base64(encoded)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))
def test_agrees_with_reference_on_any_standard_string(text: str) -> None:
    try:
        expected = unpaddedbase64.decode_base64(text)
    except ValueError:
        with pytest.raises(ProtocolError):
            decode_base64(text)
        return
    assert decode_base64(text) == expected
