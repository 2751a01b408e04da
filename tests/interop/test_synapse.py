"""Interop with Synapse (test harness; Client-Server API): the scenario of ``facts.py`` driven by
matrix-nio and by matrix-js-sdk against Synapse from PyPI gives ``facts.EXPECTED``.

This pins what real clients observe on the reference server; the Myelin tests compare against the
same facts, so a pass on both sides means both servers look the same to both libraries. Marked
``synapse``: run in the SQLite pass only (Synapse itself always runs on SQLite).
"""

import pytest

from tests.interop.drivers import check, run_js, run_nio
from tests.interop.servers import ServerHandle

pytestmark = pytest.mark.synapse


async def test_nio_against_synapse(synapse_server: ServerHandle) -> None:
    check(await run_nio(synapse_server.base_url))


async def test_js_sdk_against_synapse(synapse_server: ServerHandle) -> None:
    check(await run_js(synapse_server.base_url))
