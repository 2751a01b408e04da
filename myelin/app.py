"""The composition root (Myelin architecture; no spec section).

config -> database -> stores -> services -> HTTP apps, each object given its dependencies
through its constructor. ``open_homeserver`` builds everything, ``listener_app`` the aiohttp
application of one listener, ``serve`` binds the listeners until asked to stop.
"""

import asyncio
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from myelin import __version__
from myelin.api.account import account_endpoints
from myelin.api.account_data import account_data_endpoints
from myelin.api.auth import Authenticator
from myelin.api.client_versions import versions_endpoints
from myelin.api.devices import device_endpoints
from myelin.api.directory import directory_endpoints
from myelin.api.federation_version import federation_version_endpoints
from myelin.api.filters import filter_endpoints
from myelin.api.http import Endpoint, RequestLimits, build_web_app
from myelin.api.login import AccessTokens, login_endpoints
from myelin.api.logout import logout_endpoints
from myelin.api.membership import membership_endpoints
from myelin.api.metrics import HttpMetrics
from myelin.api.monitoring import health_endpoints, metrics_endpoints
from myelin.api.profile import profile_endpoints
from myelin.api.register import register_endpoints
from myelin.api.registration_tokens import registration_token_endpoints
from myelin.api.relations import relation_endpoints
from myelin.api.room_creation import room_creation_endpoints
from myelin.api.room_events import room_event_endpoints
from myelin.api.room_send import room_send_endpoints
from myelin.api.room_state import room_state_endpoints
from myelin.api.server_keys import server_keys_endpoints
from myelin.api.shared_secret_registration import shared_secret_registration_endpoints
from myelin.api.sync import sync_endpoints
from myelin.api.wellknown import wellknown_endpoints
from myelin.clock import Clock, SystemClock
from myelin.config import HomeserverConfig, ListenerConfig
from myelin.core.signing import VerifyKey
from myelin.services.account_data import AccountDataService
from myelin.services.account_management import AccountManagementService, EventRoomLeaver
from myelin.services.accounts import AccountService
from myelin.services.auth_sessions import UserInteractiveAuth
from myelin.services.devices import DeviceService
from myelin.services.directory import Directory
from myelin.services.event_serving import EventPresenter
from myelin.services.events import EventService, EventWriter, RandomIds
from myelin.services.filters import FilterService
from myelin.services.login import LoginService, TokenLifetimes
from myelin.services.notifier import InProcessNotifier, Notifier
from myelin.services.profile import MemberEventPropagator, ProfileService
from myelin.services.ratelimit import FederationRateLimiter, RateLimiter, ratelimiters_from_config
from myelin.services.registration import RegistrationPolicy, RegistrationService
from myelin.services.registration_tokens import RegistrationTokenService
from myelin.services.relations import Relations
from myelin.services.room_actions import RoomActions
from myelin.services.room_reads import RoomReads
from myelin.services.rooms import RoomService
from myelin.services.server_keys import (
    OldVerifyKey,
    ServerKeyService,
    load_or_generate_signing_keys,
)
from myelin.services.sync import (
    AccountDataProvider,
    LazyMemberCache,
    RoomsProvider,
    SyncService,
)
from myelin.storage import Database, PostgresParams, Stores, make_stores, open_postgres, open_sqlite

logger = logging.getLogger("myelin")


async def open_database(config: HomeserverConfig) -> Database:
    """Connect to the configured engine (no migrations)."""
    db = config.database
    if db.engine == "sqlite":
        return await open_sqlite(config.sqlite_path)
    args = db.args
    return await open_postgres(
        PostgresParams(
            host=args.host or "127.0.0.1",
            port=args.port or 5432,
            user=args.user or "postgres",
            password=args.password,
            database=args.dbname or args.database or "myelin",
            min_size=args.cp_min,
            max_size=args.cp_max,
        )
    )


def describe_database(config: HomeserverConfig) -> str:
    """The engine and where it is, without secrets, for log lines."""
    if config.database.engine == "sqlite":
        return f"SQLite ({config.sqlite_path})"
    args = config.database.args
    where = f"{args.host or '127.0.0.1'}:{args.port or 5432}/{args.dbname or args.database}"
    return f"PostgreSQL ({args.user or 'postgres'}@{where})"


@dataclass
class Homeserver:
    """Every long-lived object of a running server."""

    config: HomeserverConfig
    clock: Clock
    database: Database
    stores: Stores
    accounts: AccountService
    login: LoginService
    devices: DeviceService
    profile: ProfileService
    registration: RegistrationService
    notifier: Notifier
    event_writer: EventWriter
    events: EventService
    rooms: RoomService
    server_keys: ServerKeyService
    metrics: HttpMetrics
    authenticator: Authenticator
    ratelimiter: RateLimiter
    federation_ratelimiter: FederationRateLimiter
    sync: SyncService
    account_data: AccountDataService
    filters: FilterService
    endpoints: list[Endpoint] = field(default_factory=list)

    async def close(self) -> None:
        await self.database.close()


