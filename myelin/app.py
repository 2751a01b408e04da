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

from myelin import __version__
from myelin.api.account import account_endpoints
from myelin.api.account_data import account_data_endpoints
from myelin.api.account_restrictions import SuspensionPolicy
from myelin.api.admin import admin_endpoints
from myelin.api.appservice_auth import AppserviceTokens, appservice_endpoints
from myelin.api.auth import Authenticator
from myelin.api.auth_fallback import auth_fallback_endpoints
from myelin.api.capabilities import capabilities_endpoints
from myelin.api.client_versions import versions_endpoints
from myelin.api.dehydrated_devices import dehydrated_device_endpoints
from myelin.api.devices import device_endpoints
from myelin.api.directory import directory_endpoints
from myelin.api.federation_auth import XMatrixAuth
from myelin.api.federation_keys import federation_keys_endpoints
from myelin.api.federation_media import federation_media_endpoints
from myelin.api.federation_queries import federation_query_endpoints
from myelin.api.federation_rooms import federation_room_endpoints
from myelin.api.federation_spaces import federation_space_endpoints
from myelin.api.federation_version import federation_version_endpoints
from myelin.api.filters import filter_endpoints
from myelin.api.http import Endpoint, RequestLimits, build_web_app
from myelin.api.keys import keys_endpoints
from myelin.api.legacy_reads import legacy_read_endpoints
from myelin.api.legacy_stream import legacy_stream_endpoints
from myelin.api.login import AccessTokens, login_endpoints
from myelin.api.login_fallback import login_fallback_endpoints
from myelin.api.logout import logout_endpoints
from myelin.api.media import media_endpoints
from myelin.api.media_admin import media_admin_endpoints
from myelin.api.membership import membership_endpoints
from myelin.api.metrics import HttpMetrics
from myelin.api.monitoring import health_endpoints, metrics_endpoints
from myelin.api.notifications import notification_endpoints
from myelin.api.openid import openid_endpoints
from myelin.api.presence import presence_endpoints
from myelin.api.profile import profile_endpoints
from myelin.api.push_rules import push_rule_endpoints
from myelin.api.pushers import pusher_endpoints
from myelin.api.receipts import receipt_endpoints
from myelin.api.register import register_endpoints
from myelin.api.registration_tokens import registration_token_endpoints
from myelin.api.relations import relation_endpoints
from myelin.api.reporting import reporting_endpoints
from myelin.api.room_creation import room_creation_endpoints
from myelin.api.room_events import room_event_endpoints
from myelin.api.room_keys import room_keys_endpoints
from myelin.api.room_send import room_send_endpoints
from myelin.api.room_state import room_state_endpoints
from myelin.api.room_upgrades import room_upgrade_endpoints
from myelin.api.search import search_endpoints
from myelin.api.server_keys import server_keys_endpoints
from myelin.api.shared_secret_registration import shared_secret_registration_endpoints
from myelin.api.spaces import space_endpoints
from myelin.api.support import support_endpoints
from myelin.api.sync import sync_endpoints
from myelin.api.thirdparty import thirdparty_endpoints
from myelin.api.to_device import to_device_endpoints
from myelin.api.typing import typing_endpoints
from myelin.api.user_directory import user_directory_endpoints
from myelin.api.voip import voip_endpoints
from myelin.api.wellknown import wellknown_endpoints
from myelin.clock import Clock, SystemClock
from myelin.config import HomeserverConfig, ListenerConfig
from myelin.core.events import EventView
from myelin.core.server_acl import AccessControl
from myelin.core.signing import VerifyKey
from myelin.federation.backoff import BackoffPolicy, DestinationBackoff
from myelin.federation.client import FederationClient
from myelin.federation.discovery import DnsResolver, SystemDnsResolver
from myelin.federation.policy import FederationPolicy
from myelin.federation.tls import ClientContextSource, LazyClientContext, server_ssl_context
from myelin.services.account_data import AccountDataService
from myelin.services.account_management import AccountManagementService, EventRoomLeaver
from myelin.services.accounts import AccountService
from myelin.services.admin import AccountModeration
from myelin.services.appservice.support import Appservices, build_appservices
from myelin.services.auth_sessions import UserInteractiveAuth
from myelin.services.dehydrated_devices import DehydratedDeviceService
from myelin.services.device_lists import (
    DeviceListService,
    DeviceListsProvider,
    MembershipTrackingNotifier,
)
from myelin.services.devices import DeviceService
from myelin.services.directory import Directory
from myelin.services.e2e_keys import E2EKeyService
from myelin.services.event_serving import EventPresenter
from myelin.services.events import EventService, EventWriter, RandomIds
from myelin.services.federation.backfill import Backfiller
from myelin.services.federation.device_updates import RemoteDeviceLists
from myelin.services.federation.edus import EduHandler
from myelin.services.federation.edus_out import OutboundEdus
from myelin.services.federation.hierarchy import RemoteHierarchy
from myelin.services.federation.invites import FederatedInvites
from myelin.services.federation.membership import FederatedMembership
from myelin.services.federation.receiver import PduReceiver
from myelin.services.federation.remote_rooms import RemoteRooms
from myelin.services.federation.sender import FederationSender
from myelin.services.federation.serving import RoomEventServer
from myelin.services.federation.transactions import TransactionHandler, room_acl_allows
from myelin.services.federation_auth import FederationRequestVerifier
from myelin.services.filters import FilterService
from myelin.services.invite_permission import InvitePermissions
from myelin.services.key_backup import KeyBackupService
from myelin.services.key_ring import KeyRing, TrustedKeyServer
from myelin.services.legacy_reads import LegacyReads
from myelin.services.legacy_stream import LegacyStream
from myelin.services.login import LoginService, TokenLifetimes
from myelin.services.media import LocalMediaBackend, MediaRepository, MediaSettings
from myelin.services.media.federation import FederationMediaFetcher
from myelin.services.media.url_preview import IpFilter, PreviewSettings, UrlPreviewer
from myelin.services.mutual_rooms import MutualRooms
from myelin.services.notifier import InProcessNotifier, Notifier
from myelin.services.openid import OpenIdService
from myelin.services.presence import PresenceProvider, PresenceService
from myelin.services.profile import MemberEventPropagator, ProfileService
from myelin.services.push import (
    NotificationService,
    PushEvaluator,
    PushRuleService,
    UnreadCountsDecorator,
)
from myelin.services.push_gateway.client import PushGatewayClient
from myelin.services.push_gateway.context import NotificationContext
from myelin.services.push_gateway.pool import PusherPool
from myelin.services.pushers import PusherService
from myelin.services.ratelimit import FederationRateLimiter, RateLimiter, ratelimiters_from_config
from myelin.services.receipts import ReceiptService, ReceiptsProvider
from myelin.services.registration import RegistrationPolicy, RegistrationService
from myelin.services.registration_tokens import RegistrationTokenService
from myelin.services.relations import Relations
from myelin.services.reporting import ReportingService
from myelin.services.room_actions import RoomActions
from myelin.services.room_reads import RoomReads
from myelin.services.rooms import RoomService
from myelin.services.search import SearchService
from myelin.services.server_keys import (
    OldVerifyKey,
    ServerKeyService,
    load_or_generate_signing_keys,
)
from myelin.services.spaces import SpaceSummaries
from myelin.services.sync import (
    AccountDataProvider,
    LazyMemberCache,
    RoomsProvider,
    SyncService,
)
from myelin.services.thirdparty import ThirdPartyLookups
from myelin.services.to_device import ToDeviceProvider, ToDeviceService
from myelin.services.typing import TypingProvider, TypingService
from myelin.services.upgrades import RoomUpgrader
from myelin.services.user_directory import UserDirectoryService
from myelin.services.voip import TurnService, TurnSettings
from myelin.storage import Database, PostgresParams, Stores, make_stores, open_postgres, open_sqlite
from myelin.storage.account_status import AccountStatusStore, OpenIdTokenStore
from myelin.storage.dehydrated_devices import DehydratedDeviceStore
from myelin.storage.device_lists import DeviceListStore
from myelin.storage.e2e_keys import E2EKeyStore
from myelin.storage.federation_rooms import (
    ForwardExtremityStore,
    OutboxStore,
    ReceivedTransactionStore,
)
from myelin.storage.key_backup import KeyBackupStore
from myelin.storage.search import SearchStore
from myelin.storage.server_keys import DestinationStore, ServerKeyStore
from myelin.storage.to_device import ToDeviceStore

