"""Every option of homeserver.yaml, declared once (Myelin configuration; Synapse's key names).

The frozen dataclasses below are the single source of truth: ``load_config`` validates YAML into
them, and ``generate-config`` and docs/configuration.md are rendered from their fields. Relative
paths are resolved against the directory of the configuration file.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from myelin.config import extras, media
from myelin.config import federation as fedconf
from myelin.config import push as pushconf
from myelin.config.appservices import AppserviceRegistration, load_registrations
from myelin.config.ratelimiting import (
    DEFAULT_MAX_REQUEST_SIZE,
    RatelimitingConfig,
    federation_option,
    grouped_rate_limit_option,
    optional_rate_limit_option,
    rate_limit_option,
    size_option,
)
from myelin.config.schema import (
    ConfigError,
    Problem,
    Report,
    option,
    parse_duration,
    parse_section,
    positive_check,
)
from myelin.core.errors import ProtocolError
from myelin.core.identifiers import is_valid_server_name
from myelin.core.signing import ED25519, VerifyKey

# The resource names Synapse accepts on an http listener, and the ones Myelin serves.
SYNAPSE_RESOURCES = frozenset(
    {
        "client",
        "federation",
        "keys",
        "health",
        "metrics",
        "media",
        "openid",
        "static",
        "replication",
        "consent",
        "webclient",
    }
)
SERVED_RESOURCES = frozenset({"client", "federation", "keys", "health", "metrics"})


def _resources_check(names: tuple[str, ...]) -> str | None:
    unknown = sorted(set(names) - SYNAPSE_RESOURCES)
    if unknown:
        return (
            f"unknown resource name {unknown[0]!r}; known: {', '.join(sorted(SYNAPSE_RESOURCES))}"
        )
    return None


def _parse_port(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    raise ValueError("expected an integer between 1 and 65535")


def _server_name_check(value: str) -> str | None:
    if is_valid_server_name(value):
        return None
    return "expected a server name (a DNS name or IP literal, optionally with :port)"


def _url_check(value: str) -> str | None:
    if value.startswith(("http://", "https://")) and len(value) > len("https://"):
        return None
    return "expected an http:// or https:// URL"


@dataclass(frozen=True)
class ListenerResourceConfig:
    """One ``resources`` entry of a listener."""

    names: tuple[str, ...] = option(
        doc="What to serve: client (client-server API and /.well-known), federation (the"
        " server-server API, which includes keys), keys (/_matrix/key), health (/health, served"
        " on every http listener anyway), metrics (Prometheus metrics). Synapse's other names"
        " (media, openid, ...) are accepted and ignored with a warning.",
        fix="list resource names, e.g. [client, federation]",
        check=_resources_check,
    )
    compress: bool = option(False, doc="Accepted for Synapse compatibility; has no effect.")


@dataclass(frozen=True)
class ListenerConfig:
    """One entry of ``listeners``."""

    port: int = option(
        doc="The TCP port to listen on.",
        fix="set it to a TCP port number, e.g. 8008",
        convert=_parse_port,
        type_name="integer (1-65535)",
    )
    bind_addresses: tuple[str, ...] = option(
        ("127.0.0.1",),
        doc="The addresses to listen on. Unlike Synapse (which binds every interface by default)"
        " the default is loopback only; use ['::', '0.0.0.0'] to accept connections from"
        " anywhere, usually behind a reverse proxy.",
        fix="list IP addresses, e.g. ['127.0.0.1']",
    )
    type: Literal["http", "metrics"] = option(
        "http",
        doc="http serves the Matrix APIs named in resources; metrics serves Prometheus metrics"
        " at /metrics (and /_synapse/metrics).",
        fix="use http or metrics",
    )
    tls: bool = option(
        False,
        doc="Serve HTTPS with tls_certificate_path and tls_private_key_path (the spec requires"
        " HTTPS for federation); or leave false behind a TLS-terminating reverse proxy.",
    )
    x_forwarded: bool = option(
        False,
        doc="Trust the X-Forwarded-For header for the client address (set when behind a proxy).",
    )
    resources: tuple[ListenerResourceConfig, ...] = option(
        (),
        doc="The resources served on an http listener.",
        fix="e.g. resources: [{names: [client, federation]}]",
    )

    @property
    def resource_names(self) -> frozenset[str]:
        return frozenset(name for r in self.resources for name in r.names)


@dataclass(frozen=True)
class DatabaseArgsConfig:
    """``database.args``: driver arguments in Synapse's shape."""

    # Synapse passes unknown arguments on to its driver (sslmode, keepalives, ...).
    WARN_UNKNOWN_KEYS: ClassVar[bool] = True

    database: str | None = option(
        None,
        doc="sqlite3: the database file (relative to the configuration file's directory)."
        " psycopg2: the database name (alias of dbname).",
        example="homeserver.db",
    )
    dbname: str | None = option(None, doc="psycopg2: the database name.", example="myelin")
    user: str | None = option(None, doc="psycopg2: the user to connect as.", example="myelin")
    password: str | None = option(None, doc="psycopg2: the user's password.")
    host: str | None = option(
        None, doc="psycopg2: host name, IP address or Unix socket directory.", example="localhost"
    )
    port: int | None = option(None, doc="psycopg2: TCP port (5432 when unset).", example=5432)
    cp_min: int = option(
        5, doc="psycopg2: the smallest number of pooled connections.", check=positive_check
    )
    cp_max: int = option(
        10, doc="psycopg2: the largest number of pooled connections.", check=positive_check
    )


