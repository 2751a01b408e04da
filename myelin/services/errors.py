"""The standard error response (spec: Client-Server API, "Standard error response").

One exception for every Matrix-level error; the HTTP layer turns it into JSON in one place.
"""

from typing import Any


class MatrixError(Exception):
    """A Matrix error: HTTP status, ``errcode``, human-readable ``error``, extra response keys."""

    def __init__(self, status: int, errcode: str, message: str, **extra: Any) -> None:
        super().__init__(f"{status} {errcode}: {message}")
        self.status = status
        self.errcode = errcode
        self.message = message
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        """The response body; ``errcode`` and ``error`` are always present."""
        return {**self.extra, "errcode": self.errcode, "error": self.message}
