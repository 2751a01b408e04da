"""Third-party networks (spec: Client-Server API, "Third-party Networks"; Application Service
API, "Third-party Networks").

The homeserver answers these lookups by asking the application services that registered the
protocol. ``ThirdPartyNetworks`` is that seam; ``NoThirdPartyNetworks`` is what a server without
application services answers: no protocols, so every per-protocol lookup is 404 ``M_NOT_FOUND``
(the spec's "protocol is unknown" / "nothing found"), and reverse lookups find nothing (an
empty list, as Synapse answers). Application service support replaces it with one that queries
the registered services.
"""

from collections.abc import Mapping
from typing import Any, Protocol

from myelin.services.errors import MatrixError


class ThirdPartyNetworks(Protocol):
    async def protocols(self) -> dict[str, Any]:
        """Protocol name -> metadata (the spec's ``Protocol`` object)."""
        ...

    async def query_location(
        self, protocol: str, fields: Mapping[str, str]
    ) -> list[dict[str, Any]] | None:
        """Portal rooms for a third-party location; None when the protocol is unknown."""
        ...

    async def query_user(
        self, protocol: str, fields: Mapping[str, str]
    ) -> list[dict[str, Any]] | None:
        """Matrix users for a third-party user; None when the protocol is unknown."""
        ...

    async def location_by_alias(self, alias: str) -> list[dict[str, Any]]: ...

    async def user_by_id(self, user_id: str) -> list[dict[str, Any]]: ...


class NoThirdPartyNetworks:
    """No application services: no protocols."""

    async def protocols(self) -> dict[str, Any]:
        return {}

    async def query_location(
        self, protocol: str, fields: Mapping[str, str]
    ) -> list[dict[str, Any]] | None:
        return None

    async def query_user(
        self, protocol: str, fields: Mapping[str, str]
    ) -> list[dict[str, Any]] | None:
        return None

    async def location_by_alias(self, alias: str) -> list[dict[str, Any]]:
        return []

    async def user_by_id(self, user_id: str) -> list[dict[str, Any]]:
        return []


class ThirdPartyLookups:
    """The client lookups, over whichever networks are registered."""

    def __init__(self, networks: ThirdPartyNetworks) -> None:
        self._networks = networks

    async def protocols(self) -> dict[str, Any]:
        return await self._networks.protocols()

    async def protocol(self, protocol: str) -> dict[str, Any]:
        found = (await self._networks.protocols()).get(protocol)
        if not isinstance(found, dict):
            raise MatrixError(404, "M_NOT_FOUND", "The protocol is unknown")
        return found

    async def location(self, protocol: str, fields: Mapping[str, str]) -> list[dict[str, Any]]:
        found = await self._networks.query_location(protocol, fields)
        if not found:
            raise MatrixError(404, "M_NOT_FOUND", "No portal rooms were found")
        return found

    async def user(self, protocol: str, fields: Mapping[str, str]) -> list[dict[str, Any]]:
        found = await self._networks.query_user(protocol, fields)
        if not found:
            raise MatrixError(404, "M_NOT_FOUND", "The Matrix User ID was not found")
        return found

    async def location_by_alias(self, alias: str) -> list[dict[str, Any]]:
        return await self._networks.location_by_alias(alias)

    async def user_by_id(self, user_id: str) -> list[dict[str, Any]]:
        return await self._networks.user_by_id(user_id)
