"""TLS for federation (spec: Server-Server API, "TLS").

Outbound: certificates are checked against the system trust store plus the operator's
``federation_custom_ca_list``; ``federation_verify_certificates: false`` turns every check off
(labs only) and is logged loudly for each context (the server's when it starts).
``LazyClientContext`` makes the server's one outbound context on first use: loading the system
trust store costs about 2 MiB that a server which never talks to another one need not hold.
Inbound: the listener's certificate chain and key (``tls_certificate_path``,
``tls_private_key_path``).
"""

import logging
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path

logger = logging.getLogger("myelin.federation")


class TlsConfigError(Exception):
    """A certificate, key or CA file cannot be loaded."""


# An outbound context, or what makes it when first needed (``LazyClientContext``).
ClientContextSource = ssl.SSLContext | Callable[[], ssl.SSLContext]


def client_ssl_context(
    *, verify: bool = True, custom_ca_files: Sequence[Path] = (), use_system_store: bool = True
) -> ssl.SSLContext:
    """The context outbound federation connections use (SNI is sent for host names only)."""
    if not verify:
        _warn_unverified()
    return _client_context(verify, custom_ca_files, use_system_store)


def _client_context(
    verify: bool, custom_ca_files: Sequence[Path], use_system_store: bool
) -> ssl.SSLContext:
    if use_system_store:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    else:
        # A fresh context without the default CA set (tests: trust only the given CAs).
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path in custom_ca_files:
        try:
            context.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as e:
            raise TlsConfigError(f"cannot load CA file {path}: {e}") from e
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _warn_unverified() -> None:
    logger.warning(
        "federation_verify_certificates is false: TLS certificates of other servers are NOT"
        " checked. Anyone on the network path can impersonate any server. Labs only!"
    )


class LazyClientContext:
    """``client_ssl_context`` made on the first call and then shared by every caller.

    What can go wrong is settled at construction, when the server starts: each custom CA file
    is loaded once into a bare context (a bad one raises ``TlsConfigError``), and turning
    verification off is logged.
    """

    def __init__(self, *, verify: bool = True, custom_ca_files: Sequence[Path] = ()) -> None:
        self._verify = verify
        self._custom_ca_files = tuple(custom_ca_files)
        self._context: ssl.SSLContext | None = None
        _client_context(verify, self._custom_ca_files, use_system_store=False)
        if not verify:
            _warn_unverified()

    @property
    def made(self) -> bool:
        """Whether the context exists yet."""
        return self._context is not None

    def __call__(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = _client_context(
                self._verify, self._custom_ca_files, use_system_store=True
            )
        return self._context


def resolve_client_context(source: ClientContextSource) -> ssl.SSLContext:
    """The context itself, made now if ``source`` makes it on first use."""
    return source if isinstance(source, ssl.SSLContext) else source()


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
