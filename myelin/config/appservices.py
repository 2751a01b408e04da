"""Application service registrations (spec: Application Service API, "Registration").

Each file named in ``app_service_config_files`` is a YAML registration (id, url, as_token,
hs_token, sender_localpart, namespaces of users/aliases/rooms, rate_limited, protocols,
receive_ephemeral). ``load_registrations`` validates every file into an
``AppserviceRegistration``, reporting each problem with the file and the key, and enforces what
the spec requires across them: unique ``id`` and ``as_token``.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from myelin.config.schema import ConfigError, Problem
from myelin.core.identifiers import is_valid_user_localpart

# The keys that switch on ephemeral data: the spec's, and MSC2409's names that bridges still
# write (Synapse accepts all three).
_EPHEMERAL_KEYS = ("receive_ephemeral", "de.sorunome.msc2409.push_ephemeral", "push_ephemeral")
# MSC3202 (Synapse's name): the appservice may also name a device with ``device_id``.
_MSC3202_KEY = "org.matrix.msc3202"
_KNOWN_KEYS = frozenset(
    {
        "id",
        "url",
        "as_token",
        "hs_token",
        "sender_localpart",
        "namespaces",
        "rate_limited",
        "protocols",
        "ip_range_whitelist",
        _MSC3202_KEY,
        *_EPHEMERAL_KEYS,
    }
)
_NAMESPACE_KINDS = ("users", "aliases", "rooms")


@dataclass(frozen=True)
class Namespace:
    """One namespace entry: a regular expression and whether the appservice owns it alone."""

    regex: str
    exclusive: bool
    pattern: re.Pattern[str]

    def matches(self, value: str) -> bool:
        # Matching Synapse (the spec only says "POSIX regular expression"): the expression is
        # anchored at the start of the ID, not at its end, so "@_irc_.*" covers every server.
        return self.pattern.match(value) is not None


@dataclass(frozen=True)
class AppserviceRegistration:
    """A validated registration file."""

    id: str
    url: str | None
    as_token: str
    hs_token: str
    sender_localpart: str
    users: tuple[Namespace, ...] = ()
    aliases: tuple[Namespace, ...] = ()
    rooms: tuple[Namespace, ...] = ()
    rate_limited: bool = True
    protocols: tuple[str, ...] = ()
    receive_ephemeral: bool = False
    source: str = ""

    def sender(self, server_name: str) -> str:
        """The user ID of ``sender_localpart`` on this server."""
        return f"@{self.sender_localpart}:{server_name}"

    def is_interested_in_user(self, user_id: str, server_name: str) -> bool:
        """Whether ``user_id`` is the sender or in a users namespace (local users only)."""
        if user_id == self.sender(server_name):
            return True
        if not user_id.endswith(f":{server_name}"):
            return False
        return any(n.matches(user_id) for n in self.users)

    def is_exclusive_user(self, user_id: str) -> bool:
        return any(n.exclusive and n.matches(user_id) for n in self.users)

    def is_interested_in_alias(self, alias: str) -> bool:
        return any(n.matches(alias) for n in self.aliases)

    def is_exclusive_alias(self, alias: str) -> bool:
        return any(n.exclusive and n.matches(alias) for n in self.aliases)

    def is_interested_in_room(self, room_id: str) -> bool:
        return any(n.matches(room_id) for n in self.rooms)

    def is_exclusive_room(self, room_id: str) -> bool:
        return any(n.exclusive and n.matches(room_id) for n in self.rooms)


def _namespaces(raw: Any, where: str, problems: list[Problem]) -> tuple[Namespace, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(Problem(where, "expected a list of {exclusive, regex} entries"))
        return ()
    found: list[Namespace] = []
    for index, entry in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(Problem(at, "expected a mapping with exclusive and regex"))
            continue
        regex = entry.get("regex")
        exclusive = entry.get("exclusive", False)
        if not isinstance(regex, str):
            problems.append(Problem(f"{at}.regex", "expected a regular expression (a string)"))
            continue
        if not isinstance(exclusive, bool):
            problems.append(Problem(f"{at}.exclusive", "expected true or false"))
            continue
        try:
            pattern = re.compile(regex)
        except re.error as e:
            problems.append(Problem(f"{at}.regex", f"not a valid regular expression: {e}"))
            continue
        found.append(Namespace(regex, exclusive, pattern))
    return tuple(found)


def _string(raw: Mapping[str, Any], key: str, where: str, problems: list[Problem]) -> str | None:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        problems.append(Problem(f"{where}: {key}", "required; expected a non-empty string"))
        return None
    return value


def parse_registration(
    raw: Any, source: str
) -> tuple[AppserviceRegistration | None, list[Problem], list[str]]:
    """Validate one parsed registration: (registration or None, problems, warnings)."""
    problems: list[Problem] = []
    warnings: list[str] = []
    if not isinstance(raw, Mapping):
        return None, [Problem(source, "a registration must be a YAML mapping")], warnings
    for key in sorted(set(map(str, raw)) - _KNOWN_KEYS):
        warnings.append(f"{source}: {key}: unknown registration key, ignored")
    as_id = _string(raw, "id", source, problems)
    as_token = _string(raw, "as_token", source, problems)
    hs_token = _string(raw, "hs_token", source, problems)
    localpart = _string(raw, "sender_localpart", source, problems)
    if "url" not in raw:
        problems.append(Problem(f"{source}: url", "required; a URL, or null for no traffic"))
    url = raw.get("url")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        problems.append(Problem(f"{source}: url", "expected an http:// or https:// URL or null"))
    namespaces = raw.get("namespaces")
    if not isinstance(namespaces, Mapping):
        problems.append(
            Problem(f"{source}: namespaces", "required; a mapping of users, aliases, rooms")
        )
        namespaces = {}
    parsed = {
        kind: _namespaces(namespaces.get(kind), f"{source}: namespaces.{kind}", problems)
        for kind in _NAMESPACE_KINDS
    }
    rate_limited = raw.get("rate_limited", True)
    if not isinstance(rate_limited, bool):
        problems.append(Problem(f"{source}: rate_limited", "expected true or false"))
    protocols = raw.get("protocols") or []
    if not isinstance(protocols, list) or not all(isinstance(p, str) for p in protocols):
        problems.append(Problem(f"{source}: protocols", "expected a list of protocol names"))
        protocols = []
    ephemeral = False
    for key in _EPHEMERAL_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, bool):
            problems.append(Problem(f"{source}: {key}", "expected true or false"))
        ephemeral = ephemeral or value is True
    if localpart is not None and not is_valid_user_localpart(localpart):
        problems.append(
            Problem(
                f"{source}: sender_localpart",
                "not a valid user localpart (a-z, 0-9 and . _ = - / + only)",
            )
        )
    if problems or as_id is None or as_token is None or hs_token is None or localpart is None:
        return None, problems, warnings
    registration = AppserviceRegistration(
        id=as_id,
        url=url.rstrip("/") if isinstance(url, str) else None,
        as_token=as_token,
        hs_token=hs_token,
        sender_localpart=localpart,
        users=parsed["users"],
        aliases=parsed["aliases"],
        rooms=parsed["rooms"],
        rate_limited=bool(rate_limited),
        protocols=tuple(protocols),
        receive_ephemeral=ephemeral,
        source=source,
    )
    return registration, problems, warnings


def load_registrations(
    paths: Sequence[Path], warnings: list[str] | None = None
) -> tuple[AppserviceRegistration, ...]:
    """Read and validate every registration file; raise ``ConfigError`` naming file and key.

    The spec's warning ("each as_token and id MUST be unique") is enforced here.
    """
    problems: list[Problem] = []
    found: list[AppserviceRegistration] = []
    for path in paths:
        source = str(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as e:
            problems.append(
                Problem(source, f"cannot read: {e.strerror or e}", "check app_service_config_files")
            )
            continue
        except yaml.YAMLError as e:
            problems.append(Problem(source, f"not valid YAML: {e}", "fix the YAML syntax"))
            continue
        registration, file_problems, file_warnings = parse_registration(raw, source)
        problems += file_problems
        if warnings is not None:
            warnings += file_warnings
        if registration is not None:
            found.append(registration)
    ids: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for registration in found:
        if registration.id in ids:
            problems.append(
                Problem(
                    f"{registration.source}: id",
                    f"{registration.id!r} is also the id of {ids[registration.id]}",
                    "give every application service its own id",
                )
            )
        ids.setdefault(registration.id, registration.source)
        if registration.as_token in tokens:
            problems.append(
                Problem(
                    f"{registration.source}: as_token",
                    f"the same as_token as {tokens[registration.as_token]}",
                    "give every application service its own as_token",
                )
            )
        tokens.setdefault(registration.as_token, registration.source)
    if problems:
        raise ConfigError(problems)
    return tuple(found)