@dataclass(frozen=True)
class DatabaseConfig:
    """``database``."""

    # Synapse has more tuning keys here (txn_limit, allow_unsafe_locale, ...).
    WARN_UNKNOWN_KEYS: ClassVar[bool] = True

    name: Literal["sqlite3", "psycopg2", "postgresql"] = option(
        "sqlite3",
        doc="The engine: sqlite3 (a single file, no setup) or psycopg2 (PostgreSQL; the name"
        " is Synapse's, postgresql is accepted as an alias; Myelin connects with asyncpg).",
        fix="use sqlite3 or psycopg2",
    )
    args: DatabaseArgsConfig = option(  # noqa: RUF009 (option() is a field())
        default_factory=DatabaseArgsConfig,
        doc="Connection arguments; see the options below. Unknown arguments (Synapse passes"
        " them to its driver) are ignored with a warning, as are Synapse's other database keys.",
    )

    @property
    def engine(self) -> Literal["sqlite", "postgres"]:
        return "sqlite" if self.name == "sqlite3" else "postgres"


@dataclass(frozen=True)
class OldSigningKeyConfig:
    """One entry of ``old_signing_keys``."""

    key: str = option(
        doc="The old public key, unpadded base64.", fix="copy the key from an old key response"
    )
    expired_ts: int = option(
        doc="When the key stopped being used, in milliseconds since the epoch.",
        fix="set the POSIX time in milliseconds when the key was retired",
    )


