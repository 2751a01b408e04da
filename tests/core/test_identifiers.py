"""Tests for the identifier grammar (spec: Appendices, "Identifier Grammar")."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from myelin.core.errors import InvalidIdentifierError
from myelin.core.identifiers import (
    EventID,
    RoomAlias,
    RoomID,
    ServerName,
    UserID,
    is_valid_event_id,
    is_valid_namespaced_id,
    is_valid_opaque_id,
    is_valid_room_alias,
    is_valid_room_id,
    is_valid_server_name,
    is_valid_user_id,
    is_valid_user_localpart,
    server_name_of,
)
from myelin.core.room_versions import ROOM_V1, ROOM_V11, ROOM_V12, EventIdFormat

HASH_URLSAFE = "Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"  # the spec's v4 example
HASH_STANDARD = "CD66HAED5npg6074c6pDtLKalHjVfYb2q4Q3LZgrW6o"  # the spec's v3 example

# --- Server names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("matrix.org", "matrix.org", None),
        ("matrix.org:8888", "matrix.org", 8888),
        ("1.2.3.4", "1.2.3.4", None),
        ("1.2.3.4:1234", "1.2.3.4", 1234),
        ("[1234:5678::abcd]", "[1234:5678::abcd]", None),
        ("[1234:5678::abcd]:5678", "[1234:5678::abcd]", 5678),
        ("[::ffff:1.2.3.4]", "[::ffff:1.2.3.4]", None),
        ("localhost", "localhost", None),
        ("MATRIX.ORG", "MATRIX.ORG", None),
        ("a" * 255, "a" * 255, None),
        ("host:65535", "host", 65535),
    ],
)
def test_valid_server_names(text: str, host: str, port: int | None) -> None:
    parsed = ServerName.parse(text)
    assert (parsed.host, parsed.port) == (host, port)
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "matrix.org:",
        "matrix.org:abc",
        "matrix.org:123456",
        "matrix.org:65536",
        "matrix.org:08448",  # stricter than the ABNF: no leading zeros, so text round-trips
        "matrix.org:80:80",
        "under_score.org",
        "sp ace.org",
        "ünicode.org",
        "a" * 256,
        "1.2.3.256",
        "[1234:5678::abcd",
        "[1234:5678::abcd]x",
        "[1234:5678::abcd]:",
        "[zzzz::1]",
        "[1:2:3]",
        "[fe80::1%eth0]",
        "1234:5678::abcd",
    ],
)
def test_invalid_server_names(text: str) -> None:
    assert not is_valid_server_name(text)
    with pytest.raises(InvalidIdentifierError):
        ServerName.parse(text)


def test_server_names_are_case_sensitive() -> None:
    assert ServerName.parse("matrix.org") != ServerName.parse("MATRIX.ORG")


def test_server_name_properties() -> None:
    assert ServerName.parse("[::1]:8448").bare_host == "::1"
    assert ServerName.parse("[::1]").is_ip_literal
    assert ServerName.parse("10.0.0.1").is_ip_literal
    assert not ServerName.parse("example.org").is_ip_literal


# --- User IDs -------------------------------------------------------------------------------


def test_user_id_parse() -> None:
    user = UserID.parse("@alice:example.org:8448", strict=True)
    assert user == UserID("alice", ServerName("example.org", 8448))
    assert str(user) == "@alice:example.org:8448"
    assert user.is_compliant and user.is_current_grammar


@pytest.mark.parametrize("localpart", ["a", "a.b_c=d-e/f+g", "0123456789"])
def test_current_localparts(localpart: str) -> None:
    assert is_valid_user_localpart(localpart)
    assert is_valid_user_id(f"@{localpart}:example.org", strict=True)


@pytest.mark.parametrize("localpart", ["Alice", "a b", "é", "a*b", "a#b", "~x", "!"])
def test_historical_localparts(localpart: str) -> None:
    # Not the current grammar, but accepted from others (historical user IDs).
    assert not is_valid_user_localpart(localpart)
    assert not is_valid_user_id(f"@{localpart}:example.org", strict=True)
    user = UserID.parse(f"@{localpart}:example.org")
    assert user.localpart == localpart
    assert not user.is_current_grammar


def test_empty_and_control_localparts_are_historical_but_not_compliant() -> None:
    assert not is_valid_user_localpart("")
    for localpart in ("", "a\x01b", "caf\u00e9"):
        user = UserID.parse(f"@{localpart}:example.org")
        assert not user.is_compliant
    assert UserID.parse("@Alice:example.org").is_compliant


@pytest.mark.parametrize(
    "text",
    [
        "alice:example.org",
        "#alice:example.org",
        "@alice",
        "@alice:",
        "@alice:bad_host",
        "@a\x00b:example.org",
        "@a\ud800:example.org",
    ],
)
def test_invalid_user_ids(text: str) -> None:
    assert not is_valid_user_id(text)
    with pytest.raises(InvalidIdentifierError):
        UserID.parse(text)


def test_user_id_255_byte_limit() -> None:
    server = "example.org"
    longest = "@" + "a" * (255 - 2 - len(server)) + ":" + server
    assert len(longest) == 255
    assert is_valid_user_id(longest, strict=True)
    assert not is_valid_user_id("@a" + longest[1:])
    # The limit is in bytes: "é" is 2 bytes in UTF-8.
    assert not is_valid_user_id("@" + "é" * 122 + ":" + server)


def test_user_localpart_rejects_non_strings() -> None:
    assert not is_valid_user_localpart(5)  # type: ignore[arg-type]


# --- Room IDs -------------------------------------------------------------------------------


def test_room_id_domain_form() -> None:
    room = RoomID.parse("!abc123:example.org")
    assert room == RoomID("abc123", ServerName("example.org"))
    assert str(room) == "!abc123:example.org"
    assert RoomID.parse("!ABC:matrix.org", ROOM_V11).opaque == "ABC"


def test_room_id_hash_form() -> None:
    room = RoomID.parse("!" + HASH_URLSAFE)
    assert room == RoomID(HASH_URLSAFE, None)
    assert str(room) == "!" + HASH_URLSAFE
    assert is_valid_room_id("!" + HASH_URLSAFE, ROOM_V12)


def test_room_id_form_must_match_room_version() -> None:
    assert not is_valid_room_id("!" + HASH_URLSAFE, ROOM_V11)
    assert not is_valid_room_id("!abc:example.org", ROOM_V12)


@pytest.mark.parametrize(
    "text",
    [
        "abc:example.org",
        "!abc",  # neither a domain nor a hash
        "!" + HASH_STANDARD.replace("6", "+"),  # standard alphabet is not the v12 form
        "!" + HASH_URLSAFE[:-1],
        "!" + HASH_URLSAFE[:-1] + "h",  # non-zero padding bits: not a SHA-256 hash
        "!a\x00:example.org",
        "!abc:bad_host",
        "!" + "a" * 250 + ":example.org",
    ],
)
def test_invalid_room_ids(text: str) -> None:
    assert not is_valid_room_id(text)


# --- Room aliases ---------------------------------------------------------------------------


def test_room_alias() -> None:
    alias = RoomAlias.parse("#Général:example.org")
    assert alias == RoomAlias("Général", ServerName("example.org"))
    assert str(alias) == "#Général:example.org"


@pytest.mark.parametrize(
    "text", ["#a", "@a:example.org", "#a\x00:example.org", "#" + "a" * 255 + ":x.org", "#a:x_y"]
)
def test_invalid_room_aliases(text: str) -> None:
    assert not is_valid_room_alias(text)


# --- Event IDs ------------------------------------------------------------------------------


def test_event_id_formats() -> None:
    v1 = EventID.parse("$a4ecee13e2accdadf56c1025:example.com", EventIdFormat.V1)
    assert v1.server_name == ServerName("example.com")
    assert str(v1) == "$a4ecee13e2accdadf56c1025:example.com"
    assert EventID.parse("$" + HASH_STANDARD, EventIdFormat.V3).opaque == HASH_STANDARD
    assert EventID.parse("$" + HASH_URLSAFE, EventIdFormat.V4).opaque == HASH_URLSAFE


@pytest.mark.parametrize(
    ("text", "event_id_format"),
    [
        ("$" + HASH_URLSAFE, EventIdFormat.V1),  # no domain
        ("$:example.org", EventIdFormat.V1),
        ("$abc:example.org", EventIdFormat.V3),
        ("$abc:example.org", EventIdFormat.V4),
        ("$" + HASH_URLSAFE, EventIdFormat.V3),  # "-" and "_" are not standard base64
        ("$" + HASH_STANDARD.replace("6", "/"), EventIdFormat.V4),
        ("$" + HASH_URLSAFE + "A", EventIdFormat.V4),
        ("!" + HASH_URLSAFE, EventIdFormat.V4),
        ("$", None),
        ("$a\x00", None),
        ("$" + "a" * 255, None),
    ],
)
def test_invalid_event_ids(text: str, event_id_format: EventIdFormat | None) -> None:
    assert not is_valid_event_id(text, event_id_format)


def test_event_id_without_format() -> None:
    assert EventID.parse("$abc:example.org").server_name == ServerName("example.org")
    assert EventID.parse("$" + HASH_URLSAFE).server_name is None


# --- Other grammars -------------------------------------------------------------------------


def test_opaque_ids() -> None:
    assert is_valid_opaque_id("AZaz09-._~")
    assert not is_valid_opaque_id("")
    assert not is_valid_opaque_id("a b")
    assert not is_valid_opaque_id("a/b")
    assert is_valid_opaque_id("a" * 255)
    assert not is_valid_opaque_id("a" * 256)
    assert is_valid_opaque_id("a" * 300, max_length=300)


def test_namespaced_ids() -> None:
    assert is_valid_namespaced_id("m.room.message")
    assert is_valid_namespaced_id("com.example-x_y.z9")
    for bad in ("", "M.room", "1abc", ".abc", "a b", "a" * 256, "m.röom"):
        assert not is_valid_namespaced_id(bad)


def test_server_name_of() -> None:
    assert server_name_of("@a:example.org:8448") == "example.org:8448"
    assert server_name_of("!r:[::1]") == "[::1]"
    assert server_name_of("$e:x.org") == "x.org"
    assert server_name_of("#a:x.org") == "x.org"
    for bad in ("!" + HASH_URLSAFE, "a:x.org", "@a:bad_host", ""):
        with pytest.raises(InvalidIdentifierError):
            server_name_of(bad)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidIdentifierError):
        UserID.parse(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdentifierError):
        ServerName.parse(5)  # type: ignore[arg-type]


# --- Properties -----------------------------------------------------------------------------

_label = st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True)
_dns = (
    st.lists(_label, min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda h: not all(p.isdigit() for p in h.split(".")) or h.count(".") != 3)
)
_ipv4 = st.ip_addresses(v=4).map(str)
_ipv6 = st.ip_addresses(v=6).map(lambda a: f"[{a}]")
_port = st.none() | st.integers(0, 65535)
server_names = st.builds(
    lambda host, port: host if port is None else f"{host}:{port}", _dns | _ipv4 | _ipv6, _port
)
_current_localpart = st.from_regex(r"[a-z0-9._=/+-]{1,30}", fullmatch=True)
_historical_localpart = st.text(
    st.characters(codec="utf-8", exclude_characters=":\x00"), max_size=30
)


@given(server_names)
def test_generated_server_names_round_trip(text: str) -> None:
    assert str(ServerName.parse(text)) == text


@given(_current_localpart, server_names)
def test_generated_user_ids_round_trip(localpart: str, server: str) -> None:
    text = f"@{localpart}:{server}"
    user = UserID.parse(text, strict=True)
    assert (user.localpart, str(user.server_name)) == (localpart, server)
    assert str(user) == text


@given(_historical_localpart, server_names)
def test_generated_historical_ids_round_trip(localpart: str, server: str) -> None:
    for text, parse in (
        (f"@{localpart}:{server}", UserID.parse),
        (f"#{localpart}:{server}", RoomAlias.parse),
    ):
        fits = len(text.encode()) <= 255
        if fits:
            assert str(parse(text)) == text
        else:
            with pytest.raises(InvalidIdentifierError):
                parse(text)


@given(st.binary(min_size=32, max_size=32))
def test_generated_hash_ids_parse(digest: bytes) -> None:
    import base64

    urlsafe = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    standard = base64.b64encode(digest).decode().rstrip("=")
    assert str(EventID.parse("$" + urlsafe, EventIdFormat.V4)) == "$" + urlsafe
    assert str(EventID.parse("$" + standard, EventIdFormat.V3)) == "$" + standard
    assert str(RoomID.parse("!" + urlsafe, ROOM_V12)) == "!" + urlsafe


@given(_current_localpart, st.characters(codec="utf-8").filter(lambda c: c not in ":\x00"))
def test_any_character_outside_the_current_grammar_is_rejected_in_strict_mode(
    localpart: str, extra: str
) -> None:
    candidate = localpart + extra
    expected = all(c in "abcdefghijklmnopqrstuvwxyz0123456789._=/+-" for c in candidate)
    assert is_valid_user_localpart(candidate) == expected
    assert is_valid_user_id(f"@{candidate}:example.org", strict=True) == expected


@given(st.text(st.characters(codec="utf-8", exclude_characters=":[]"), max_size=20))
def test_hostnames_with_characters_outside_the_grammar_are_rejected(host: str) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
    if not host or not set(host) <= allowed:
        assert not is_valid_server_name(host)
    else:
        assert is_valid_server_name(host) or host.count(".") == 3


def test_room_v1_accepts_domain_form_only() -> None:
    assert is_valid_room_id("!x:domain", ROOM_V1)
    assert not is_valid_room_id("!" + HASH_URLSAFE, ROOM_V1)