async def open_homeserver(
    config: HomeserverConfig, *, clock: Clock | None = None, migrate: bool = True
) -> Homeserver:
    """Connect, migrate, load (or generate) the signing key and build the services."""
    clock = clock if clock is not None else SystemClock()
    signing_keys, generated = load_or_generate_signing_keys(config.signing_key_file)
    if generated:
        logger.info(
            "Generated signing key %s in %s", signing_keys[0].key_id, config.signing_key_file
        )
    database = await open_database(config)
    try:
        if migrate:
            applied = await database.migrate()
            if applied:
                logger.info("Applied database migrations %s", ", ".join(map(str, applied)))
        stores = make_stores(database)
    except BaseException:
        await database.close()
        raise
    old_keys = {
        key_id: OldVerifyKey(VerifyKey.decode(key_id, old.key), old.expired_ts)
        for key_id, old in config.old_signing_keys.items()
    }
    server_keys = ServerKeyService(
        config.server_name, signing_keys, old_keys, config.key_refresh_interval, clock
    )
    accounts = AccountService(config.server_name, stores.users, clock, config.bcrypt_rounds)
    notifier = InProcessNotifier(clock)
    ids = RandomIds()
    event_writer = EventWriter(
        server_name=config.server_name,
        signing_key=server_keys.signing_key,
        events=stores.events,
        state=stores.state,
        notifier=notifier,
        clock=clock,
        ids=ids,
    )
    events = EventService(
        server_name=config.server_name,
        writer=event_writer,
        rooms=stores.rooms,
        state=stores.state,
        events=stores.events,
        profiles=stores.users,
    )
    rooms = RoomService(
        server_name=config.server_name,
        writer=event_writer,
        rooms=stores.rooms,
        clock=clock,
        ids=ids,
        profiles=stores.users,
    )
    room_reads = RoomReads(
        events=stores.events,
        state=stores.state,
        rooms=stores.rooms,
        reads=stores.room_reads,
        presenter=EventPresenter(
            relations=stores.relations, txn_ids=stores.room_reads, clock=clock
        ),
    )
    room_actions = RoomActions(
        events=events,
        event_store=stores.events,
        state=stores.state,
        rooms=stores.rooms,
        reads=stores.room_reads,
        clock=clock,
    )
    directory = Directory(
        server_name=config.server_name,
        rooms=stores.rooms,
        state=stores.state,
        events=stores.events,
        reads=stores.room_reads,
        users=stores.users,
        event_service=events,
        clock=clock,
    )
    relations = Relations(reads=room_reads, relations=stores.relations, events=stores.events)
    devices = DeviceService(stores.devices, clock)
    login = LoginService(
        config.server_name,
        users=stores.users,
        tokens=stores.tokens,
        login_tokens=stores.login_tokens,
        devices=devices,
        clock=clock,
        lifetimes=TokenLifetimes(
            refreshable_access=config.refreshable_access_token_lifetime,
            refresh=config.refresh_token_lifetime,
            nonrefreshable_access=config.nonrefreshable_access_token_lifetime,
            login_token=config.login_token_lifetime,
        ),
    )
    uia = UserInteractiveAuth(
        stores.uia_sessions, stores.registration_tokens, clock, login.check_password_auth
    )
    profile = ProfileService(
        config.server_name,
        stores.users,
        stores.profile_fields,
        MemberEventPropagator(stores.state, stores.events, events),
    )
    registration = RegistrationService(
        config.server_name,
        accounts=accounts,
        users=stores.users,
        clock=clock,
        policy=RegistrationPolicy(
            enabled=config.enable_registration,
            requires_token=config.registration_requires_token,
            allow_guests=config.allow_guest_access,
        ),
        bcrypt_rounds=config.bcrypt_rounds,
        shared_secret=config.registration_shared_secret,
    )
    registration_tokens = RegistrationTokenService(stores.registration_tokens, clock)
    account_management = AccountManagementService(
        users=stores.users,
        login=login,
        profile=profile,
        bcrypt_rounds=config.bcrypt_rounds,
        rooms=EventRoomLeaver(stores.state, events),
    )
    # Sync (helper-13): one provider per stream; other streams plug in with add_provider.
    account_data = AccountDataService(stores.account_data, InProcessNotifier(clock))
    filters = FilterService(stores.filters)
    sync_presenter = EventPresenter(
        relations=stores.relations, txn_ids=stores.room_reads, clock=clock
    )
    sync = SyncService(
        [
            RoomsProvider(
                positions=stores.events,
                sync_reads=stores.sync,
                rooms=stores.rooms,
                forgotten=stores.room_reads,
                reads=RoomReads(
                    events=stores.events,
                    state=stores.state,
                    rooms=stores.rooms,
                    reads=stores.room_reads,
                    presenter=sync_presenter,
                ),
                presenter=sync_presenter,
                notifier=notifier,
                lazy_members=LazyMemberCache(),
            ),
            AccountDataProvider(stores.account_data, account_data.notifier),
        ],
        clock=clock,
    )
    metrics = HttpMetrics(CollectorRegistry())
    ratelimiter, federation_ratelimiter = ratelimiters_from_config(config, clock)
    hs = Homeserver(
        config=config,
        clock=clock,
        database=database,
        stores=stores,
        accounts=accounts,
        login=login,
        devices=devices,
        profile=profile,
        registration=registration,
        notifier=notifier,
        event_writer=event_writer,
        events=events,
        rooms=rooms,
        server_keys=server_keys,
        metrics=metrics,
        authenticator=Authenticator(access_tokens=AccessTokens(login)),
        ratelimiter=ratelimiter,
        federation_ratelimiter=federation_ratelimiter,
        sync=sync,
        account_data=account_data,
        filters=filters,
    )
    hs.endpoints = [
        *health_endpoints(),
        *metrics_endpoints(metrics),
        *versions_endpoints(),
        *wellknown_endpoints(
            config.base_url, config.extra_well_known_client_content, config.serve_server_wellknown
        ),
        *server_keys_endpoints(server_keys),
        *federation_version_endpoints(__version__),
        *login_endpoints(
            login,
            uia,
            server_name=config.server_name,
            get_login_token_enabled=config.login_via_existing_session,
        ),
        *logout_endpoints(login),
        *register_endpoints(
            registration, login, uia, registration_tokens, server_name=config.server_name
        ),
        *account_endpoints(login, uia, account_management),
        *device_endpoints(devices, login, uia),
        *profile_endpoints(profile, login),
        *registration_token_endpoints(registration_tokens, login),
        *sync_endpoints(sync, filters),
        *filter_endpoints(filters),
        *account_data_endpoints(account_data),
        *shared_secret_registration_endpoints(registration, login, server_name=config.server_name),
        *room_creation_endpoints(rooms),
        *membership_endpoints(room_actions, room_reads),
        *room_state_endpoints(room_actions, room_reads),
        *room_send_endpoints(room_actions),
        *room_event_endpoints(room_reads),
        *directory_endpoints(directory),
        *relation_endpoints(relations),
    ]
    return hs


