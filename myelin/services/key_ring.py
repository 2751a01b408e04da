"""Other servers' signing keys (spec: Server-Server API, "Retrieving server keys", "Querying Keys
Through Another Server", "Validating hashes and signatures on received events").

``KeyRing.get_verify_key`` finds a server's key: our own, the database cache, the server itself
(``GET /_matrix/key/v2/server``), then each configured notary (``POST /_matrix/key/v2/query``).
Every key response is checked (server name, self-signatures, notary signature) before it is
cached with its ``valid_until_ts``. ``notary_query`` answers ``/_matrix/key/v2/query`` as a
notary. ``verify_event_signatures`` checks a PDU's required signatures with the room version's
key-validity rule (``enforce_key_validity``).
"""

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from myelin.clock import Clock
from myelin.core.errors import InvalidIdentifierError, ProtocolError, SignatureError
from myelin.core.event_signing import required_signers, verify_event_signature
from myelin.core.identifiers import is_valid_server_name
from myelin.core.room_versions import RoomVersion
from myelin.core.signing import ED25519, VerifyKey, sign_json, verify_signature
from myelin.federation.client import FederationClient, FederationError
from myelin.services.server_keys import ServerKeyService
from myelin.storage.server_keys import NewServerKey, ServerKeyStore, StoredServerKey

logger = logging.getLogger("myelin.federation.keys")

# "Servers MUST use the lesser of [valid_until_ts] and 7 days into the future when determining
# if a key is valid" (keys definition, valid_until_ts).
MAX_KEY_VALIDITY_MS = 7 * 86_400_000
# After a failed fetch for a server, do not try again for this long (Myelin's choice, so that
# a stream of requests signed by an unknown key does not become a stream of key requests).
FAILED_FETCH_COOLDOWN_MS = 30_000
KEY_FETCH_TIMEOUT_S = 30.0


class KeyLookupError(Exception):
    """No usable key could be found."""


@dataclass(frozen=True)
class TrustedKeyServer:
    """A notary (``trusted_key_servers`` entry); ``verify_keys`` by key ID, unpadded base64.

    Without ``verify_keys`` the notary's own keys are looked up like any server's.
    """

    server_name: str
    verify_keys: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifiedKeys:
    """A key response that passed the checks."""

    server_name: str
    response: dict[str, Any]
    valid_until_ts: int
    keys: list[NewServerKey]


def check_key_response(response: Any, server_name: str) -> VerifiedKeys:
    """Check a ``/_matrix/key/v2/server`` response of ``server_name``: its shape, its name and
    its signatures by its own ``verify_keys`` (at least one, and every one present valid).

    Raise ``SignatureError`` (or ``ProtocolError`` for a malformed response).
    """
    if not isinstance(response, dict):
        raise ProtocolError("key response is not an object")
    if response.get("server_name") != server_name:
        raise ProtocolError(f"key response is for {response.get('server_name')!r}")
    valid_until = response.get("valid_until_ts")
    if not isinstance(valid_until, int) or isinstance(valid_until, bool):
        raise ProtocolError("key response lacks an integer valid_until_ts")
    verify_keys = response.get("verify_keys")
    if not isinstance(verify_keys, dict):
        raise ProtocolError("key response lacks verify_keys")
    keys: list[NewServerKey] = []
    current: dict[str, VerifyKey] = {}
    for key_id, entry in verify_keys.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise ProtocolError(f"verify key {key_id!r} is malformed")
        if not key_id.startswith(ED25519 + ":"):
            continue  # An algorithm we do not know: ignored.
        current[key_id] = VerifyKey.decode(key_id, entry["key"])
        keys.append(NewServerKey(key_id, entry["key"]))
    old = response.get("old_verify_keys", {})
    if not isinstance(old, dict):
        raise ProtocolError("old_verify_keys is not an object")
    for key_id, entry in old.items():
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("key"), str)
            or not isinstance(entry.get("expired_ts"), int)
        ):
            raise ProtocolError(f"old verify key {key_id!r} is malformed")
        if key_id.startswith(ED25519 + ":") and key_id not in current:
            VerifyKey.decode(key_id, entry["key"])
            keys.append(NewServerKey(key_id, entry["key"], int(entry["expired_ts"])))
    signatures = response.get("signatures")
    own = signatures.get(server_name) if isinstance(signatures, dict) else None
    if not isinstance(own, dict):
        raise SignatureError(f"key response is not signed by {server_name}")
    checked = 0
    for key_id in own:
        if key_id in current:
            verify_signature(response, server_name, current[key_id])
            checked += 1
    if checked == 0:
        raise SignatureError(f"key response is not signed by any of {server_name}'s keys")
    return VerifiedKeys(server_name, response, valid_until, keys)


def _usable_until(key: StoredServerKey) -> int:
    """Until when a cached key may be used: ``expired_ts`` for an old key, else the lesser of
    ``valid_until_ts`` and 7 days after it was fetched."""
    if key.expired_ts is not None:
        return key.expired_ts
    return min(key.valid_until_ts, key.fetched_ts + MAX_KEY_VALIDITY_MS)


