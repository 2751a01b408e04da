"""Asking application services (spec: Application Service API, "Querying", "Pinging" and
"Third-party networks"; Client-Server API, "Published room directories").

``AppserviceQueries`` asks the services owning a namespace about a user or alias that does not
exist yet (a 200 answer means the service has now created it), pings a service for
``POST /_matrix/client/v1/appservice/{appserviceId}/ping``, and manages the room directories
services publish. ``AppserviceNetworks`` is the third-party networks seam of
``myelin.services.thirdparty``: protocols and lookups proxied to the services that registered
the protocol.
"""

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from myelin.clock import Clock
from myelin.config.appservices import AppserviceRegistration
from myelin.services.appservice.client import (
    APP_V1,
    AppserviceClient,
    AppserviceUnreachableError,
)
from myelin.services.appservice.registry import AppserviceRegistry
from myelin.services.errors import MatrixError
from myelin.storage.appservices import AppserviceStore, ListedRoom


class AliasLookup(Protocol):
    async def get_alias(self, room_alias: str) -> Any: ...


class RoomExists(Protocol):
    async def get_room(self, room_id: str) -> Any: ...


class UserExists(Protocol):
    async def get_user(self, user_id: str) -> Any: ...


class AppserviceQueries:
    def __init__(
        self,
        registry: AppserviceRegistry,
        client: AppserviceClient,
        *,
        users: UserExists,
        aliases: AliasLookup,
        rooms: RoomExists,
        store: AppserviceStore,
        clock: Clock,
    ) -> None:
        self._registry = registry
        self._client = client
        self._users = users
        self._aliases = aliases
        self._rooms = rooms
        self._store = store
        self._clock = clock

    def may_manage_alias(self, user_id: str, alias: str) -> bool:
        return self._registry.may_manage_alias(user_id, alias)

    async def query_user(self, user_id: str) -> bool:
        """Ask the services whose users namespaces hold ``user_id`` (``GET /users/{userId}``);
        whether the user exists afterwards."""
        for registration in self._registry.user_namespace_owners(user_id):
            if registration.url is None:
                continue
            if (
                await self._client.query_exists(registration, "users", user_id)
                and await self._users.get_user(user_id) is not None
            ):
                return True
        return False

    async def query_alias(self, alias: str) -> bool:
        """Ask the services whose aliases namespaces hold ``alias`` (``GET /rooms/{alias}``);
        whether the alias exists afterwards."""
        for registration in self._registry.alias_namespace_owners(alias):
            if registration.url is None:
                continue
            if (
                await self._client.query_exists(registration, "rooms", alias)
                and await self._aliases.get_alias(alias) is not None
            ):
                return True
        return False

    async def ping(
        self, appservice_id: str, requester_appservice_id: str, transaction_id: str | None
    ) -> int:
        """``POST /_matrix/client/v1/appservice/{appserviceId}/ping``: the duration in ms."""
        registration = self._registry.get(appservice_id)
        if registration is None or registration.id != requester_appservice_id:
            raise MatrixError(
                403, "M_FORBIDDEN", "Provided access token is not the appservice's as_token"
            )
        if registration.url is None:
            raise MatrixError(
                400, "M_URL_NOT_SET", "Application service doesn't have a URL configured"
            )
        body: dict[str, str] = {}
        if transaction_id is not None:
            body["transaction_id"] = transaction_id
        started = self._clock.monotonic()
        try:
            response = await self._client.request(
                registration, "POST", f"{APP_V1}/ping", body=orjson.dumps(body)
            )
        except AppserviceUnreachableError as e:
            if e.timed_out:
                raise MatrixError(
                    504, "M_CONNECTION_TIMEOUT", "Connection to application service timed out"
                ) from e
            raise MatrixError(
                502, "M_CONNECTION_FAILED", f"Connection to application service failed: {e}"
            ) from e
        duration_ms = round((self._clock.monotonic() - started) * 1000)
        if not response.ok:
            error = MatrixError(502, "M_BAD_STATUS", f"Ping returned status {response.status}")
            # The spec's extra keys; "status" is also MatrixError's first parameter.
            error.extra["status"] = response.status
            error.extra["body"] = response.body.decode("utf-8", errors="replace")
            raise error
        return max(duration_ms, 0)

    # ---- published room directories -------------------------------------------------------

    async def set_room_listed(
        self, appservice_id: str, network_id: str, room_id: str, visibility: str
    ) -> None:
        """``PUT /directory/list/appservice/{networkId}/{roomId}``."""
        if await self._rooms.get_room(room_id) is None:
            raise MatrixError(404, "M_NOT_FOUND", f"Unknown room {room_id}")
        await self._store.set_room_listed(
            appservice_id, network_id, room_id, visibility == "public"
        )

    async def listed_rooms(self, instance_id: str | None) -> list[ListedRoom]:
        """The rooms of one third-party instance (``appservice|network``), or of all."""
        if instance_id is None:
            return await self._store.listed_rooms()
        appservice_id, _, network_id = instance_id.partition("|")
        if not network_id:
            return []
        return await self._store.listed_rooms(appservice_id, network_id)


