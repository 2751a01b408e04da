"""Errors raised by the pure protocol core.

Each is a plain exception carrying a human-readable reason; the service and API layers map them
to Matrix error codes.
"""


class ProtocolError(ValueError):
    """Base class of every error the protocol core raises."""


class CanonicalJsonError(ProtocolError):
    """A value cannot be encoded as canonical JSON (a float, an out-of-range integer, ...)."""


class InvalidIdentifierError(ProtocolError):
    """A string does not follow the grammar of the identifier it claims to be."""


class SignatureError(ProtocolError):
    """A signature is missing, malformed or does not verify."""


class UnsupportedRoomVersionError(ProtocolError):
    """The room version is not one this server knows."""


class InvalidEventError(ProtocolError):
    """An event does not have the format its room version requires."""


class AuthError(ProtocolError):
    """An event is rejected by the authorization rules.

    ``rule`` names the spec rule number that rejected it (for example ``"4.2"``).
    """

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"rule {rule}: {reason}")
        self.rule = rule
        self.reason = reason
