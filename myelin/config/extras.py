"""Options of the smaller Client-Server modules (spec: Client-Server API, "Voice over IP"
and "Getting server support information"): Synapse's ``turn_*`` keys and Myelin's
``support`` section for ``/.well-known/matrix/support``.

The fields are declared on ``HomeserverConfig`` with the helpers below, one short line each.
"""

from collections.abc import Mapping
from typing import Any

from myelin.config.schema import option, parse_duration, positive_check

# The roles the spec defines for a support contact (others must be namespaced).
_CONTACT_ROLES = ("m.role.admin", "m.role.security")


def support_check(value: Mapping[str, Any]) -> str | None:
    """The ``support`` mapping follows the spec's response: ``contacts`` (each with a
    ``role`` and a ``matrix_id`` or ``email_address``) and/or ``support_page``."""
    unknown = sorted(set(value) - {"contacts", "support_page"})
    if unknown:
        return f"unknown keys {', '.join(unknown)} (expected contacts and/or support_page)"
    contacts = value.get("contacts")
    page = value.get("support_page")
    if contacts is None and page is None:
        return "expected contacts or support_page"
    if page is not None and not isinstance(page, str):
        return "support_page must be a URL string"
    if contacts is not None:
        if not isinstance(contacts, list):
            return "contacts must be a list"
        for index, contact in enumerate(contacts):
            if not isinstance(contact, dict):
                return f"contacts[{index}] must be a mapping"
            role = contact.get("role")
            if not isinstance(role, str) or not (role in _CONTACT_ROLES or "." in role):
                return f"contacts[{index}].role must be m.role.admin, m.role.security or namespaced"
            ids = [contact.get(k) for k in ("matrix_id", "email_address")]
            if not any(isinstance(v, str) and v for v in ids):
                return f"contacts[{index}] needs a matrix_id or an email_address"
            for key in ("matrix_id", "email_address"):
                if key in contact and not isinstance(contact[key], str):
                    return f"contacts[{index}].{key} must be a string"
    return None


def support_option() -> Any:
    return option(
        None,
        doc="What GET /.well-known/matrix/support answers: contacts (role m.role.admin or"
        " m.role.security, with matrix_id and/or email_address) and/or support_page. When"
        " unset that path answers 404.",
        fix="give contacts: [{role: m.role.admin, email_address: ...}] and/or support_page: URL",
        check=support_check,
        example={
            "contacts": [{"role": "m.role.admin", "email_address": "admin@example.org"}],
            "support_page": "https://example.org/support",
        },
    )


def turn_uris_option() -> Any:
    return option(
        (),
        doc="The TURN server URIs handed to clients by GET /_matrix/client/v3/voip/turnServer"
        " (turn: or turns: URIs). When empty that endpoint answers an empty object.",
        example=["turn:turn.example.org:3478?transport=udp"],
    )


def turn_shared_secret_option() -> Any:
    return option(
        None,
        doc="The TURN server's shared secret (coturn's static-auth-secret): clients get"
        " time-limited HMAC-SHA1 credentials. Wins over turn_username/turn_password.",
        example="<the TURN server's static-auth-secret>",
    )


def turn_username_option() -> Any:
    return option(None, doc="A fixed TURN username (used when turn_shared_secret is unset).")


def turn_password_option() -> Any:
    return option(None, doc="The fixed TURN password that goes with turn_username.")


def turn_user_lifetime_option() -> Any:
    return option(
        3_600_000,
        doc="How long TURN credentials stay valid: milliseconds or a duration.",
        fix="use a duration such as 1h",
        convert=parse_duration,
        check=positive_check,
        type_name="duration",
    )


def turn_allow_guests_option() -> Any:
    return option(True, doc="Whether guest users may get TURN credentials.")