@dataclass(frozen=True)
class LoggingConfig:
    """``logging``."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = option(
        "INFO", doc="The lowest level logged.", fix="use DEBUG, INFO, WARNING or ERROR"
    )
    format: Literal["text", "json"] = option(
        "text",
        doc="text: one readable line per record; json: one JSON object per line.",
        fix="use text or json",
    )


@dataclass(frozen=True)
class PresenceConfig:
    """``presence``."""

    enabled: bool = option(
        True,
        doc="Whether users' presence (online, unavailable, offline) is tracked and shared with"
        " users they share a room with. When false, presence updates are accepted and ignored,"
        " everyone reads as offline and /sync carries no presence (as in Synapse).",
    )


def _default_listeners() -> tuple[ListenerConfig, ...]:
    return (
        ListenerConfig(
            port=8008, resources=(ListenerResourceConfig(names=("client", "federation")),)
        ),
    )


@dataclass(frozen=True)
class HomeserverConfig:
    """The whole configuration file."""

    server_name: str = option(
        doc="The domain part of every user ID and room alias on this server. It cannot be"
        " changed later.",
        fix="set it to your domain, e.g. server_name: example.org",
        check=_server_name_check,
        example="example.org",
    )
    public_baseurl: str | None = option(
        None,
        doc="The URL clients use to reach this server, advertised in"
        " /.well-known/matrix/client. When unset that path answers 404 M_NOT_FOUND (as in"
        " Synapse: clients are not sent to a host that may not exist), and"
        " /.well-known/matrix/server (serve_server_wellknown) delegates to <server_name>:443.",
        fix="set it to a URL such as https://matrix.example.org/",
        check=_url_check,
        example="https://matrix.example.org/",
    )
    listeners: tuple[ListenerConfig, ...] = option(
        default_factory=_default_listeners,
        doc="The ports to listen on and what each serves.",
        fix="see docs/configuration.md for the listener shape",
    )
    database: DatabaseConfig = option(  # noqa: RUF009 (option() is a field())
        default_factory=DatabaseConfig,
        doc="The database. When unset: SQLite in homeserver.db next to this file.",
    )
    signing_key_path: str | None = option(
        None,
        doc="The file holding this server's Ed25519 signing key (Synapse's format); generated"
        " on first start when missing. When unset: <server_name>.signing.key next to this file.",
        example="example.org.signing.key",
    )
    old_signing_keys: Mapping[str, OldSigningKeyConfig] = option(
        default_factory=dict,
        doc="Keys this server used to sign with, by key ID (ed25519:<version>), still"
        " published at /_matrix/key/v2/server so that old signatures can be checked.",
        fix='e.g. old_signing_keys: {"ed25519:old": {key: "<base64>", expired_ts: 1700000000000}}',
        example={"ed25519:auto": {"key": "<unpadded base64 public key>", "expired_ts": 0}},
    )
    key_refresh_interval: int = option(
        86_400_000,
        doc="How long other servers may cache our signing keys (valid_until_ts in the key"
        " response): milliseconds, or a duration such as 1d or 12h.",
        fix="use a duration such as 1d, 12h or 3600000",
        convert=parse_duration,
        type_name="duration",
    )
    media_store_path: str = option(
        "media_store", doc="The directory for uploaded media (relative to this file)."
    )
    # The media repository's options (myelin.config.media).
    max_upload_size: int = media.max_upload_size_option()
    max_image_pixels: int = media.max_image_pixels_option()
    dynamic_thumbnails: bool = media.dynamic_thumbnails_option()
    thumbnail_sizes: tuple[media.ThumbnailSizeConfig, ...] = media.thumbnail_sizes_option()
    enable_authenticated_media: bool = media.enable_authenticated_media_option()
    max_pending_media_uploads: int = media.max_pending_media_uploads_option()
    unused_expiration_time: int = media.unused_expiration_time_option()
    media_upload_limits: tuple[media.MediaUploadLimitConfig, ...] = (
        media.media_upload_limits_option()
    )
    media_retention: media.MediaRetentionConfig | None = media.media_retention_option()  # noqa: RUF009
    url_preview_enabled: bool = media.url_preview_enabled_option()
    url_preview_ip_range_blacklist: tuple[str, ...] = media.url_preview_ip_range_blacklist_option()
    url_preview_ip_range_whitelist: tuple[str, ...] = media.url_preview_ip_range_whitelist_option()
    url_preview_url_blacklist: tuple[Mapping[str, str], ...] = (
        media.url_preview_url_blacklist_option()
    )
    max_spider_size: int = media.max_spider_size_option()
    url_preview_timeout: int = media.url_preview_timeout_option()
    enable_registration: bool = option(
        False,
        doc="Whether anyone may register an account through POST /_matrix/client/v3/register."
        " When false that endpoint answers 403 M_FORBIDDEN; `myelin register-user` and"
        " shared-secret registration work regardless.",
    )
    registration_requires_token: bool = option(
        False,
        doc="With enable_registration, require a registration token (m.login.registration_token,"
        " tokens made through /_synapse/admin/v1/registration_tokens) instead of m.login.dummy.",
    )
    allow_guest_access: bool = option(
        False,
        doc="Whether POST /register?kind=guest may create guest accounts.",
    )
    app_service_config_files: tuple[str, ...] = option(
        (),
        doc="Registration files (YAML) of application services (bridges and bots), as in the"
        " Application Service API: id, url, as_token, hs_token, sender_localpart, namespaces,"
        " rate_limited, protocols, receive_ephemeral. See docs/appservices.md.",
        fix="list paths of registration files, e.g. [/etc/myelin/irc-bridge.yaml]",
    )
    registration_shared_secret: str | None = option(
        None,
        doc="A secret that allows registration through POST /_synapse/admin/v1/register"
        " (Synapse's shared-secret HMAC-SHA1 scheme), even when enable_registration is false."
        " When unset that endpoint is disabled.",
        example="<a long random string>",
    )
    refreshable_access_token_lifetime: int = option(
        300_000,
        doc="How long an access token issued with a refresh token (clients that send"
        " refresh_token: true to /login or /register) stays valid: milliseconds or a duration.",
        fix="use a duration such as 5m or 300000",
        convert=parse_duration,
        check=positive_check,
        type_name="duration",
    )
    refresh_token_lifetime: int | None = option(
        None,
        doc="How long a refresh token stays valid (unset: until used or logged out).",
        fix="use a duration such as 30d, or remove the option",
        convert=lambda v: None if v is None else parse_duration(v),
        type_name="duration",
        example="30d",
    )
    nonrefreshable_access_token_lifetime: int | None = option(
        None,
        doc="How long an access token issued without a refresh token stays valid (unset:"
        " until logged out).",
        fix="use a duration such as 1d, or remove the option",
        convert=lambda v: None if v is None else parse_duration(v),
        type_name="duration",
        example="7d",
    )
    login_token_lifetime: int = option(
        120_000,
        doc="How long a login token from POST /_matrix/client/v1/login/get_token stays valid"
        " (m.login.token; the spec recommends 2 minutes).",
        fix="use a duration such as 2m",
        convert=parse_duration,
        check=positive_check,
        type_name="duration",
    )
    login_via_existing_session: bool = option(
        False,
        doc="Whether logged-in users may get login tokens for another device through"
        " POST /_matrix/client/v1/login/get_token (always after re-authentication).",
    )
    bcrypt_rounds: int = option(
        12,
        doc="The bcrypt cost factor for password hashes (4 to 31).",
        fix="use an integer from 4 to 31; 12 is a good default",
        check=lambda v: None if 4 <= v <= 31 else "expected an integer from 4 to 31",
    )
    serve_server_wellknown: bool = option(
        False,
        doc="Serve /.well-known/matrix/server, delegating federation to the host and port of"
        " public_baseurl (port 443 when the URL names none). Otherwise that path answers 404.",
    )
    extra_well_known_client_content: Mapping[str, Any] = option(
        default_factory=dict,
        doc="Extra keys for /.well-known/matrix/client (namespaced, e.g. org.example.app),"
        " served only when public_baseurl is set. m.homeserver comes from public_baseurl and"
        " cannot be set here.",
        fix="remove m.homeserver; set public_baseurl instead",
        check=lambda v: "m.homeserver is set from public_baseurl" if "m.homeserver" in v else None,
        example={"org.example.app": {"url": "https://app.example.org"}},
    )
    # /.well-known/matrix/support and the TURN keys (myelin.config.extras).
    support: Mapping[str, Any] | None = extras.support_option()
    turn_uris: tuple[str, ...] = extras.turn_uris_option()
    turn_shared_secret: str | None = extras.turn_shared_secret_option()
    turn_username: str | None = extras.turn_username_option()
    turn_password: str | None = extras.turn_password_option()
    turn_user_lifetime: int = extras.turn_user_lifetime_option()
    turn_allow_guests: bool = extras.turn_allow_guests_option()
    logging: LoggingConfig = option(default_factory=LoggingConfig, doc="Logging.")  # noqa: RUF009 (option() is a field())
    presence: PresenceConfig = option(  # noqa: RUF009 (option() is a field())
        default_factory=PresenceConfig, doc="Presence."
    )
    # Push notifications to push gateways (myelin.config.push).
    push: pushconf.PushConfig = option(  # noqa: RUF009 (option() is a field())
        default_factory=pushconf.PushConfig, doc="Push notifications to push gateways."
    )
    ip_range_blacklist: tuple[str, ...] = pushconf.ip_range_blacklist_option()
    ip_range_whitelist: tuple[str, ...] = pushconf.ip_range_whitelist_option()
    # Request limits and Synapse's rc_* rate limits (myelin.config.ratelimiting).
    max_request_size: int = size_option(
        DEFAULT_MAX_REQUEST_SIZE,
        "The largest request body accepted (after decompression); a larger one is answered 413"
        " M_TOO_LARGE before the rest is read. The default is Synapse's: 200 PDUs of 64 KiB.",
    )
    ratelimiting: RatelimitingConfig = option(  # noqa: RUF009 (option() is a field())
        default_factory=RatelimitingConfig,
        doc="Switching the rc_* limits off, and users exempt from them.",
    )
    rc_message: Mapping[str, float] = rate_limit_option(0.2, 10, "Messages sent, per user.")
    rc_registration: Mapping[str, float] = rate_limit_option(
        0.17, 3, "Registration requests, per client IP address."
    )
    rc_login: Mapping[str, Mapping[str, float]] = grouped_rate_limit_option(
        {"address": (0.003, 5), "account": (0.003, 5), "failed_attempts": (0.17, 3)},
        "Logins: address per client IP address, account per account logged into,"
        " failed_attempts per account for failed attempts.",
    )
    rc_admin_redaction: Mapping[str, float] | None = optional_rate_limit_option(
        "Redactions by room admins; when unset, rc_message applies to them too.",
        {"per_second": 1, "burst_count": 50},
    )
    rc_joins: Mapping[str, Mapping[str, float]] = grouped_rate_limit_option(
        {"local": (0.1, 10), "remote": (0.01, 10)},
        "Room joins per user: local for rooms this server is in, remote for joins through"
        " another server.",
    )
    rc_invites: Mapping[str, Mapping[str, float]] = grouped_rate_limit_option(
        {"per_room": (0.3, 10), "per_user": (0.003, 5), "per_issuer": (0.3, 10)},
        "Invites: per_room per room, per_user per invited user, per_issuer per inviting user.",
    )
    rc_3pid_validation: Mapping[str, float] = rate_limit_option(
        0.003, 5, "Attempts to validate a third-party identifier, per user or IP address."
    )
    rc_presence: Mapping[str, Mapping[str, float]] = grouped_rate_limit_option(
        {"per_user": (0.1, 1)}, "Presence updates, per user."
    )
    rc_delayed_event_mgmt: Mapping[str, float] = rate_limit_option(
        1, 5, "Managing delayed events, per user."
    )
    rc_room_creation: Mapping[str, float] = rate_limit_option(0.016, 10, "Room creation, per user.")
    rc_reports: Mapping[str, float] = rate_limit_option(1, 5, "Reports of events, rooms and users.")
    rc_media_create: Mapping[str, float] = rate_limit_option(
        10, 50, "Media IDs created with /_matrix/media/v1/create, per user."
    )
    rc_federation: Mapping[str, int] = federation_option()
    # Federation transport and operator control (myelin.config.federation).
    tls_certificate_path: str | None = fedconf.tls_certificate_path_option()
    tls_private_key_path: str | None = fedconf.tls_private_key_path_option()
    federation_verify_certificates: bool = fedconf.federation_verify_certificates_option()
    federation_custom_ca_list: tuple[str, ...] = fedconf.federation_custom_ca_list_option()
    federation_domain_whitelist: tuple[str, ...] | None = (
        fedconf.federation_domain_whitelist_option()
    )
    trusted_key_servers: tuple[fedconf.TrustedKeyServerConfig, ...] = (
        fedconf.trusted_key_servers_option()
    )
    federation: fedconf.FederationConfig = fedconf.federation_section_option()  # noqa: RUF009

    # Where relative paths are resolved; set by load_config, not an option.
    config_dir: Path = dataclasses.field(default=Path("."), metadata={"internal": True})
    # The registrations read from app_service_config_files; set by parse_config, not an option.
    app_services: tuple[AppserviceRegistration, ...] = dataclasses.field(
        default=(), metadata={"internal": True}
    )

    def resolve(self, path: str) -> Path:
        """A path from the configuration, relative ones against the configuration's directory."""
        return (self.config_dir / path).resolve()

    @property
    def signing_key_file(self) -> Path:
        return self.resolve(self.signing_key_path or f"{self.server_name}.signing.key")

    @property
    def sqlite_path(self) -> str:
        """The SQLite file (``:memory:`` kept as is)."""
        name = self.database.args.database or "homeserver.db"
        return name if name == ":memory:" else str(self.resolve(name))

    @property
    def base_url(self) -> str:
        return self.public_baseurl or f"https://{self.server_name}/"


