"""Interop with Myelin (test harness; Client-Server API): the scenario of ``facts.py`` driven by
matrix-nio and by matrix-js-sdk against a real Myelin process gives ``facts.EXPECTED``, the facts
the same libraries observe against Synapse (``test_synapse.py``).

Marked ``pending_myelin`` while endpoints the scenario needs are still being built: excluded
from ``make test`` (see the Makefile) until the lead re-enables it.
"""

import pytest

from tests.interop.drivers import check, run_js, run_nio
from tests.interop.servers import ServerHandle

pytestmark = pytest.mark.pending_myelin


async def test_nio_against_myelin(myelin_server: ServerHandle) -> None:
    check(await run_nio(myelin_server.base_url))


async def test_js_sdk_against_myelin(myelin_server: ServerHandle) -> None:
    check(await run_js(myelin_server.base_url))
