"""Helpers for the end-to-end encryption tests: a client's device and cross-signing keys,
signed as real clients sign them."""

from typing import Any

import nacl.signing

from myelin.core.signing import SigningKey, sign_json
from myelin.core.unpadded_base64 import encode_base64
from tests.api.account_support import V3
from tests.api.room_support import User

KEYS = "client-server/keys.yaml"
CROSS = "client-server/cross_signing.yaml"


def device_signing_key(device_id: str) -> SigningKey:
    return SigningKey(f"ed25519:{device_id}", nacl.signing.SigningKey.generate())


def cross_signing_key() -> tuple[SigningKey, str]:
    raw = nacl.signing.SigningKey.generate()
    public = encode_base64(bytes(raw.verify_key))
    return SigningKey(f"ed25519:{public}", raw), public


def device_keys(user: User, key: SigningKey) -> dict[str, Any]:
    unsigned = {
        "user_id": user.user_id,
        "device_id": user.device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            f"curve25519:{user.device_id}": encode_base64(bytes(32)),
            key.key_id: key.verify_key.encode(),
        },
    }
    return sign_json(unsigned, user.user_id, key)


def signed_key(user: User, key: SigningKey, n: int, *, fallback: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"key": encode_base64(n.to_bytes(32, "big"))}
    if fallback:
        body["fallback"] = True
    return sign_json(body, user.user_id, key)


def cross_key(user: User, usage: str, public: str) -> dict[str, Any]:
    return {"user_id": user.user_id, "usage": [usage], "keys": {f"ed25519:{public}": public}}


async def upload(user: User, status: int = 200, **body: Any) -> Any:
    return await user.request("POST", f"{V3}/keys/upload", json=body, status=status)


async def query(user: User, device_keys: dict[str, list[str]], status: int = 200) -> Any:
    return await user.request(
        "POST", f"{V3}/keys/query", json={"device_keys": device_keys}, status=status
    )


async def claim(user: User, wanted: dict[str, dict[str, str]], status: int = 200) -> Any:
    return await user.request(
        "POST", f"{V3}/keys/claim", json={"one_time_keys": wanted}, status=status
    )