class KeyRing:
    """Finds, checks and caches other servers' signing keys; answers as a notary."""

    def __init__(
        self,
        *,
        server_name: str,
        own_keys: ServerKeyService,
        store: ServerKeyStore,
        client: FederationClient | None,
        clock: Clock,
        trusted_key_servers: Sequence[TrustedKeyServer] = (),
    ) -> None:
        self._server_name = server_name
        self._own = own_keys
        self._store = store
        self._client = client
        self._clock = clock
        self._notaries = list(trusted_key_servers)
        self._locks: dict[str, asyncio.Lock] = {}
        self._failed_at: dict[str, int] = {}

    # -- finding keys -------------------------------------------------------------------------

    def _own_key(self, key_id: str) -> tuple[VerifyKey, int] | None:
        response = self._own.server_keys()
        entry = response["verify_keys"].get(key_id)
        if entry is not None:
            return VerifyKey.decode(key_id, entry["key"]), int(response["valid_until_ts"])
        old = response["old_verify_keys"].get(key_id)
        if old is not None:
            return VerifyKey.decode(key_id, old["key"]), int(old["expired_ts"])
        return None

    async def _cached(self, server_name: str, key_id: str, minimum: int) -> VerifyKey | None:
        key = (await self._store.get_server_keys(server_name)).get(key_id)
        if key is None or _usable_until(key) < minimum:
            return None
        return VerifyKey.decode(key_id, key.verify_key)

    async def get_verify_key(
        self, server_name: str, key_id: str, minimum_valid_until_ts: int = 0
    ) -> VerifyKey:
        """``server_name``'s key ``key_id``, usable until at least ``minimum_valid_until_ts``
        (0: any key ever published). Raise ``KeyLookupError``."""
        if server_name == self._server_name:
            own = self._own_key(key_id)
            if own is None or own[1] < minimum_valid_until_ts:
                raise KeyLookupError(f"we have no key {key_id} valid then")
            return own[0]
        try:
            cached = await self._cached(server_name, key_id, minimum_valid_until_ts)
            if cached is not None:
                return cached
        except SignatureError as e:
            raise KeyLookupError(str(e)) from e
        lock = self._locks.setdefault(server_name, asyncio.Lock())
        async with lock:
            try:
                cached = await self._cached(server_name, key_id, minimum_valid_until_ts)
            except SignatureError as e:
                raise KeyLookupError(str(e)) from e
            if cached is not None:
                return cached
            failed = self._failed_at.get(server_name)
            if failed is None or self._clock.now_ms() - failed >= FAILED_FETCH_COOLDOWN_MS:
                await self._fetch(server_name, key_id, minimum_valid_until_ts)
                cached = await self._cached(server_name, key_id, minimum_valid_until_ts)
                if cached is None:
                    self._failed_at[server_name] = self._clock.now_ms()
                else:
                    self._failed_at.pop(server_name, None)
        if cached is None:
            raise KeyLookupError(
                f"no key {key_id} of {server_name} valid until {minimum_valid_until_ts}"
            )
        return cached

    async def _fetch(self, server_name: str, key_id: str, minimum: int) -> None:
        """Ask the server itself, then each notary until one knows the key."""
        if self._client is None or not is_valid_server_name(server_name):
            return
        if await self.fetch_direct(server_name) and await self._cached(
            server_name, key_id, minimum
        ):
            return
        for notary in self._notaries:
            if notary.server_name == server_name:
                continue
            await self._fetch_from_notary(notary, server_name, key_id, minimum)
            if await self._cached(server_name, key_id, minimum) is not None:
                return

    async def fetch_direct(self, server_name: str) -> bool:
        """Fetch ``GET /_matrix/key/v2/server`` from the server; cache it if it checks out."""
        if self._client is None:
            return False
        try:
            response = await self._client.get_json(
                server_name,
                "/_matrix/key/v2/server",
                ignore_backoff=True,
                timeout_s=KEY_FETCH_TIMEOUT_S,
            )
            verified = check_key_response(response, server_name)
        except (FederationError, ProtocolError) as e:
            logger.info("Fetching the keys of %s directly failed: %s", server_name, e)
            return False
        await self._save(verified)
        return True

    async def _fetch_from_notary(
        self, notary: TrustedKeyServer, server_name: str, key_id: str, minimum: int
    ) -> None:
        assert self._client is not None
        criteria: dict[str, Any] = {} if minimum <= 0 else {"minimum_valid_until_ts": minimum}
        try:
            answer = await self._client.post_json(
                notary.server_name,
                "/_matrix/key/v2/query",
                {"server_keys": {server_name: {key_id: criteria}}},
                timeout_s=KEY_FETCH_TIMEOUT_S,
            )
        except FederationError as e:
            logger.info(
                "Asking notary %s for %s's keys failed: %s", notary.server_name, server_name, e
            )
            return
        entries = answer.get("server_keys") if isinstance(answer, dict) else None
        if not isinstance(entries, list):
            logger.info("Notary %s answered without a server_keys list", notary.server_name)
            return
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("server_name") != server_name:
                continue
            try:
                await self._check_notary_signature(notary, entry)
                verified = check_key_response(entry, server_name)
            except (ProtocolError, KeyLookupError) as e:
                logger.warning(
                    "Notary %s gave unverifiable keys of %s: %s", notary.server_name, server_name, e
                )
                continue
            await self._save(verified)

    async def _check_notary_signature(
        self, notary: TrustedKeyServer, entry: Mapping[str, Any]
    ) -> None:
        signatures = entry.get("signatures")
        by_notary = signatures.get(notary.server_name) if isinstance(signatures, dict) else None
        if not isinstance(by_notary, dict) or not by_notary:
            raise SignatureError(f"not signed by notary {notary.server_name}")
        for key_id in by_notary:
            if notary.verify_keys:
                if key_id not in notary.verify_keys:
                    continue
                key = VerifyKey.decode(key_id, notary.verify_keys[key_id])
            else:
                key = await self.get_verify_key(notary.server_name, key_id, self._clock.now_ms())
            verify_signature(entry, notary.server_name, key)
            return
        raise SignatureError(f"not signed by a trusted key of notary {notary.server_name}")

    async def _save(self, verified: VerifiedKeys) -> None:
        await self._store.store_key_response(
            verified.server_name,
            key_json=orjson.dumps(verified.response).decode(),
            valid_until_ts=verified.valid_until_ts,
            keys=verified.keys,
            fetched_ts=self._clock.now_ms(),
        )

    # -- checking signatures ------------------------------------------------------------------

    async def verify_json_signed_by(
        self, obj: Mapping[str, Any], server_name: str, minimum_valid_until_ts: int = 0
    ) -> None:
        """Check that ``obj`` carries a valid signature of ``server_name`` by a key usable at
        ``minimum_valid_until_ts``; raise ``SignatureError``."""
        await self._verify_signed(obj, server_name, minimum_valid_until_ts, None)

    async def _verify_signed(
        self,
        obj: Mapping[str, Any],
        server_name: str,
        minimum: int,
        room_version: RoomVersion | None,
    ) -> None:
        signatures = obj.get("signatures")
        by_server = signatures.get(server_name) if isinstance(signatures, Mapping) else None
        if not isinstance(by_server, Mapping) or not by_server:
            raise SignatureError(f"not signed by {server_name}")
        problems: list[str] = []
        for key_id in by_server:
            if not isinstance(key_id, str) or not key_id.startswith(ED25519 + ":"):
                continue
            try:
                key = await self.get_verify_key(server_name, key_id, minimum)
            except KeyLookupError as e:
                problems.append(str(e))
                continue
            if room_version is None:
                verify_signature(obj, server_name, key)
            else:
                verify_event_signature(obj, server_name, key, room_version)
            return
        raise SignatureError(
            f"no usable key of {server_name} for its signature: {'; '.join(problems) or 'none'}"
        )

    async def verify_event_signatures(
        self, pdu: Mapping[str, Any], room_version: RoomVersion
    ) -> None:
        """Check every signature a received PDU needs (spec: "Validating hashes and signatures
        on received events"); raise ``SignatureError``.

        With ``enforce_key_validity`` (room version 5+) a key must be valid at the event's
        ``origin_server_ts``; before that any key the server ever published will do.
        """
        try:
            servers = required_signers(pdu, room_version)
        except InvalidIdentifierError as e:
            raise SignatureError(f"cannot tell who must sign: {e}") from e
        minimum = 0
        if room_version.enforce_key_validity:
            ts = pdu.get("origin_server_ts")
            minimum = ts if isinstance(ts, int) and not isinstance(ts, bool) else 0
        for server in sorted(servers):
            await self._verify_signed(pdu, server, minimum, room_version)

    # -- serving as a notary ------------------------------------------------------------------

    async def notary_query(
        self, server_name: str, minimum_valid_until_ts: int | None = None
    ) -> list[dict[str, Any]]:
        """The key responses of ``server_name`` we can vouch for, each signed by us.

        Fresh enough cached responses are served as they are; otherwise the server is asked
        again, and a stale cached response is served when it cannot be reached (spec: notaries
        "can return keys for servers that are offline ... by using cached responses").
        """
        if server_name == self._server_name:
            return [self._own.server_keys()]
        minimum = self._clock.now_ms() if minimum_valid_until_ts is None else minimum_valid_until_ts
        stored = await self._store.get_key_response(server_name)
        if (stored is None or stored.valid_until_ts < minimum) and is_valid_server_name(
            server_name
        ):
            lock = self._locks.setdefault(server_name, asyncio.Lock())
            async with lock:
                stored = await self._store.get_key_response(server_name)
                if stored is None or stored.valid_until_ts < minimum:
                    await self.fetch_direct(server_name)
                    stored = await self._store.get_key_response(server_name)
        if stored is None:
            return []
        response = orjson.loads(stored.key_json)
        return [sign_json(response, self._server_name, self._own.signing_key)]
