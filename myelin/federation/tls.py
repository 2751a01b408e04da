"""TLS for federation (spec: Server-Server API, "TLS").

Outbound: certificates are checked against the system trust store plus the operator's
``federation_custom_ca_list``; ``federation_verify_certificates: false`` turns every check off
(labs only) and is logged loudly each time a context is made. Inbound: the listener's
certificate chain and key (``tls_certificate_path``, ``tls_private_key_path``).
"""

import logging
import ssl
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger("myelin.federation")


class TlsConfigError(Exception):
    """A certificate, key or CA file cannot be loaded."""


def client_ssl_context(
    *, verify: bool = True, custom_ca_files: Sequence[Path] = (), use_system_store: bool = True
) -> ssl.SSLContext:
    """The context outbound federation connections use (SNI is sent for host names only)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not use_system_store:
        # A fresh context without the default CA set (tests: trust only the given CAs).
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path in custom_ca_files:
        try:
            context.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as e:
            raise TlsConfigError(f"cannot load CA file {path}: {e}") from e
    if not verify:
        logger.warning(
            "federation_verify_certificates is false: TLS certificates of other servers are NOT"
            " checked. Anyone on the network path can impersonate any server. Labs only!"
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def server_ssl_context(certificate: Path, private_key: Path) -> ssl.SSLContext:
    """The context of a ``tls: true`` listener."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(certificate), str(private_key))
    except (OSError, ssl.SSLError) as e:
        raise TlsConfigError(
            f"cannot load TLS certificate {certificate} with key {private_key}: {e}"
        ) from e
    return context