def _postcheck(config: HomeserverConfig, report: Report) -> None:
    """Rules that involve several options."""
    db = config.database
    if db.engine == "postgres" and not (db.args.dbname or db.args.database):
        report.error("database.args.dbname", "PostgreSQL needs a database name", "set args.dbname")
    if db.args.cp_min > db.args.cp_max:
        report.error("database.args.cp_min", "is larger than cp_max", "set cp_min <= cp_max")
    for key_id, old in config.old_signing_keys.items():
        where = f"old_signing_keys.{key_id}"
        if not key_id.startswith(ED25519 + ":"):
            report.error(where, "expected a key ID ed25519:<version>", "rename the key")
            continue
        try:
            VerifyKey.decode(key_id, old.key)
        except ProtocolError:
            report.error(f"{where}.key", "not an unpadded base64 Ed25519 public key")
    if config.key_refresh_interval < 3_600_000:
        # Server-Server API, "Publishing Keys": avoid responses that expire within an hour.
        report.warnings.append(
            "key_refresh_interval: below 1h; other servers will refetch keys very often"
        )
    http = [lis for lis in config.listeners if lis.type == "http"]
    for index, listener in enumerate(config.listeners):
        ignored = sorted(listener.resource_names - SERVED_RESOURCES)
        if ignored:
            report.warnings.append(
                f"listeners[{index}].resources: {', '.join(ignored)} not served by Myelin, ignored"
            )
    if not http:
        report.warnings.append("listeners: no http listener; the server will not serve Matrix")
    if any(lis.tls for lis in config.listeners):
        for key in ("tls_certificate_path", "tls_private_key_path"):
            if getattr(config, key) is None:
                report.error(key, "a listener has tls: true", f"set {key} to a PEM file")


