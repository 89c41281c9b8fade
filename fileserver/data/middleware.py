"""Request middleware: the header-size limit, and one structured log line per transfer."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import falcon

from coffer.protocol import requestids, routes, wire

from .. import metrics
from ..errors import HeadersTooLarge

log = logging.getLogger("coffer.fileserver.transfer")

CHUNK_PREFIX = routes.CHUNKS_PREFIX


@dataclass
class TransferRecord:
    """What one chunk request did, filled in as it is learned, logged once at the end.

    SECURITY: ids, sizes and outcomes only; never the ticket.
    """

    method: str
    started: float = field(default_factory=time.monotonic)
    shard: str = "-"
    file: str = "-"
    chunk: str = "-"
    bytes: int = 0
    error: str | None = None
    request_id: str | None = field(default_factory=requestids.current.get)
    """Kept here: a download is logged when its stream closes, after the request's id was forgotten."""
    logged_on_close: bool = False
    """Set by a download's stream, which logs the transfer itself once the WSGI server closes it."""

    def log(self, status: int) -> None:
        kv: dict[str, Any] = {
            "method": self.method,
            "shard": self.shard,
            "file": self.file,
            "chunk": self.chunk[:16],
            "bytes": self.bytes,
            "status": status,
            "ms": round((time.monotonic() - self.started) * 1000, 1),
        }
        if self.error:
            kv["error"] = self.error
        log.info("transfer", extra={"kv": kv, "request_id": self.request_id})
        metrics.count_transfer(self.method, self.shard, status, self.error, self.bytes)


def record_of(req: falcon.Request) -> TransferRecord:
    """Return the request's transfer record, creating it if the log middleware did not run."""
    record: TransferRecord | None = req.context.get("transfer")
    if record is None:
        record = req.context.transfer = TransferRecord(req.method)
    return record


class TransferLog:
    """Log each chunk request once: here, or when its download stream closes (after the last byte)."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.path.startswith(CHUNK_PREFIX):
            req.context.transfer = TransferRecord(req.method)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        if not req.path.startswith(CHUNK_PREFIX) or record_of(req).logged_on_close:
            return
        record = record_of(req)
        record.error = req.context.get("error_code")
        record.log(falcon.http_status_to_code(resp.status))


class HeaderLimit:
    """Refuse requests whose headers exceed :data:`protocol.wire.MAX_HEADER_BYTES` with 431.

    gunicorn's own limits are set higher, so this answer (JSON, with a reason) comes first.
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        total = sum(len(name) + len(value) + 4 for name, value in req.headers.items())  # "name: value\r\n"
        if total > wire.MAX_HEADER_BYTES:
            raise HeadersTooLarge(
                f"the request headers total {total} bytes, more than the {wire.MAX_HEADER_BYTES} allowed: "
                "send only the Authorization ticket and standard headers"
            )
