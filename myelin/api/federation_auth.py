"""The ``X-Matrix`` verifier of the Authenticator (spec: Server-Server API, "Request
Authentication"): adapts ``FederationRequestVerifier`` to ``XMatrixVerifier``.
"""

from myelin.api.auth import AuthKind, Requester, XMatrixCredentials
from myelin.services.federation_auth import FederationRequestVerifier


class XMatrixAuth:
    def __init__(self, verifier: FederationRequestVerifier) -> None:
        self._verifier = verifier

    async def verify_x_matrix(
        self, credentials: XMatrixCredentials, method: str, uri: str, body: bytes
    ) -> Requester | None:
        origin = await self._verifier.verify(
            origin=credentials.origin,
            destination=credentials.destination,
            key_id=credentials.key,
            signature=credentials.sig,
            method=method,
            uri=uri,
            body=body,
        )
        if origin is None:
            return None
        return Requester(AuthKind.X_MATRIX, server_name=origin)
