"""Decoding stored JSON quickly and exactly (spec: Appendices, "Canonical JSON" (integers); no
storage section: internals).

orjson decodes several times faster than the standard library, but it turns an integer beyond
64 bits into a float, and it refuses a lone UTF-16 surrogate escape. A PDU kept as received may
hold either (its hashes and signatures cover them), so such texts go to the standard library,
which keeps integers of any size exactly: a run of 19 digits or more anywhere in the text (a
string holding one only costs the slower decoder) or an orjson refusal sends it there.
"""

import json
from typing import Any

import orjson

# 2**63 has 19 digits: every integer orjson cannot keep has at least that many (JSON numbers
# are ASCII digits). The run is found in C: every ASCII digit byte maps to "0", every other
# byte to a space, then a substring search (a regex search cost 10 times the orjson decode).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_RUN = b"0" * 19


def _has_long_digit_run(text: str | bytes) -> bool:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    return _LONG_RUN in data.translate(_DIGITS_ONLY)


def loads_exact(text: str | bytes) -> Any:
    """The JSON value of ``text``, integers of any size kept exactly."""
    if _has_long_digit_run(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
