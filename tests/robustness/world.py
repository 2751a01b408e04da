"""A populated server for the robustness sweep, and the one way it sends and judges requests
(spec: Client-Server API, "Standard error response").

``World`` holds a logged-in admin user with a room, a message, an alias, a filter, a media item,
a key backup version and a registration token, so that valid path parameters reach the
endpoints' deeper code. ``World.send`` sends raw bytes to a raw (already percent-encoded) path;
``judge`` lists what is wrong with an answer: any 5xx, a 4xx without ``errcode``/``error``, an
error code the spec does not define, a status the spec does not document for the operation.
"""

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import ClientTimeout
from yarl import URL

from myelin.api.auth import AuthKind
from myelin.api.http import Endpoint
from tests.api.account_support import V3, Client, auth_header, login, shared_secret_register
from tests.api.conftest import SERVER_NAME
from tests.robustness.spec_index import Operation, spec_errcodes

V1 = "/_matrix/client/v1"
USER = "robust"

# Statuses any endpoint may answer beside those its OpenAPI lists: malformed requests (400),
# authentication (401), permission (403, "Common error codes"), unknown things (404), too large
# (413) and rate limits (429).
GENERIC_STATUSES = frozenset({400, 401, 403, 404, 413, 429})

# Endpoints whose success removes what the sweep relies on (the session, the room, the account):
# swept last.
DESTRUCTIVE = (
    "logout",
    "deactivate",
    "delete",
    "leave",
    "forget",
    "kick",
    "ban",
    "upgrade",
    "password",
    "quarantine",
)


@dataclass
class Outcome:
    """One request and its answer, for failure messages."""

    method: str
    description: str
    status: int
    body: bytes
    content_type: str


