"""Errors of the event write path (spec: Server-Server API, "Checks performed on receipt of a
PDU": an event failing the authorization rules is rejected).

Each is a ``MatrixError`` so that the HTTP layer maps it once; the extra attributes keep the
protocol detail (the auth rule that failed) for logs and tests.
"""

from myelin.services.errors import MatrixError


class EventRejectedError(MatrixError):
    """The event failed the authorization rules and was not persisted (403 ``M_FORBIDDEN``).

    ``rule`` is the spec's number of the rule that rejected it in the room's version; ``check``
    says which check failed: ``"auth_events"`` (against the event's own auth events) or
    ``"state_before"`` (against the state before the event).
    """

    def __init__(self, rule: str, reason: str, check: str) -> None:
        super().__init__(403, "M_FORBIDDEN", reason)
        self.rule = rule
        self.reason = reason
        self.check = check


class MissingPrerequisiteError(MatrixError):
    """An event the write path needs (a prev or auth event, or its state) is not stored.

    For local events this is a bug or a race with a purge; for federated events the caller
    fetches what is missing (``event_ids``) and tries again.
    """

    def __init__(self, message: str, event_ids: list[str]) -> None:
        super().__init__(500, "M_UNKNOWN", message)
        self.event_ids = event_ids
