"""Identifier grammar (spec: Appendices, "Identifier Grammar").

Server names, user IDs (current and historical grammar), room IDs (``!opaque:server`` and the
room version 12 ``!<hash>`` form), room aliases, event IDs (``$local:server`` in room versions 1
and 2, ``$<base64 hash>`` from version 3), opaque identifiers and the common namespaced
identifier grammar.

Every ``parse`` classmethod raises ``InvalidIdentifierError``; every ``is_valid_...`` helper
returns a boolean. The typed results round-trip: ``str(UserID.parse(text)) == text``.

Where this module is stricter than the spec's ABNF it says so: ports must be 0-65535 written
without leading zeros (the ABNF allows any ``1*5DIGIT``), so that a parsed server name always
prints back the text it came from.
"""

import ipaddress
import re
from dataclasses import dataclass

from myelin.core.errors import InvalidIdentifierError
from myelin.core.room_versions import EventIdFormat, RoomVersion

# The length of a user ID, room ID, room alias or event ID, sigil and domain included.
MAX_IDENTIFIER_BYTES = 255

_IPV4_RE = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_IPV6_CHARS_RE = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_DNS_NAME_RE = re.compile(r"[0-9A-Za-z.-]{1,255}")
_PORT_RE = re.compile(r"0|[1-9][0-9]{0,4}")
_USER_LOCALPART_RE = re.compile(r"[a-z0-9._=/+-]+")
_OPAQUE_RE = re.compile(r"[0-9A-Za-z._~-]+")
_NAMESPACED_RE = re.compile(r"[a-z][a-z0-9._-]*")
# The reference hash is a SHA-256 digest: 32 bytes, 43 characters of unpadded base64. The last
# character carries 4 bits of data and 2 zero bits, so only 16 characters can end it.
_HASH_STANDARD_RE = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]")
_HASH_URLSAFE_RE = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


def _byte_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _is_historical_localpart(localpart: str) -> bool:
    """Any non-surrogate code points except ``:`` and NUL (spec: "Historical User IDs")."""
    return not any(c in ":\x00" or "\ud800" <= c <= "\udfff" for c in localpart)


def _split_sigil(text: str, sigil: str, what: str) -> str:
    if not isinstance(text, str):
        raise InvalidIdentifierError(f"{what} must be a string")
    if not text.startswith(sigil):
        raise InvalidIdentifierError(f"{what} must start with {sigil!r}: {text!r}")
    if _byte_length(text) > MAX_IDENTIFIER_BYTES:
        raise InvalidIdentifierError(f"{what} is longer than {MAX_IDENTIFIER_BYTES} bytes")
    return text[1:]


def _split_domain(rest: str, what: str) -> tuple[str, "ServerName"]:
    localpart, colon, domain = rest.partition(":")
    if not colon:
        raise InvalidIdentifierError(f"{what} has no ':server_name' part")
    return localpart, ServerName.parse(domain)


# --- Server names ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerName:
    """``hostname [ ":" port ]``; ``host`` is as written (IPv6 literals keep their brackets).

    Server names are case-sensitive: ``matrix.org`` and ``MATRIX.ORG`` differ.
    """

    host: str
    port: int | None = None

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def is_ip_literal(self) -> bool:
        return self.host.startswith("[") or _IPV4_RE.fullmatch(self.host) is not None

    @property
    def bare_host(self) -> str:
        """The host without the brackets of an IPv6 literal (for connecting to it)."""
        return self.host[1:-1] if self.host.startswith("[") else self.host

    @classmethod
    def parse(cls, text: str) -> "ServerName":
        """Parse ``text`` per the server name grammar; raise ``InvalidIdentifierError``."""
        if not isinstance(text, str) or not text:
            raise InvalidIdentifierError("empty server name")
        if text.startswith("["):
            end = text.find("]")
            if end < 0:
                raise InvalidIdentifierError(f"unterminated IPv6 literal in {text!r}")
            host, rest = text[: end + 1], text[end + 1 :]
            _check_ipv6(host[1:-1], text)
        else:
            host, colon, after = text.partition(":")
            rest = colon + after
            _check_hostname(host, text)
        port: int | None = None
        if rest:
            if not rest.startswith(":"):
                raise InvalidIdentifierError(f"unexpected {rest!r} after host in {text!r}")
            port_text = rest[1:]
            if not _PORT_RE.fullmatch(port_text) or int(port_text) > 65535:
                raise InvalidIdentifierError(f"invalid port in server name {text!r}")
            port = int(port_text)
        return cls(host, port)