@dataclass
class World:
    client: Client
    user_id: str = ""
    device_id: str = ""
    token: str = ""
    room_id: str = ""
    event_id: str = ""
    alias: str = ""
    filter_id: str = ""
    media_id: str = ""
    backup_version: str = ""
    registration_token: str = ""
    txns: int = 0

    def txn(self) -> str:
        self.txns += 1
        return f"robust{self.txns}"

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = await self.client.request(
            method, path, json=body, headers=auth_header(self.token), **kwargs
        )
        answer = await response.json()
        assert response.status == 200, (method, path, response.status, answer)
        return answer

    async def relogin(self) -> None:
        """A new session when the sweep logged the previous one out."""
        answer = await login(self.client, USER)
        self.token = answer["access_token"]
        self.device_id = answer["device_id"]

    async def send(
        self,
        endpoint: Endpoint,
        raw_path: str,
        body: bytes | None = None,
        *,
        authenticated: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Outcome:
        """Send ``body`` to ``raw_path`` (query included, percent-encoding kept as given)."""
        all_headers = {"Content-Type": "application/json"}
        if authenticated and endpoint.auth is AuthKind.ACCESS_TOKEN:
            all_headers.update(auth_header(self.token))
        all_headers.update(headers or {})
        root = str(self.client.make_url("/")).rstrip("/")
        url = URL(root + raw_path, encoded=True)
        description = f"{endpoint.method} {raw_path[:300]} body={(body or b'')[:200]!r}"
        try:
            async with self.client.session.request(
                endpoint.method,
                url,
                data=body,
                headers=all_headers,
                timeout=ClientTimeout(total=20),
            ) as response:
                answer = await response.read()
                content_type = response.headers.get("Content-Type", "")
                return Outcome(endpoint.method, description, response.status, answer, content_type)
        except TimeoutError:
            return Outcome(endpoint.method, description, 599, b"(no answer within 20 s)", "")


def _names_a_remote_server(description: str) -> bool:
    """Whether the request's query names a server to ask (``server=...``)."""
    _, _, rest = description.partition("?")
    query = rest.split(" ", 1)[0]
    return any(part.startswith("server=") for part in query.split("&"))


def judge(outcome: Outcome, operation: Operation | None) -> str | None:
    """What is wrong with an answer, or ``None``."""
    status = outcome.status
    where = f"{outcome.description} -> {status} {outcome.body[:300]!r}"
    # A 5xx only where the spec documents it (502 and 504 on remote media: the remote server
    # failed or is slow, as Synapse answers); never a 500.
    documented = operation is not None and status in operation.statuses
    # A request that names another server to ask (``/publicRooms?server=``) may fail at that
    # server: 502 is the gateway's honest answer (Synapse's too), the spec lists no status.
    gateway = status == 502 and _names_a_remote_server(outcome.description)
    if status >= 500 and (status == 500 or not (documented or gateway)):
        return f"server error: {where}"
    if status < 400:
        return None
    if outcome.method == "HEAD":
        return None  # no body in answers to HEAD
    if not outcome.content_type.startswith("application/json"):
        return f"error without JSON: {where}"
    try:
        body = orjson.loads(outcome.body)
    except orjson.JSONDecodeError:
        return f"error body not JSON: {where}"
    if not isinstance(body, dict):
        return f"error body not an object: {where}"
    if status == 401 and "flows" in body and "errcode" not in body:
        # "User-interactive authentication API": the first 401 of a flow has no errcode.
        return None
    errcode, error = body.get("errcode"), body.get("error")
    if not isinstance(errcode, str) or not isinstance(error, str):
        return f"error without errcode and error strings: {where}"
    if errcode not in spec_errcodes():
        return f"errcode {errcode} not defined by the spec: {where}"
    if (
        operation is not None
        and status not in operation.statuses
        and status not in GENERIC_STATUSES
        and not (status == 405 and errcode == "M_UNRECOGNIZED")
        and not gateway
    ):
        return f"status {status} not documented for the operation: {where}"
    return None


def valid_segment(name: str, world: World, path: str) -> str:
    """A valid, percent-encoded value for the path parameter ``name``."""
    values = {
        "roomId": world.room_id,
        "roomIdOrAlias": world.room_id,
        "roomAlias": world.alias,
        "eventId": world.event_id,
        "userId": world.user_id,
        "deviceId": world.device_id,
        "eventType": "m.room.topic" if "/state/" in path else "m.room.message",
        "stateKey": "",
        "txnId": world.txn(),
        "filterId": world.filter_id,
        "type": "org.example.robust",
        "tag": "u.robust",
        "keyName": "displayname",
        "token": world.registration_token,
        "kind": "override",
        "ruleId": "org.example.robust",
        "receiptType": "m.read",
        "relType": "m.reference",
        "version": world.backup_version,
        "sessionId": "robust-session",
        "serverName": SERVER_NAME,
        "mediaId": world.media_id,
        "fileName": "robust.txt",
    }
    return quote(values.get(name, "robust"), safe="")


async def populate(client: Client) -> World:
    """Register the admin user and create what valid path parameters point at."""
    world = World(client)
    registered = await shared_secret_register(client, USER, admin=True)
    world.user_id = registered["user_id"]
    await world.relogin()
    created = await world.call(
        "POST", f"{V3}/createRoom", {"room_alias_name": "robust", "name": "Robust"}
    )
    world.room_id = created["room_id"]
    world.alias = f"#robust:{SERVER_NAME}"
    sent = await world.call(
        "PUT",
        f"{V3}/rooms/{quote(world.room_id)}/send/m.room.message/{world.txn()}",
        {"msgtype": "m.text", "body": "hello"},
    )
    world.event_id = sent["event_id"]
    made = await world.call("POST", f"{V3}/user/{quote(world.user_id)}/filter", {})
    world.filter_id = made["filter_id"]
    uploaded = await client.post(
        "/_matrix/media/v3/upload",
        data=b"robust media",
        headers={**auth_header(world.token), "Content-Type": "text/plain"},
    )
    assert uploaded.status == 200, await uploaded.text()
    world.media_id = (await uploaded.json())["content_uri"].rsplit("/", 1)[1]
    version = await world.call(
        "POST",
        f"{V3}/room_keys/version",
        {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"public_key": "k"}},
    )
    world.backup_version = version["version"]
    token = await world.call("POST", "/_synapse/admin/v1/registration_tokens/new", {})
    world.registration_token = token["token"]
    return world


async def ensure_session(world: World) -> None:
    """Log in again when a swept endpoint ended the session."""
    response = await world.client.get(f"{V3}/account/whoami", headers=auth_header(world.token))
    if response.status == 401:
        await world.relogin()
    await asyncio.sleep(0)


def sweep_order(endpoints: list[Endpoint]) -> list[Endpoint]:
    """Endpoints in a stable order, the destructive ones last."""

    def key(endpoint: Endpoint) -> tuple[bool, str, str]:
        destructive = endpoint.method == "DELETE" or any(
            word in endpoint.name for word in DESTRUCTIVE
        )
        return destructive, endpoint.path, endpoint.method

    return sorted(endpoints, key=key)
