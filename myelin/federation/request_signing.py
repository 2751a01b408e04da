"""Signing and checking federation requests (spec: Server-Server API, "Request Authentication").

The request method, target URI, origin, destination and JSON body are wrapped in a JSON object
that the origin signs with the JSON signing algorithm; the signature travels in an
``Authorization: X-Matrix`` header. ``uri`` is the full path from ``/_matrix/...`` with the query
string, as sent on the wire (no scheme, no host).
"""

from collections.abc import Mapping
from typing import Any

from myelin.core.signing import SigningKey, VerifyKey, compute_signature, verify_signature

_NO_CONTENT = object()


def request_json(
    method: str, uri: str, origin: str, destination: str, content: Any = _NO_CONTENT
) -> dict[str, Any]:
    """Step 1: the JSON object that is signed (``content`` only when the request has a body)."""
    obj: dict[str, Any] = {
        "method": method,
        "uri": uri,
        "origin": origin,
        "destination": destination,
    }
    if content is not _NO_CONTENT:
        obj["content"] = content
    return obj


def _quote(value: str) -> str:
    # Senders avoid backslashes and quote every value ("for compatibility with older servers").
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sign_request(
    origin: str,
    destination: str,
    key: SigningKey,
    *,
    method: str,
    uri: str,
    content: Any = _NO_CONTENT,
) -> str:
    """Step 2: the ``Authorization`` header value for a request from ``origin``.

    One space after ``X-Matrix``, lower-case names and no whitespace around commas, as the spec
    asks of senders; ``destination`` is always sent.
    """
    signature = compute_signature(request_json(method, uri, origin, destination, content), key)
    return (
        f"X-Matrix origin={_quote(origin)},destination={_quote(destination)},"
        f"key={_quote(key.key_id)},sig={_quote(signature)}"
    )


def verify_request_signature(
    *,
    method: str,
    uri: str,
    origin: str,
    destination: str,
    signature: str,
    verify_key: VerifyKey,
    content: Any = _NO_CONTENT,
) -> None:
    """Check ``origin``'s signature of a request; raise ``SignatureError``."""
    signed: Mapping[str, Any] = {
        **request_json(method, uri, origin, destination, content),
        "signatures": {origin: {verify_key.key_id: signature}},
    }
    verify_signature(signed, origin, verify_key)


NO_CONTENT: Any = _NO_CONTENT
