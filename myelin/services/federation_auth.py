"""Authenticating inbound federation requests (spec: Server-Server API, "Request
Authentication").

``FederationRequestVerifier.verify`` checks an ``X-Matrix`` request: the ``destination`` (when
sent) must be this server (401), the origin must be allowed by the operator's
``FederationPolicy`` (403), and the signature over method, URI, origin, destination and the
JSON body must verify with a key of the origin that is valid now (401).
"""

import logging

import orjson

from myelin.clock import Clock
from myelin.core.errors import SignatureError
from myelin.core.identifiers import is_valid_server_name
from myelin.federation.policy import FederationPolicy
from myelin.federation.request_signing import NO_CONTENT, verify_request_signature
from myelin.services.errors import MatrixError
from myelin.services.key_ring import KeyLookupError, KeyRing

logger = logging.getLogger("myelin.federation.auth")


class FederationRequestVerifier:
    def __init__(
        self, server_name: str, key_ring: KeyRing, policy: FederationPolicy, clock: Clock
    ) -> None:
        self._server_name = server_name
        self._key_ring = key_ring
        self._policy = policy
        self._clock = clock

    async def verify(
        self,
        *,
        origin: str,
        destination: str | None,
        key_id: str,
        signature: str,
        method: str,
        uri: str,
        body: bytes,
    ) -> str | None:
        """The authenticated origin, or None when the signature does not check out.

        Raise ``MatrixError`` for a wrong destination (401), a refused origin (403) or a body
        that is not JSON (400).
        """
        if destination is not None and destination != self._server_name:
            raise MatrixError(
                401, "M_UNAUTHORIZED", f"Request is for {destination}, not {self._server_name}"
            )
        if not is_valid_server_name(origin):
            return None
        if not self._policy.permits(origin):
            raise MatrixError(403, "M_FORBIDDEN", f"Federation denied with {origin}")
        content = NO_CONTENT
        if body:
            try:
                content = orjson.loads(body)
            except orjson.JSONDecodeError as e:
                raise MatrixError(400, "M_NOT_JSON", "Content not JSON.") from e
        try:
            key = await self._key_ring.get_verify_key(origin, key_id, self._clock.now_ms())
        except KeyLookupError as e:
            logger.info("Cannot authenticate a request from %s: %s", origin, e)
            return None
        try:
            verify_request_signature(
                method=method,
                uri=uri,
                origin=origin,
                # Older senders omit the destination parameter; the signed JSON still
                # names us as the destination.
                destination=destination if destination is not None else self._server_name,
                signature=signature,
                verify_key=key,
                content=content,
            )
        except SignatureError as e:
            logger.info("Bad X-Matrix signature from %s: %s", origin, e)
            return None
        return origin
