"""Process logging setup: plain text or one JSON object per line (configuration key ``logging``).

Log records may carry structured fields through ``extra={"fields": {...}}``; the text format
appends them as ``key=value`` and the JSON format merges them into the object.
"""

import logging
import sys
from typing import Any, Literal, TextIO

import orjson

LogFormat = Literal["text", "json"]

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, structured fields, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """The classic one-line format; tracebacks follow on the next lines."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)


def setup_logging(level: str, fmt: LogFormat, stream: TextIO | None = None) -> None:
    """Send every log record of ``level`` and above to ``stream`` (stderr) in format ``fmt``."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's own access log would duplicate ours (myelin.access).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
