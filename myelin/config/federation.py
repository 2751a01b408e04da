"""Federation options (spec: Server-Server API, "TLS", "Retrieving server keys"; Synapse's
names where Synapse has them).

Synapse's ``tls_certificate_path``, ``tls_private_key_path``, ``federation_verify_certificates``,
``federation_custom_ca_list``, ``federation_domain_whitelist``, ``trusted_key_servers`` and its
``federation`` section (``client_timeout``, ``destination_*_retry_*``), plus Myelin's own
``federation.enabled``, ``federation.allow`` and ``federation.deny``. The fields are declared on
``HomeserverConfig`` with the helpers below, one short line each.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from myelin.config.schema import option, parse_duration, positive_check
from myelin.core.identifiers import is_valid_server_name


def _server_name_check(value: str) -> str | None:
    return None if is_valid_server_name(value) else "expected a server name"


def _multiplier_check(value: int) -> str | None:
    return None if value >= 1 else "expected an integer of at least 1"


@dataclass(frozen=True)
class TrustedKeyServerConfig:
    """One entry of ``trusted_key_servers``."""

    server_name: str = option(
        doc="The notary's server name.",
        fix="set server_name, e.g. server_name: notary.example.org",
        check=_server_name_check,
    )
    verify_keys: Mapping[str, str] = option(
        default_factory=dict,
        doc="The notary's public keys by key ID (ed25519:<version>: unpadded base64). Its"
        " answers must be signed by one of them. When empty, the notary's keys are fetched from"
        " it like any server's.",
        example={"ed25519:auto": "<unpadded base64 public key>"},
    )


@dataclass(frozen=True)
class FederationConfig:
    """``federation``: Synapse's section, with Myelin's switch and lists."""

    # Synapse has more keys here (max_short_retries, ...) that Myelin does not use.
    WARN_UNKNOWN_KEYS = True

    enabled: bool = option(
        True,
        doc="Myelin: false turns federation off entirely: the federation and key endpoints"
        " answer 404 M_UNRECOGNIZED and no request is sent to any other server.",
    )
    allow: tuple[str, ...] | None = option(
        None,
        doc="Myelin: when set, only servers matching one of these globs (* and ?, ports"
        " ignored, case-insensitive) are federated with, inbound and outbound.",
        example=["*.europa.eu", "parliament.example"],
    )
    deny: tuple[str, ...] = option(
        (),
        doc="Myelin: servers matching one of these globs are never federated with (a deny"
        " match wins over allow and over federation_domain_whitelist).",
        example=["*.evil.example"],
    )
    client_timeout: int = option(
        60_000,
        doc="How long an outbound federation request may take: milliseconds or a duration.",
        fix="use a duration such as 60s",
        convert=parse_duration,
        check=positive_check,
        type_name="duration",
    )
    destination_min_retry_interval: int = option(
        600_000,
        doc="The first backoff after a destination fails: milliseconds or a duration.",
        fix="use a duration such as 10m",
        convert=parse_duration,
        check=positive_check,
        type_name="duration",
    )
    destination_retry_multiplier: int = option(
        2,
        doc="How much the backoff grows with each further failure.",
        check=_multiplier_check,
    )
    destination_max_retry_interval: int = option(
        7 * 86_400_000,
        doc="The longest backoff: milliseconds or a duration.",
        fix="use a duration such as 1w or 1d",
        convert=parse_duration,
        check=positive_check,
        type_name="duration",
    )


def tls_certificate_path_option() -> Any:
    return option(
        None,
        doc="The PEM certificate chain served by listeners with tls: true.",
        example="example.org.tls.crt",
    )


def tls_private_key_path_option() -> Any:
    return option(
        None,
        doc="The PEM private key of tls_certificate_path.",
        example="example.org.tls.key",
    )


def federation_verify_certificates_option() -> Any:
    return option(
        True,
        doc="Check other servers' TLS certificates. false is for test labs only: it lets"
        " anyone on the network path impersonate any server (logged as a warning).",
    )


def federation_custom_ca_list_option() -> Any:
    return option(
        (),
        doc="PEM files of extra certificate authorities trusted for federation, besides the"
        " system's trust store.",
        example=["ca.pem"],
    )


def federation_domain_whitelist_option() -> Any:
    return option(
        None,
        doc="Synapse's meaning: when set, federate only with these server names (exact names;"
        " an empty list federates with nobody). federation.allow / deny add globs.",
        example=["example.com", "example.org:8448"],
    )


def trusted_key_servers_option() -> Any:
    return option(
        (),
        doc="Notary servers asked for other servers' signing keys when a server cannot be"
        " reached directly. Unlike Synapse (matrix.org), none by default.",
        example=[{"server_name": "notary.example.org"}],
    )


def federation_section_option() -> Any:
    return option(default_factory=FederationConfig, doc="Federation: switch, lists, timeouts.")
