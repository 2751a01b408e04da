"""Cross-signing keys uploaded by an application service (Client-Server API,
``POST /keys/device_signing/upload``, changed in v1.17: "no longer requires User-Interactive
Authentication when used by an application service")."""

from pathlib import Path
from typing import Any

from myelin.core.signing import sign_json
from tests.api.appservice_support import (
    V3,
    Bridge,
    as_auth,
    register_as_user,
    start_homeserver,
    write_registration,
)
from tests.api.conftest import FakeClock, MakeConfig
from tests.api.e2e_support import cross_signing_key


def _keys(user_id: str) -> dict[str, Any]:
    master, master_pub = cross_signing_key()
    _, ssk_pub = cross_signing_key()

    def key(usage: str, public: str) -> dict[str, Any]:
        return {"user_id": user_id, "usage": [usage], "keys": {f"ed25519:{public}": public}}

    return {
        "master_key": key("master", master_pub),
        "self_signing_key": sign_json(key("self_signing", ssk_pub), user_id, master),
    }


async def test_appservice_replaces_cross_signing_keys_without_uia(
    make_config: MakeConfig, clock: FakeClock, tmp_path: Path
) -> None:
    bridge = Bridge()
    await bridge.server.start_server()
    hs, client = await start_homeserver(make_config, clock, write_registration(tmp_path, None))
    try:
        alice = await register_as_user(client, "_bridge_alice")
        path = f"{V3}/keys/device_signing/upload?user_id={alice}"
        first = await client.post(path, json=_keys(alice), headers=as_auth())
        assert first.status == 200, await first.text()
        # New keys over existing ones: a regular client would get a UIA challenge.
        replacement = _keys(alice)
        second = await client.post(path, json=replacement, headers=as_auth())
        assert second.status == 200, await second.text()
        served = await client.post(
            f"{V3}/keys/query?user_id={alice}",
            json={"device_keys": {alice: []}},
            headers=as_auth(),
        )
        body = await served.json()
        assert body["master_keys"][alice]["keys"] == replacement["master_key"]["keys"]
        # Refusals still apply: a self-signing key not signed by the master key.
        bad = _keys(alice)
        bad["self_signing_key"] = _keys(alice)["self_signing_key"]
        refused = await client.post(path, json=bad, headers=as_auth())
        assert refused.status == 400
        assert (await refused.json())["errcode"] == "M_INVALID_SIGNATURE"
    finally:
        await client.close()
        await hs.close()
        await bridge.server.close()