def parse_config(
    raw: Any, config_dir: Path = Path("."), report: Report | None = None
) -> HomeserverConfig:
    """Validate a parsed YAML document; raise ``ConfigError`` naming every bad key.

    Warnings (unknown keys, ignored resources) are added to ``report`` when one is given.
    """
    report = report if report is not None else Report()
    if not isinstance(raw, Mapping):
        raise ConfigError([Problem("", "the configuration must be a YAML mapping of options")])
    internal = {"config_dir", "app_services"}
    filtered = {k: v for k, v in raw.items() if k not in internal}
    for key in internal & set(raw):
        report.warnings.append(f"{key}: unknown option, ignored")
    parsed = parse_section(HomeserverConfig, filtered, "", report, warn_unknown=True)
    if report.problems:
        raise ConfigError(report.problems)
    config: HomeserverConfig = dataclasses.replace(parsed, config_dir=config_dir)
    _postcheck(config, report)
    if report.problems:
        raise ConfigError(report.problems)
    if config.app_service_config_files:
        registrations = load_registrations(
            [config.resolve(p) for p in config.app_service_config_files], report.warnings
        )
        config = dataclasses.replace(config, app_services=registrations)
    return config


def load_config(path: Path, report: Report | None = None) -> HomeserverConfig:
    """Read and validate a YAML configuration file; raise ``ConfigError`` or ``OSError``."""
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(
            [Problem(str(path), f"not valid YAML: {e}", "fix the YAML syntax")]
        ) from e
    return parse_config(raw, path.resolve().parent, report)