logger = logging.getLogger("myelin")

# Seconds in-flight requests get to finish when the server stops.
SHUTDOWN_GRACE_S = 3.0


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
    media: MediaRepository | None = None
    federation: FederationClient | None = None
    key_ring: KeyRing | None = None
    federation_sender: FederationSender | None = None
    appservices: Appservices | None = None
    remote_devices: RemoteDeviceLists | None = None
    pusher_pool: PusherPool | None = None

    async def close(self) -> None:
        if self.pusher_pool is not None:
            await self.pusher_pool.close()
        if self.appservices is not None:
            await self.appservices.close()
        if self.federation_sender is not None:
            await self.federation_sender.close()
        if self.federation is not None:
            await self.federation.close()
        await self.database.close()


async def open_homeserver(
    config: HomeserverConfig,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    dns: DnsResolver | None = None,
) -> Homeserver:
    """Connect, migrate, load (or generate) the signing key and build the services
    (``dns``: the federation resolver, for tests)."""
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
    # Application services (helper-32): registrations, queries, the transaction queue.
    appservices = build_appservices(
        config.server_name,
        config.app_services,
        database=database,
        users=stores.users,
        devices=stores.devices,
        events=stores.events,
        state=stores.state,
        rooms=stores.rooms,
        clock=clock,
    )
    # End-to-end encryption (helper-16): membership changes feed the device list stream.
    device_list_store = DeviceListStore(database)
    device_lists = DeviceListService(device_list_store, InProcessNotifier(clock))
    event_writer = EventWriter(
        server_name=config.server_name,
        signing_key=server_keys.signing_key,
        events=stores.events,
        state=stores.state,
        notifier=MembershipTrackingNotifier(notifier, device_lists, device_list_store),
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
    # Invite blocking (helper-33): refused invites, invites hidden from /sync.
    invite_permissions = InvitePermissions(
        server_name=config.server_name, account_data=stores.account_data
    )
    events.invite_check = rooms.invite_check = invite_permissions.check_invite
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
        rooms=appservices.rooms,
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
    upgrader = RoomUpgrader(
        rooms=rooms,
        events=events,
        event_store=stores.events,
        state=stores.state,
        room_store=stores.rooms,
        directory=directory,
        clock=clock,
    )
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
        appservices.users,
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
    registration.namespaces = appservices.registry
    directory.appservices = appservices.queries
    room_actions.canonical_alias_check = directory.check_canonical_alias
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
                invites_blocked=invite_permissions.invites_blocked,
            ),
            AccountDataProvider(stores.account_data, account_data.notifier),
        ],
        clock=clock,
        stored_positions=stores.sync,
    )
    e2e_keys = E2EKeyService(
        config.server_name, E2EKeyStore(database), stores.devices, device_lists, clock
    )
    to_device = ToDeviceService(
        config.server_name, ToDeviceStore(database), stores.devices, InProcessNotifier(clock), clock
    )
    dehydrated = DehydratedDeviceService(
        DehydratedDeviceStore(database),
        stores.devices,
        devices.delete_devices,
        e2e_keys,
        to_device,
        clock.now_ms,
    )
    devices.deletion_hooks += [e2e_keys.delete_devices, to_device.delete_devices, dehydrated.forget]
    devices.rename_hooks.append(e2e_keys.device_renamed)
    sync.add_provider(ToDeviceProvider(to_device, e2e_keys))
    sync.add_provider(DeviceListsProvider(device_lists))
    # Typing, receipts, presence, push rules and counts, pushers, reports, user directory.
    typing = TypingService(clock, events, InProcessNotifier(clock))
    receipts = ReceiptService(
        store=stores.receipts,
        events=stores.events,
        memberships=events,
        account_data=account_data,
        notifier=InProcessNotifier(clock),
        clock=clock,
    )
    presence = PresenceService(
        store=stores.presence,
        sharing=stores.user_directory,
        notifier=InProcessNotifier(clock),
        clock=clock,
        enabled=config.presence.enabled,
    )
    event_writer.push = PushEvaluator(
        server_name=config.server_name,
        rules=stores.push_rules,
        events=stores.events,
        clock=clock,
    )
    sync.add_provider(TypingProvider(typing))
    sync.add_provider(ReceiptsProvider(receipts))
    sync.add_provider(PresenceProvider(presence))
    sync.add_decorator(UnreadCountsDecorator(stores.push_actions))
    sync.presence = presence
    pushers = PusherService(stores.pushers, clock)
    social_endpoints = [
        *typing_endpoints(typing),
        *receipt_endpoints(receipts),
        *presence_endpoints(presence),
        *push_rule_endpoints(PushRuleService(stores.push_rules, account_data, clock)),
        *pusher_endpoints(pushers),
        *notification_endpoints(
            NotificationService(
                actions=stores.push_actions,
                events=stores.events,
                state=stores.state,
                rooms=stores.rooms,
                presenter=sync_presenter,
            )
        ),
        *reporting_endpoints(
            ReportingService(
                server_name=config.server_name,
                store=stores.reports,
                events=stores.events,
                state=stores.state,
                history=stores.room_reads,
                rooms=stores.rooms,
                users=stores.users,
                memberships=events,
                clock=clock,
            )
        ),
        *user_directory_endpoints(
            UserDirectoryService(config.server_name, stores.user_directory, stores.users)
        ),
        *capabilities_endpoints(get_login_token=config.login_via_existing_session),
    ]
    metrics = HttpMetrics()
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
    # One outbound TLS context for federation requests and media redirects, made on first use.
    tls = client_tls(config)
    hs.federation, hs.key_ring, verifier = federation_transport(
        config, database, server_keys, clock, dns=dns, tls=tls
    )
    # Server administration (helper-27): locks and suspensions are checked on every request.
    moderation = AccountModeration(
        config.server_name,
        users=stores.users,
        devices=stores.devices,
        statuses=AccountStatusStore(database),
    )

    async def event_sender(room_id: str, event_id: str) -> str | None:
        stored = await stores.events.get_event(event_id)
        return stored.sender if stored is not None and stored.room_id == room_id else None

    hs.authenticator = Authenticator(
        access_tokens=AccessTokens(login, moderation),
        x_matrix=XMatrixAuth(verifier),
        appservice_tokens=AppserviceTokens(appservices.registry),
        suspension=SuspensionPolicy(event_sender),
    )
    hs.endpoints = [
        *health_endpoints(),
        *federation_keys_endpoints(hs.key_ring),
        *federation_query_endpoints(
            config.server_name, profile=profile, directory=directory, e2e_keys=e2e_keys
        ),
        *metrics_endpoints(metrics),
        *versions_endpoints(),
        *login_fallback_endpoints(),
        *auth_fallback_endpoints(uia),
        *wellknown_endpoints(
            config.base_url,
            config.extra_well_known_client_content,
            config.serve_server_wellknown,
            serve_client_wellknown=config.public_baseurl is not None,
        ),
        *server_keys_endpoints(server_keys),
        *federation_version_endpoints(__version__),
        *login_endpoints(
            login,
            uia,
            server_name=config.server_name,
            get_login_token_enabled=config.login_via_existing_session,
            appservices=appservices.registry,
        ),
        *logout_endpoints(login),
        *register_endpoints(
            registration,
            login,
            uia,
            registration_tokens,
            server_name=config.server_name,
            appservices=appservices.registry,
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
        *room_upgrade_endpoints(upgrader),
        *social_endpoints,
        *keys_endpoints(e2e_keys, device_lists, login, uia),
        *to_device_endpoints(to_device),
        *room_keys_endpoints(KeyBackupService(KeyBackupStore(database))),
        *dehydrated_device_endpoints(dehydrated),
    ]
    # Federation, the room side (helper-19): inbound transactions, serving, joins, sending.
    fed_receiver = PduReceiver(
        server_name=config.server_name,
        client=hs.federation,
        keys=hs.key_ring,
        writer=event_writer,
        events=stores.events,
    )
    fed_serving = RoomEventServer(
        server_name=config.server_name,
        events=stores.events,
        state=stores.state,
        rooms=stores.rooms,
        clock=clock,
        timestamps=stores.room_reads,
    )

    async def acl_allows(room_id: str, origin: str) -> bool:
        return await room_acl_allows(stores.state, stores.events, room_id, origin)

    edu_handler = EduHandler(
        acl_allows,
        typing=typing,
        receipts=receipts,
        presence=presence,
        to_device=to_device,
        device_lists=device_lists,
    )
    fed_transactions = TransactionHandler(
        receiver=fed_receiver,
        edus=edu_handler,
        rooms=stores.rooms,
        state=stores.state,
        events=stores.events,
        received=ReceivedTransactionStore(database),
        clock=clock,
    )
    fed_membership = FederatedMembership(
        server_name=config.server_name,
        signing_key=server_keys.signing_key,
        writer=event_writer,
        receiver=fed_receiver,
        serving=fed_serving,
        keys=hs.key_ring,
        events=stores.events,
        state=stores.state,
    )
    # Our users in rooms of other servers (helper-24): joins, leaves, knocks, invites.
    remote_rooms = RemoteRooms(
        server_name=config.server_name,
        signing_key=server_keys.signing_key,
        client=hs.federation,
        writer=event_writer,
        receiver=fed_receiver,
        keys=hs.key_ring,
        events=stores.events,
        state=stores.state,
        rooms=stores.rooms,
        extremities=ForwardExtremityStore(database),
        profiles=stores.users,
        clock=clock,
    )
    fed_invites = FederatedInvites(
        server_name=config.server_name,
        signing_key=server_keys.signing_key,
        remote=remote_rooms,
        writer=event_writer,
        events=stores.events,
        state=stores.state,
        signatures=hs.key_ring,
    )
    fed_invites.invite_check = invite_permissions.check_invite
    hs.endpoints += federation_room_endpoints(
        fed_transactions, fed_serving, fed_membership, fed_invites
    )
    hs.federation_sender = FederationSender(
        server_name=config.server_name,
        client=hs.federation,
        outbox=OutboxStore(database),
        events=stores.events,
        state=stores.state,
        backoff=hs.federation.backoff,
        clock=clock,
    )
    if config.federation.enabled:
        room_actions.use_federation(remote_rooms, fed_invites)
        directory.remote_aliases = remote_rooms
        directory.remote_public_rooms = remote_rooms
        fed_sender = hs.federation_sender

        async def broadcast(event: EventView, origin: str) -> None:
            servers = await fed_sender.destinations_for_room(event.room_id)
            await fed_sender.send_pdu(event.event_id, [s for s in servers if s != origin])

        fed_membership.broadcast = broadcast
        edus_out = OutboundEdus(fed_sender, clock, ids)
        typing.on_local_change = edus_out.typing
        receipts.on_local_receipt = edus_out.receipt
        to_device.send_remote = edus_out.to_device
        presence.on_change = edus_out.presence
        rooms.remote_invite = fed_invites.invite
        # E2EE across servers (helper-29): remote keys, device list and signing key updates.
        remote_devices = RemoteDeviceLists(
            server_name=config.server_name,
            client=hs.federation,
            sender=fed_sender,
            tracker=device_lists,
        )
        e2e_keys.remote = hs.remote_devices = remote_devices
        edu_handler.remote_devices = remote_devices
        fed_transactions.on_origin_seen = fed_sender.peer_is_back
        # History older than what we hold, from the room's other servers (helper-29).
        backfiller = Backfiller(
            server_name=config.server_name,
            client=hs.federation,
            receiver=fed_receiver,
            keys=hs.key_ring,
            events=stores.events,
            state=stores.state,
            rooms=stores.rooms,
            permits=fed_sender.permits,
        )
        room_reads.backfill = backfiller.backfill
        room_reads.remote_timestamp = backfiller.remote_timestamp_to_event
        event_writer.after_persist.append(hs.federation_sender.on_event_persisted)
        await hs.federation_sender.start()
    hs.media = media_repository(config, stores, clock, hs.federation, tls)
    previewer = None
    if config.url_preview_enabled:
        previewer = UrlPreviewer(
            PreviewSettings(
                ip_blacklist=config.url_preview_ip_range_blacklist,
                ip_whitelist=config.url_preview_ip_range_whitelist,
                url_blacklist=config.url_preview_url_blacklist,
                max_spider_size=config.max_spider_size,
                timeout_ms=config.url_preview_timeout,
            ),
            hs.media,
            clock,
        )
    hs.endpoints += [*media_endpoints(hs.media, previewer), *media_admin_endpoints(hs.media, login)]
    # Spaces; rooms of other servers through their federation /hierarchy (helper-29).
    spaces = SpaceSummaries(
        state=stores.state,
        events=stores.events,
        rooms=stores.rooms,
        directory=directory,
        remote=RemoteHierarchy(
            server_name=config.server_name,
            client=hs.federation,
            permits=hs.federation.policy.permits,
        )
        if config.federation.enabled
        else None,
    )
    hs.endpoints += federation_space_endpoints(spaces)
    # The remaining Client-Server modules (helper-27).
    hs.endpoints += [
        *search_endpoints(SearchService(store=SearchStore(database), reads=room_reads)),
        *admin_endpoints(moderation),
        *openid_endpoints(OpenIdService(config.server_name, OpenIdTokenStore(database), clock)),
        *voip_endpoints(TurnService(turn_settings(config), clock), login),
        *support_endpoints(config.support),
        *thirdparty_endpoints(
            ThirdPartyLookups(appservices.networks), appservices.queries.set_room_listed
        ),
        *appservice_endpoints(appservices.queries),
        *space_endpoints(
            spaces,
            MutualRooms(stores.state),
            AccessTokens(login, moderation),
        ),
        *legacy_read_endpoints(
            LegacyReads(reads=room_reads, events=stores.events, directory=directory)
        ),
        *legacy_stream_endpoints(
            LegacyStream(
                sync=sync,
                reads=room_reads,
                events=stores.events,
                directory=directory,
                notifier=notifier,
            )
        ),
    ]
    hs.endpoints += federation_media_endpoints(hs.media)
    event_writer.after_persist.append(appservices.transactions.on_event_persisted)
    typing.on_local_change, receipts.on_local_receipt = await appservices.start(
        typing_users=typing.typing_users,
        typing_hook=typing.on_local_change,
        receipt_hook=receipts.on_local_receipt,
    )
    hs.appservices = appservices
    await start_pushers(hs, pushers, receipts)
    return hs


async def start_pushers(hs: Homeserver, pushers: PusherService, receipts: ReceiptService) -> None:
    """Deliver push notifications to the push gateways of http pushers (``push.enabled``),
    through the ip_range_blacklist/ip_range_whitelist filter; without it pushers are only
    stored. Either way a device's pushers are deleted with it."""
    config, stores = hs.config, hs.stores
    if not config.push.enabled:

        async def delete_device_pushers(user_id: str, device_ids: Sequence[str]) -> None:
            for device_id in device_ids:
                await stores.pushers.delete_pushers_of_device(user_id, device_id)

        hs.devices.deletion_hooks.append(delete_device_pushers)
        return
    pool = PusherPool(
        store=stores.pushers,
        undelivered=stores.push_actions,
        client=PushGatewayClient(IpFilter(config.ip_range_blacklist, config.ip_range_whitelist)),
        context=NotificationContext(
            events=stores.events,
            state=stores.state,
            counts=stores.push_actions,
            group_unread_count_by_room=config.push.group_unread_count_by_room,
        ),
        clock=hs.clock,
        include_content=config.push.include_content,
    )
    pushers.on_change = pool.pushers_changed
    receipts.on_read = pool.on_receipt
    hs.devices.deletion_hooks.append(pool.devices_deleted)
    hs.event_writer.after_persist.append(pool.on_event_persisted)
    hs.pusher_pool = pool
    await pool.start()


def turn_settings(config: HomeserverConfig) -> TurnSettings:
    """The TURN options of the configuration (Synapse's turn_* keys)."""
    return TurnSettings(
        uris=config.turn_uris,
        shared_secret=config.turn_shared_secret,
        username=config.turn_username,
        password=config.turn_password,
        user_lifetime_ms=config.turn_user_lifetime,
        allow_guests=config.turn_allow_guests,
    )


def media_repository(
    config: HomeserverConfig,
    stores: Stores,
    clock: Clock,
    federation: FederationClient | None = None,
    tls: ClientContextSource | None = None,
) -> MediaRepository:
    """The media repository on the local filesystem under media_store_path; media of other
    servers fetched over federation (redirects of the origin followed only to addresses the
    url_preview IP lists allow)."""
    settings = MediaSettings(
        server_name=config.server_name,
        max_upload_size=config.max_upload_size,
        max_image_pixels=config.max_image_pixels,
        dynamic_thumbnails=config.dynamic_thumbnails,
        thumbnail_sizes=tuple((t.width, t.height, t.method) for t in config.thumbnail_sizes),
        enable_authenticated_media=config.enable_authenticated_media,
        max_pending_media_uploads=config.max_pending_media_uploads,
        unused_expiration_time=config.unused_expiration_time,
        upload_limits=tuple((q.time_period, q.max_size) for q in config.media_upload_limits),
        local_media_lifetime=(
            config.media_retention.local_media_lifetime if config.media_retention else None
        ),
    )
    backend = LocalMediaBackend(config.resolve(config.media_store_path))
    fetcher = None
    if federation is not None and config.federation.enabled:
        fetcher = FederationMediaFetcher(
            federation,
            IpFilter(config.url_preview_ip_range_blacklist, config.url_preview_ip_range_whitelist),
            tls if tls is not None else client_tls(config),
        )
    return MediaRepository(settings, stores.media, backend, clock, remote=fetcher)


def client_tls(config: HomeserverConfig) -> LazyClientContext:
    """The outbound TLS context of federation_verify_certificates and
    federation_custom_ca_list (a bad CA file fails here; the context is made on first use)."""
    return LazyClientContext(
        verify=config.federation_verify_certificates,
        custom_ca_files=[config.resolve(p) for p in config.federation_custom_ca_list],
    )


def federation_transport(
    config: HomeserverConfig,
    database: Database,
    server_keys: ServerKeyService,
    clock: Clock,
    *,
    dns: DnsResolver | None = None,
    tls: ClientContextSource | None = None,
) -> tuple[FederationClient, KeyRing, FederationRequestVerifier]:
    """The federation client, key ring and inbound request verifier, with the operator's
    policy (federation.enabled / allow / deny and federation_domain_whitelist)."""
    whitelist = config.federation_domain_whitelist
    policy = FederationPolicy(
        enabled=config.federation.enabled,
        domain_whitelist=None if whitelist is None else frozenset(whitelist),
        access=AccessControl.from_lists(config.federation.allow, config.federation.deny),
    )
    backoff = DestinationBackoff(
        DestinationStore(database),
        clock,
        BackoffPolicy(
            min_interval_ms=config.federation.destination_min_retry_interval,
            multiplier=config.federation.destination_retry_multiplier,
            max_interval_ms=config.federation.destination_max_retry_interval,
        ),
    )
    client = FederationClient(
        server_name=config.server_name,
        signing_key=server_keys.signing_key,
        dns=dns if dns is not None else SystemDnsResolver(),
        ssl_context=tls if tls is not None else client_tls(config),
        policy=policy,
        backoff=backoff,
        clock=clock,
        timeout_s=config.federation.client_timeout / 1000,
    )
    key_ring = KeyRing(
        server_name=config.server_name,
        own_keys=server_keys,
        store=ServerKeyStore(database),
        client=client,
        clock=clock,
        trusted_key_servers=[
            TrustedKeyServer(t.server_name, dict(t.verify_keys)) for t in config.trusted_key_servers
        ],
    )
    return client, key_ring, FederationRequestVerifier(config.server_name, key_ring, policy, clock)


def listener_resources(listener: ListenerConfig, federation_enabled: bool = True) -> frozenset[str]:
    """What a listener serves: health always; federation includes keys; metrics listeners
    serve metrics only. With federation off, neither federation nor keys is served (those
    paths answer 404 M_UNRECOGNIZED)."""
    if listener.type == "metrics":
        return frozenset({"metrics", "health"})
    names = set(listener.resource_names) | {"health"}
    if "federation" in names:
        names.add("keys")
    if not federation_enabled:
        names -= {"federation", "keys"}
    return frozenset(names)


def listener_app(
    hs: Homeserver, listener: ListenerConfig, extra_endpoints: Sequence[Endpoint] = ()
) -> web.Application:
    """The aiohttp application of one listener (``extra_endpoints`` for tests)."""
    return build_web_app(
        [*hs.endpoints, *extra_endpoints],
        listener_resources(listener, hs.config.federation.enabled),
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
            # Open /sync long-polls would otherwise hold shutdown for their whole timeout;
            # writes finish in milliseconds, so handlers still running after a few seconds
            # are long-polls and are cancelled.
            runner = web.AppRunner(
                listener_app(hs, listener), access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S
            )
            await runner.setup()
            runners.append(runner)
            ssl_context = None
            if listener.tls:
                assert hs.config.tls_certificate_path and hs.config.tls_private_key_path
                ssl_context = server_ssl_context(
                    hs.config.resolve(hs.config.tls_certificate_path),
                    hs.config.resolve(hs.config.tls_private_key_path),
                )
            for address in listener.bind_addresses:
                site = web.TCPSite(runner, address, listener.port, ssl_context=ssl_context)
                await site.start()
                logger.info(
                    "Listening on %s (%s: %s)",
                    _url(address, listener.port, listener.tls),
                    listener.type,
                    ", ".join(sorted(listener_resources(listener, hs.config.federation.enabled))),
                )
        logger.info("Myelin %s ready for %s", __version__, hs.config.server_name)
        await stop.wait()
        logger.info("Shutting down")
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def _url(address: str, port: int, tls: bool = False) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{'https' if tls else 'http'}://{host}:{port}"


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