def listener_resources(listener: ListenerConfig) -> frozenset[str]:
    """What a listener serves: health always; federation includes keys; metrics listeners
    serve metrics only."""
    if listener.type == "metrics":
        return frozenset({"metrics", "health"})
    names = set(listener.resource_names) | {"health"}
    if "federation" in names:
        names.add("keys")
    return frozenset(names)


def listener_app(
    hs: Homeserver, listener: ListenerConfig, extra_endpoints: Sequence[Endpoint] = ()
) -> web.Application:
    """The aiohttp application of one listener (``extra_endpoints`` for tests)."""
    return build_web_app(
        [*hs.endpoints, *extra_endpoints],
        listener_resources(listener),
        authenticator=hs.authenticator,
        metrics=hs.metrics,
        clock=hs.clock,
        x_forwarded=listener.x_forwarded,
        limits=RequestLimits(hs.config.max_request_size, hs.ratelimiter, hs.federation_ratelimiter),
    )


async def serve(hs: Homeserver, stop: asyncio.Event) -> None:
    """Bind every listener, log what is served, and run until ``stop`` is set."""
    runners: list[web.AppRunner] = []
    try:
        for listener in hs.config.listeners:
            runner = web.AppRunner(listener_app(hs, listener), access_log=None)
            await runner.setup()
            runners.append(runner)
            for address in listener.bind_addresses:
                site = web.TCPSite(runner, address, listener.port)
                await site.start()
                logger.info(
                    "Listening on %s (%s: %s)",
                    _url(address, listener.port),
                    listener.type,
                    ", ".join(sorted(listener_resources(listener))),
                )
        logger.info("Myelin %s ready for %s", __version__, hs.config.server_name)
        await stop.wait()
        logger.info("Shutting down")
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def _url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}"


async def run_homeserver(config: HomeserverConfig) -> None:
    """Start the server and stop gracefully on SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, stop, signum)
    logger.info("Starting Myelin %s for server name %s", __version__, config.server_name)
    logger.info("Database: %s", describe_database(config))
    warn_about_lifted_limits(config)
    hs = await open_homeserver(config)
    try:
        logger.info("Database schema version %d", await hs.database.schema_version())
        await serve(hs, stop)
    finally:
        await hs.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        logger.info("Stopped")


def warn_about_lifted_limits(config: HomeserverConfig) -> None:
    """Log a WARNING when ``ratelimiting.enabled: false`` lifts every rate limit."""
    if not config.ratelimiting.enabled:
        logger.warning(
            "Rate limiting is disabled (ratelimiting.enabled: false): every rc_* limit is lifted"
        )


def _on_signal(stop: asyncio.Event, signum: Any) -> None:
    logger.info("Received %s", signal.Signals(signum).name)
    stop.set()
