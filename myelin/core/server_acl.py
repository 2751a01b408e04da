"""Server Access Control Lists (spec: Server-Server API, "Server Access Control Lists (ACLs)").

``m.room.server_acl`` content is parsed into a frozen ``ServerAcl``; ``is_server_allowed``
applies the event schema's five ordered rules to a server name. The same glob engine backs
``AccessControl``, the operator's own allow/deny list of server names (``federation.allow`` and
``federation.deny``), which is not part of the spec.

Glob semantics (spec: Appendices, "Glob-style matching"): ``*`` matches zero or more
characters, ``?`` exactly one; every other character matches itself. ACL globs are
case-insensitive and are matched against the server name without its port. An IPv6 literal is
matched as written in the server name, brackets included (``[2001:db8::1]``), like Synapse.
"""

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from myelin.core.push.glob import glob_to_regex_source

__all__ = [
    "AccessControl",
    "ServerAcl",
    "host_without_port",
    "is_ip_literal",
    "is_server_allowed",
    "parse_server_acl",
    "server_glob_matches",
]

# ASCII-only lowercasing: server names are ASCII (spec: Appendices, "Server Name"), and
# str.lower() could change the length of a non-ASCII string, which would change what "?" means.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(text: str) -> str:
    return text.translate(_ASCII_LOWER)


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    # The pattern is folded here and the value in server_glob_matches, so the regex itself is
    # case-sensitive (re.IGNORECASE would also fold non-ASCII look-alikes such as the Kelvin sign).
    return re.compile(glob_to_regex_source(_fold(pattern)), re.DOTALL)


def server_glob_matches(pattern: str, host: str) -> bool:
    """Whether the glob ``pattern`` matches the whole of ``host``, ignoring ASCII case."""
    return _compile(pattern).fullmatch(_fold(host)) is not None


def host_without_port(server_name: str) -> str:
    """``server_name`` without its ``:port``; an IPv6 literal keeps its brackets.

    Lenient: a name that does not follow the grammar is split as well as it can be (an
    unbracketed IPv6 address, which has several colons, is returned whole).
    """
    if server_name.startswith("["):
        end = server_name.find("]")
        return server_name if end < 0 else server_name[: end + 1]
    host, colon, _port = server_name.partition(":")
    if colon and ":" in _port:
        # More than one colon and no brackets: a bare IPv6 address, not host:port.
        return server_name
    return host


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` (without port) is an IPv4 or IPv6 address literal."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        # "[...]" is an IPv6 literal by the grammar even if the address inside is malformed.
        return host.startswith("[")
    return True


def _globs(value: Any) -> tuple[str, ...]:
    # A list that is missing or not a list defaults to empty; entries that are not strings are
    # ignored (they cannot be glob expressions).
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


@dataclass(frozen=True)
class ServerAcl:
    """The parsed content of an ``m.room.server_acl`` event."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    allow_ip_literals: bool = True

    def allows(self, server_name: str) -> bool:
        """Whether ``server_name`` (port ignored) may take part in the room under this ACL."""
        host = host_without_port(server_name)
        # Rule 2: an IP literal is denied when allow_ip_literals is false.
        if not self.allow_ip_literals and is_ip_literal(host):
            return False
        # Rule 3: a match in the deny list denies.
        if any(server_glob_matches(glob, host) for glob in self.deny):
            return False
        # Rule 4: a match in the allow list allows; rule 5: otherwise deny.
        return any(server_glob_matches(glob, host) for glob in self.allow)


def parse_server_acl(content: Mapping[str, Any]) -> ServerAcl:
    """Parse ``m.room.server_acl`` content, applying the schema's defaults.

    ``allow`` and ``deny`` default to empty lists; ``allow_ip_literals`` defaults to true when
    missing or not a boolean.
    """
    allow_ip_literals = content.get("allow_ip_literals", True)
    return ServerAcl(
        allow=_globs(content.get("allow")),
        deny=_globs(content.get("deny")),
        allow_ip_literals=allow_ip_literals if isinstance(allow_ip_literals, bool) else True,
    )


def is_server_allowed(acl: ServerAcl | Mapping[str, Any] | None, server_name: str) -> bool:
    """Apply the room's server ACL to ``server_name``.

    ``acl`` is the parsed ACL, the raw ``m.room.server_acl`` content, or None when the room
    state has no ``m.room.server_acl`` event.
    """
    # Rule 1: no m.room.server_acl event in the room state: allow.
    if acl is None:
        return True
    if not isinstance(acl, ServerAcl):
        acl = parse_server_acl(acl)
    return acl.allows(server_name)


@dataclass(frozen=True)
class AccessControl:
    """An operator's allow/deny list of server names, with the ACL glob engine.

    ``allow`` is None when every server not denied is allowed; otherwise a server must match one
    of its globs. A match in ``deny`` always wins. Ports are ignored, as in room ACLs.
    """

    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()

    @classmethod
    def from_lists(
        cls, allow: Iterable[str] | None = None, deny: Iterable[str] | None = None
    ) -> "AccessControl":
        return cls(
            allow=None if allow is None else tuple(allow),
            deny=() if deny is None else tuple(deny),
        )

    def permits(self, server_name: str) -> bool:
        """Whether this server may federate with ``server_name``."""
        host = host_without_port(server_name)
        if any(server_glob_matches(glob, host) for glob in self.deny):
            return False
        if self.allow is None:
            return True
        return any(server_glob_matches(glob, host) for glob in self.allow)
