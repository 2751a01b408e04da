"""Interop with Myelin (test harness; Client-Server API): the scenario of ``facts.py`` driven by
matrix-nio and by matrix-js-sdk against a real Myelin process gives ``facts.EXPECTED``, the facts
the same libraries observe against Synapse (``test_synapse.py``).

Marked ``pending_myelin`` while endpoints the scenario needs are still being built: excluded
from ``make test`` (see the Makefile) until the lead re-enables it.
"""

import pytest

from tests.interop.drivers import run_js, run_nio
from tests.interop.facts import EXPECTED
from tests.interop.servers import ServerHandle

pytestmark = pytest.mark.pending_myelin


async def test_nio_against_myelin(myelin_server: ServerHandle) -> None:
    assert await run_nio(myelin_server.base_url) == EXPECTED


async def test_js_sdk_against_myelin(myelin_server: ServerHandle) -> None:
    assert await run_js(myelin_server.base_url) == EXPECTED
