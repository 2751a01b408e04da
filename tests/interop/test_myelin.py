"""Interop with Myelin (test harness; Client-Server API): the scenario of ``facts.py`` driven by
matrix-nio and by matrix-js-sdk against a real Myelin process gives ``facts.EXPECTED``, the facts
the same libraries observe against Synapse (``test_synapse.py``).

Runs on both engines (``MYELIN_TEST_DB``). A step Myelin cannot pass yet would go into a module
marked ``pending_myelin``, which ``make test`` leaves out (see the Makefile); none is at present.
"""

from tests.interop.drivers import check, run_js, run_nio
from tests.interop.servers import ServerHandle


async def test_nio_against_myelin(myelin_server: ServerHandle) -> None:
    check(await run_nio(myelin_server.base_url))


async def test_js_sdk_against_myelin(myelin_server: ServerHandle) -> None:
    check(await run_js(myelin_server.base_url))
