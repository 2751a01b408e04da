"""Decoding stored JSON quickly and exactly (spec: Appendices, "Canonical JSON" (integers); no
storage section: internals).

orjson decodes several times faster than the standard library, but it turns an integer beyond
64 bits into a float, and it refuses a lone UTF-16 surrogate escape. A PDU kept as received may
hold either (its hashes and signatures cover them), so such texts go to the standard library,
which keeps integers of any size exactly: a run of 19 digits or more anywhere in the text (a
string holding one only costs the slower decoder) or an orjson refusal sends it there.
"""

import json
import re
from typing import Any

import orjson

# 2**63 has 19 digits: every integer orjson cannot keep has at least that many.
_LONG_DIGITS = re.compile(r"\d{19}")


def loads_exact(text: str | bytes) -> Any:
    """The JSON value of ``text``, integers of any size kept exactly."""
    if isinstance(text, bytes):
        if _LONG_DIGITS.search(text.decode("utf-8", "replace")) is not None:
            return json.loads(text)
    elif _LONG_DIGITS.search(text) is not None:
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