def _check_ipv6(address: str, text: str) -> None:
    # IPv6address = 2*45IPv6char, and it must be an RFC 3513 section 2.2 address.
    if not _IPV6_CHARS_RE.fullmatch(address):
        raise InvalidIdentifierError(f"invalid IPv6 literal in {text!r}")
    try:
        ipaddress.IPv6Address(address)
    except ValueError as e:
        raise InvalidIdentifierError(f"invalid IPv6 literal in {text!r}: {e}") from None


def _check_hostname(host: str, text: str) -> None:
    if _IPV4_RE.fullmatch(host):
        # IPv4 literals: four decimal numbers 0-255 separated by ".".
        if any(int(part) > 255 for part in host.split(".")):
            raise InvalidIdentifierError(f"invalid IPv4 literal in {text!r}")
        return
    # dns-name = 1*255dns-char; dns-char = DIGIT / ALPHA / "-" / "."
    if not _DNS_NAME_RE.fullmatch(host):
        raise InvalidIdentifierError(f"invalid host name in {text!r}")


def is_valid_server_name(text: str) -> bool:
    try:
        ServerName.parse(text)
    except InvalidIdentifierError:
        return False
    return True


# --- User IDs -------------------------------------------------------------------------------


def is_valid_user_localpart(localpart: str) -> bool:
    """The current grammar: non-empty, only ``a-z 0-9 . _ = - / +``."""
    return isinstance(localpart, str) and _USER_LOCALPART_RE.fullmatch(localpart) is not None


@dataclass(frozen=True)
class UserID:
    """``@localpart:server_name``."""

    localpart: str
    server_name: ServerName

    def __str__(self) -> str:
        return f"@{self.localpart}:{self.server_name}"

    @property
    def is_compliant(self) -> bool:
        """False for historical IDs: an empty localpart or one outside U+0021 to U+007E."""
        return bool(self.localpart) and all("!" <= c <= "~" for c in self.localpart)

    @property
    def is_current_grammar(self) -> bool:
        return is_valid_user_localpart(self.localpart)

    @classmethod
    def parse(cls, text: str, *, strict: bool = False) -> "UserID":
        """Parse a user ID; raise ``InvalidIdentifierError``.

        ``strict`` requires the current grammar (for new local users); otherwise the historical
        grammar is accepted (any non-surrogate code points except ``:`` and NUL, even empty),
        as events from other servers may carry such IDs. Both enforce the 255-byte limit.
        """
        rest = _split_sigil(text, "@", "user ID")
        localpart, server_name = _split_domain(rest, "user ID")
        if strict:
            if not is_valid_user_localpart(localpart):
                raise InvalidIdentifierError(f"invalid user ID localpart in {text!r}")
        elif not _is_historical_localpart(localpart):
            raise InvalidIdentifierError(f"invalid user ID localpart in {text!r}")
        return cls(localpart, server_name)


def is_valid_user_id(text: str, *, strict: bool = False) -> bool:
    try:
        UserID.parse(text, strict=strict)
    except InvalidIdentifierError:
        return False
    return True


# --- Room IDs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoomID:
    """``!opaque:server_name`` (room versions 1-11) or ``!<hash>`` (version 12, no server)."""

    opaque: str
    server_name: ServerName | None = None

    def __str__(self) -> str:
        if self.server_name is None:
            return f"!{self.opaque}"
        return f"!{self.opaque}:{self.server_name}"

    @classmethod
    def parse(cls, text: str, room_version: RoomVersion | None = None) -> "RoomID":
        """Parse a room ID; raise ``InvalidIdentifierError``.

        With ``room_version``, only the form that version uses is accepted. Without it, an ID
        with a ``:`` is the domain form, and one without must be the hash form.
        """
        rest = _split_sigil(text, "!", "room ID")
        hash_form = ":" not in rest
        if room_version is not None and hash_form != room_version.room_id_is_create_event_id:
            raise InvalidIdentifierError(
                f"room ID {text!r} does not have the form of room version {room_version}"
            )
        if hash_form:
            # The create event's ID with sigil "!": URL-safe base64 of a reference hash.
            if not _HASH_URLSAFE_RE.fullmatch(rest):
                raise InvalidIdentifierError(f"invalid room ID {text!r}")
            return cls(rest)
        localpart, server_name = _split_domain(rest, "room ID")
        if not _is_historical_localpart(localpart):
            raise InvalidIdentifierError(f"invalid room ID localpart in {text!r}")
        return cls(localpart, server_name)