def instance_id(registration: AppserviceRegistration, network_id: str) -> str:
    """The ``instance_id`` of a protocol instance: unique across services (as Synapse)."""
    return f"{registration.id}|{network_id}"


# The keys a lookup result must have (spec: the Location and User objects), by lookup kind.
_RESULT_KEYS = {
    "location": ("alias", "protocol", "fields"),
    "user": ("userid", "protocol", "fields"),
}
# The keys of the spec's Protocol object.
_PROTOCOL_KEYS = ("user_fields", "location_fields", "icon", "field_types")


def _results(kind: str, value: Any) -> list[dict[str, Any]]:
    """The well-formed results of a service's answer (anything else is left out)."""
    if not isinstance(value, list):
        return []
    return [
        item
        for item in value
        if isinstance(item, dict)
        and all(key in item for key in _RESULT_KEYS[kind])
        and isinstance(item["fields"], dict)
    ]


class AppserviceNetworks:
    """Third-party networks answered by the application services (``ThirdPartyNetworks``)."""

    def __init__(self, registry: AppserviceRegistry, client: AppserviceClient) -> None:
        self._registry = registry
        self._client = client

    def _with_protocol(self, protocol: str) -> list[AppserviceRegistration]:
        return [
            r for r in self._registry.registrations if r.url is not None and protocol in r.protocols
        ]

    async def protocols(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for registration in self._registry.registrations:
            if registration.url is None:
                continue
            for protocol in registration.protocols:
                answer = await self._client.get_json(
                    registration, f"{APP_V1}/thirdparty/protocol/{quote(protocol, safe='')}"
                )
                if not isinstance(answer, dict) or not all(k in answer for k in _PROTOCOL_KEYS):
                    continue
                instances = [
                    {**instance, "instance_id": instance_id(registration, instance["network_id"])}
                    for instance in answer.get("instances") or []
                    if isinstance(instance, dict) and isinstance(instance.get("network_id"), str)
                ]
                if protocol in found:
                    # Several services for one protocol: their instances are merged.
                    found[protocol]["instances"].extend(instances)
                else:
                    found[protocol] = {**answer, "instances": instances}
        return found

    async def _query(
        self, kind: str, protocol: str, fields: Mapping[str, str]
    ) -> list[dict[str, Any]] | None:
        services = self._with_protocol(protocol)
        if not services:
            return None
        results: list[dict[str, Any]] = []
        for registration in services:
            answer = await self._client.get_json(
                registration, f"{APP_V1}/thirdparty/{kind}/{quote(protocol, safe='')}", fields
            )
            results.extend(_results(kind, answer))
        return results

    async def query_location(
        self, protocol: str, fields: Mapping[str, str]
    ) -> list[dict[str, Any]] | None:
        return await self._query("location", protocol, fields)

    async def query_user(
        self, protocol: str, fields: Mapping[str, str]
    ) -> list[dict[str, Any]] | None:
        return await self._query("user", protocol, fields)

    async def _reverse(self, kind: str, key: str, value: str) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for registration in self._registry.registrations:
            if registration.url is None or not registration.protocols:
                continue
            answer = await self._client.get_json(
                registration, f"{APP_V1}/thirdparty/{kind}", {key: value}
            )
            results.extend(_results(kind, answer))
        return results

    async def location_by_alias(self, alias: str) -> list[dict[str, Any]]:
        return await self._reverse("location", "alias", alias)

    async def user_by_id(self, user_id: str) -> list[dict[str, Any]]:
        return await self._reverse("user", "userid", user_id)
