"""SyncToken: serialisation round trips and strict parsing."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from myelin.services.sync import STREAM_NAMES, InvalidSyncTokenError, SyncToken

positions = st.integers(min_value=0, max_value=2**63 - 1)


@given(st.lists(positions, min_size=len(STREAM_NAMES), max_size=len(STREAM_NAMES)))
def test_round_trip(values: list[int]) -> None:
    token = SyncToken(**dict(zip(STREAM_NAMES, values, strict=True)))
    assert SyncToken.parse(token.serialize()) == token


def test_format_and_advance() -> None:
    token = SyncToken(events=5, typing=2)
    assert token.serialize() == "s5_0_0_2_0_0_0"
    assert token.advance("account_data", 9).serialize() == "s5_9_0_2_0_0_0"
    assert token.position("typing") == 2
    moved = token.advance_many({"receipts": 3, "device_lists": 4})
    assert moved.serialize() == "s5_0_3_2_0_0_4" and token.serialize() == "s5_0_0_2_0_0_0"
    assert token.advance_many({}) == token


@pytest.mark.parametrize(
    "text",
    [
        "",
        "s",
        "5_0_0_0_0_0_0",
        "s1_2_3",
        "s1_2_3_4_5_6_7_8",
        "s01_0_0_0_0_0_0",
        "s-1_0_0_0_0_0_0",
        "s1_0_0_0_0_0_x",
        "s1_0_0_0_0_0_0 ",
        "s9223372036854775808_0_0_0_0_0_0",
        "s١_0_0_0_0_0_0",
    ],
)
def test_rejects(text: str) -> None:
    with pytest.raises(InvalidSyncTokenError):
        SyncToken.parse(text)