def is_valid_room_id(text: str, room_version: RoomVersion | None = None) -> bool:
    try:
        RoomID.parse(text, room_version)
    except InvalidIdentifierError:
        return False
    return True


# --- Room aliases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RoomAlias:
    """``#localpart:server_name``."""

    localpart: str
    server_name: ServerName

    def __str__(self) -> str:
        return f"#{self.localpart}:{self.server_name}"

    @classmethod
    def parse(cls, text: str) -> "RoomAlias":
        """Parse a room alias; raise ``InvalidIdentifierError``."""
        rest = _split_sigil(text, "#", "room alias")
        localpart, server_name = _split_domain(rest, "room alias")
        if not _is_historical_localpart(localpart):
            raise InvalidIdentifierError(f"invalid room alias localpart in {text!r}")
        return cls(localpart, server_name)


def is_valid_room_alias(text: str) -> bool:
    try:
        RoomAlias.parse(text)
    except InvalidIdentifierError:
        return False
    return True


# --- Event IDs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventID:
    """``$opaque:server_name`` (room versions 1 and 2) or ``$<hash>`` (version 3 and later)."""

    opaque: str
    server_name: ServerName | None = None

    def __str__(self) -> str:
        if self.server_name is None:
            return f"${self.opaque}"
        return f"${self.opaque}:{self.server_name}"

    @classmethod
    def parse(cls, text: str, event_id_format: EventIdFormat | None = None) -> "EventID":
        """Parse an event ID of ``event_id_format``; raise ``InvalidIdentifierError``.

        Without a format, any ``$`` identifier of at most 255 bytes is accepted, split at its
        first ``:`` if it has one.
        """
        rest = _split_sigil(text, "$", "event ID")
        if event_id_format is EventIdFormat.V1:
            localpart, server_name = _split_domain(rest, "event ID")
            if not localpart or not _is_historical_localpart(localpart):
                raise InvalidIdentifierError(f"invalid event ID localpart in {text!r}")
            return cls(localpart, server_name)
        if event_id_format is EventIdFormat.V3:
            if not _HASH_STANDARD_RE.fullmatch(rest):
                raise InvalidIdentifierError(f"invalid room version 3 event ID {text!r}")
            return cls(rest)
        if event_id_format is EventIdFormat.V4:
            if not _HASH_URLSAFE_RE.fullmatch(rest):
                raise InvalidIdentifierError(f"invalid event ID {text!r}")
            return cls(rest)
        if not rest or "\x00" in rest:
            raise InvalidIdentifierError(f"invalid event ID {text!r}")
        localpart, colon, domain = rest.partition(":")
        if colon:
            return cls(localpart, ServerName.parse(domain))
        return cls(rest)


def is_valid_event_id(text: str, event_id_format: EventIdFormat | None = None) -> bool:
    try:
        EventID.parse(text, event_id_format)
    except InvalidIdentifierError:
        return False
    return True


# --- Other grammars -------------------------------------------------------------------------


def is_valid_opaque_id(text: str, max_length: int = 255) -> bool:
    """Opaque Identifier Grammar: ``[0-9A-Za-z._~-]``, 1 to ``max_length`` characters."""
    return (
        isinstance(text, str)
        and 1 <= len(text) <= max_length
        and _OPAQUE_RE.fullmatch(text) is not None
    )


def is_valid_namespaced_id(text: str) -> bool:
    """Common Namespaced Identifier Grammar: ``[a-z][a-z0-9._-]*``, 1 to 255 characters."""
    return isinstance(text, str) and len(text) <= 255 and _NAMESPACED_RE.fullmatch(text) is not None


def server_name_of(identifier: str) -> str:
    """The domain of ``@user:domain``, ``#alias:domain``, ``!room:domain`` or ``$event:domain``.

    Raise ``InvalidIdentifierError`` if there is no domain (a v12 room ID or a v3+ event ID).
    """
    if not isinstance(identifier, str) or identifier[:1] not in ("@", "#", "!", "$"):
        raise InvalidIdentifierError(f"not a sigilled identifier: {identifier!r}")
    _, colon, domain = identifier.partition(":")
    if not colon:
        raise InvalidIdentifierError(f"identifier {identifier!r} has no server name")
    return str(ServerName.parse(domain))
