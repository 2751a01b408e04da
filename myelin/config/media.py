"""Media repository options (spec: Client-Server API, "Content repository"; Synapse's names).

Synapse's media options (``max_upload_size``, ``thumbnail_sizes``, ``url_preview_*`` ...) with
Synapse's defaults, and Myelin's own where Synapse has none (``url_preview_timeout``). The
fields are declared on ``HomeserverConfig`` with the helpers below, one short line each.
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from myelin.config.ratelimiting import parse_size, size_option
from myelin.config.schema import option, parse_duration, positive_check

# The IP ranges a URL preview never fetches from unless url_preview_ip_range_whitelist allows
# them: IANA's special-purpose registries (loopback, private, link-local, shared, multicast,
# documentation, benchmarking, reserved), for IPv4 and IPv6.
DEFAULT_IP_RANGE_BLACKLIST = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
)

# The spec's recommended thumbnail sizes ("Thumbnails"), which are also Synapse's defaults.
DEFAULT_THUMBNAIL_SIZES: tuple[tuple[int, int, Literal["crop", "scale"]], ...] = (
    (32, 32, "crop"),
    (96, 96, "crop"),
    (320, 240, "scale"),
    (640, 480, "scale"),
    (800, 600, "scale"),
)

# The components of a URL a url_preview_url_blacklist entry may name.
URL_COMPONENTS = frozenset(
    {"scheme", "netloc", "username", "password", "hostname", "port", "path", "query", "fragment"}
)


@dataclass(frozen=True)
class ThumbnailSizeConfig:
    """One entry of ``thumbnail_sizes``."""

    width: int = option(doc="Width in pixels.", check=positive_check)
    height: int = option(doc="Height in pixels.", check=positive_check)
    method: Literal["crop", "scale"] = option(
        "scale", doc="crop (exact size, aspect of the request) or scale (fits the box)."
    )


@dataclass(frozen=True)
class MediaUploadLimitConfig:
    """One entry of ``media_upload_limits``: at most max_size bytes per user per time_period."""

    time_period: int = option(
        doc="The window: milliseconds or a duration such as 1h or 1d.",
        fix="use a duration such as 1d",
        convert=parse_duration,
        check=positive_check,
        type_name="duration",
    )
    max_size: int = option(
        doc="The most bytes one user may upload within the window (e.g. 100M).",
        fix="use a size such as 100M",
        convert=parse_size,
        type_name="size",
    )


@dataclass(frozen=True)
class MediaRetentionConfig:
    """``media_retention``: how long unused local media is kept."""

    local_media_lifetime: int | None = option(
        None,
        doc="Local media not downloaded for this long is deleted (files and thumbnails) by the"
        " periodic purge; unset keeps media forever.",
        fix="use a duration such as 90d, or remove the option",
        convert=lambda v: None if v is None else parse_duration(v),
        type_name="duration",
        example="90d",
    )


def networks_check(ranges: tuple[str, ...]) -> str | None:
    for text in ranges:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            return f"expected IP ranges in CIDR notation ({text})"
    return None


def _url_blacklist_check(entries: tuple[Mapping[str, str], ...]) -> str | None:
    for entry in entries:
        unknown = sorted(set(entry) - URL_COMPONENTS)
        if unknown:
            names = ", ".join(sorted(URL_COMPONENTS))
            return f"unknown URL component {unknown[0]} (expected one of {names})"
    return None


def max_upload_size_option() -> Any:
    return size_option(
        50 * 1024 * 1024,
        "The largest media upload accepted; larger ones are answered 413 M_TOO_LARGE before"
        " the rest of the body is read, and nothing is kept. Uploads are streamed to disk.",
    )


def max_image_pixels_option() -> Any:
    return size_option(
        32 * 1024 * 1024,
        "Images with more pixels than this are never decoded (decompression bombs): an upload"
        " declared as an image (image/*) whose header gives more pixels is refused with 413"
        " M_TOO_LARGE and nothing is kept, and thumbnails of such content are refused alike.",
    )


def dynamic_thumbnails_option() -> Any:
    return option(
        False,
        doc="Generate thumbnails at exactly the size a client asks for, instead of the nearest"
        " of thumbnail_sizes.",
    )


def thumbnail_sizes_option() -> Any:
    return option(
        default_factory=lambda: tuple(
            ThumbnailSizeConfig(w, h, m) for w, h, m in DEFAULT_THUMBNAIL_SIZES
        ),
        doc="The thumbnail sizes generated (on first request, then cached).",
        example=[{"width": 32, "height": 32, "method": "crop"}],
    )


def enable_authenticated_media_option() -> Any:
    return option(
        True,
        doc="Freeze the deprecated unauthenticated /_matrix/media/v3 download and thumbnail"
        " endpoints: media uploaded while this is true is served only by the authenticated"
        " /_matrix/client/v1/media endpoints (media uploaded while it was false stays"
        " reachable through both).",
    )


def max_pending_media_uploads_option() -> Any:
    return option(
        5,
        doc="How many media IDs from POST /_matrix/media/v1/create a user may hold without"
        " content yet; more are refused with 429 M_LIMIT_EXCEEDED.",
        check=positive_check,
    )


def unused_expiration_time_option() -> Any:
    return option(
        86_400_000,
        doc="How long a media ID from POST /_matrix/media/v1/create waits for its content"
        " (unused_expires_at).",
        fix="use a duration such as 24h",
        convert=parse_duration,
        check=positive_check,
        type_name="duration",
    )


def media_upload_limits_option() -> Any:
    return option(
        (),
        doc="Per-user upload quotas: each entry limits the bytes one user may upload within a"
        " time period; an upload over any of them is refused with 403 M_FORBIDDEN.",
        example=[{"time_period": "1d", "max_size": "1G"}],
    )


def media_retention_option() -> Any:
    return option(
        None,
        doc="Retention of unused local media (unset: kept forever).",
        example={"local_media_lifetime": "90d"},
    )


def url_preview_enabled_option() -> Any:
    return option(
        False,
        doc="Serve GET /_matrix/client/v1/media/preview_url (and the deprecated"
        " /_matrix/media/v3/preview_url). When false those paths are not served.",
    )


def url_preview_ip_range_blacklist_option() -> Any:
    return option(
        DEFAULT_IP_RANGE_BLACKLIST,
        doc="IP ranges URL previews never connect to: checked against every address a host"
        " name resolves to and on every redirect. 0.0.0.0 and :: are always refused. The"
        " default lists the loopback, private, link-local, multicast and reserved ranges.",
        fix="list CIDR ranges such as 10.0.0.0/8",
        check=networks_check,
    )


def url_preview_ip_range_whitelist_option() -> Any:
    return option(
        (),
        doc="IP ranges URL previews may connect to even though the blacklist names them.",
        fix="list CIDR ranges such as 192.168.1.0/24",
        check=networks_check,
        example=["192.168.1.0/24"],
    )


def url_preview_url_blacklist_option() -> Any:
    return option(
        (),
        doc="URLs never previewed: each entry maps URL components (scheme, netloc, path, ...)"
        " to a glob pattern, or a regular expression when it starts with ^; a URL matching"
        " every component of an entry is refused.",
        fix="use mappings such as {netloc: '*.example.com'}",
        check=_url_blacklist_check,
        example=[{"netloc": "*.example.com"}, {"scheme": "http"}],
    )


def max_spider_size_option() -> Any:
    return size_option(10 * 1024 * 1024, "The most bytes a URL preview downloads from one URL.")


def url_preview_timeout_option() -> Any:
    return option(
        10_000,
        doc="How long a URL preview may take to fetch a page (all redirects included):"
        " milliseconds or a duration.",
        fix="use a duration such as 10s",
        convert=parse_duration,
        check=positive_check,
        type_name="duration",
    )
