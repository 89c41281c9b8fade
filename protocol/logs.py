"""One log line per event, as ``key=value`` pairs that grep and log shippers both read.

Call sites pass facts as ``extra={"kv": {...}}``; the formatter quotes values
that need it, and adds the id of the request being served
(:mod:`.requestids`), so one request's lines can be found in every program.
SECURITY: never pass a key, token, password, ticket or link fragment; log ids,
sizes and outcomes only.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from . import requestids

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(value: Any) -> str:
    text = str(value)
    if text and text.isprintable() and not any(c in text for c in ' "='):
        return text
    escaped = (_ESCAPES.get(c) or (c if c.isprintable() else f"\\u{ord(c):04x}") for c in text)
    return '"' + "".join(escaped) + '"'


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        parts = [
            f"ts={ts}",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"event={_quote(record.getMessage())}",
        ]
        request_id = getattr(record, "request_id", None)
        if request_id:
            parts.append(f"request_id={_quote(request_id)}")
        kv = getattr(record, "kv", None)
        if isinstance(kv, dict):
            parts.extend(f"{k}={_quote(v)}" for k, v in kv.items())
        if record.exc_info and record.exc_info[0] is not None:
            parts.append(f"exc={_quote(record.exc_info[0].__name__)}")
            parts.append(f"trace={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request being served when it was logged (none outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = requestids.current.get()
        return True


# SECURITY: at DEBUG these print signed request headers and URLs (access key ids, SAS
# signatures, upload session URLs); they stay at WARNING whatever level we run at.
QUIET_LOGGERS = (
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "azure",
    "google",
    "httpx",
    "httpcore",
    "apscheduler",
)


def configure(level: str = "info") -> None:
    """Send every logger's records to stderr, one key=value line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
