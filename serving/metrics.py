"""Prometheus metrics that stay right under gunicorn's several workers, and the listener that serves them.

Each worker counts in its own memory, so a scrape of one worker would see a
fraction of the requests. prometheus-client's multiprocess mode has every process
write its values to memory-mapped files in one directory, and a scrape sum them:

- the gunicorn master calls :func:`prepare` before it forks anything: it empties
  the run's directory (values of an earlier run would be added to this one's) and
  switches value storage to those files;
- a worker that exits is passed to :func:`worker_exited` (its counters stay, so
  totals never run backwards; its live gauges go);
- a sidecar process (never the master: see :mod:`.sidecar`) calls :func:`serve`,
  which answers ``GET /metrics`` on its own listener with the sum of every file
  plus the program's collectors (figures read at scrape time, from the database or
  the disks).

Metrics are served on a separate listener (``metrics_bind``), not on the public
port behind a token: a token in every Prometheus config is one more secret to
rotate, and a listener bound to 127.0.0.1 or a private interface keeps the figures
off the Internet by where it listens, checkable with ``ss -ltn``.

SECURITY: labels hold route templates, methods, statuses, error codes, shard and
backend names and fileserver ids: never a user's name, a file's name, a raw path,
a token or a key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import falcon
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server, values
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
"""The route label of a request no route took (a 404): its raw path would make a label per id."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "coffer_http_requests", "HTTP requests answered, by route template, method, status", ["route", "method", "status"]
)
LATENCY = Histogram(
    "coffer_http_request_duration_seconds",
    "Seconds from a request's arrival to its answer's head (a download's body streams after)",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
BYTES_IN = Counter("coffer_http_request_bytes", "Request body bytes declared, by route template", ["route"])
BYTES_OUT = Counter("coffer_http_response_bytes", "Response body bytes, by route template", ["route"])


def prepare(directory: Path) -> Path:
    """Make *directory*, drop the metric files an earlier run left in it, and have every process forked after
    this count into it; return it.

    Call in the master before any worker exists. Only ``*.db`` files are removed, so a
    directory set by mistake to one holding other files loses nothing else. Metrics
    whose values were made before (unlabelled ones at import) would keep them in
    memory: every metric here is labelled.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return directory


def enabled() -> bool:
    """Say whether this process counts into a multiprocess directory."""
    return bool(os.environ.get(ENV))


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges; its counters and histograms stay in the sum."""
    if enabled():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def finish(directory: Path | None) -> None:
    """Remove the run's metric files, and the directory if that leaves it empty, when the program stops."""
    if directory is None:
        return
    for done in directory.glob("*.db"):
        done.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        directory.rmdir()


def probe(bind: str) -> None:
    """Raise OSError now if *bind* cannot be listened on (in use, no such address), before any process starts.

    The listener itself is opened later in a sidecar process, where a failure would
    only be logged; an operator should learn of a wrong ``metrics_bind`` at start.
    """
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, int(port)))
        except OSError as exc:
            raise OSError(exc.errno, f"metrics_bind {bind}: {exc.strerror}") from exc


def registry(directory: Path, collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """Return a registry summing every process's files in *directory*, plus *collectors*."""
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg, path=str(directory))  # type: ignore[no-untyped-call]
    for collector in collectors:
        reg.register(collector)
    return reg


def serve(bind: str, directory: Path, collectors: Iterable[Collector] = ()) -> WSGIServer:
    """Answer scrapes on *bind* (``host:port``) in a thread of this process; return the server, to shut down."""
    host, _, port = bind.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host.strip("[]"), registry=registry(directory, collectors))
    log.info("metrics listening", extra={"kv": {"bind": bind}})
    return server


def route_of(req: falcon.Request) -> str:
    """Return the route template that took *req*, never its raw path."""
    return req.uri_template or UNMATCHED


class RequestMetrics:
    """Falcon middleware: count each request by route template and status, its latency and its bytes."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object, ok: bool) -> None:
        started = req.context.get("metrics_started")
        route = route_of(req)
        REQUESTS.labels(route, req.method, str(resp.status_code)).inc()
        if started is not None:
            LATENCY.labels(route, req.method).observe(time.perf_counter() - started)
        if req.content_length:
            BYTES_IN.labels(route).inc(req.content_length)
        sent = _body_length(resp)
        if sent:
            BYTES_OUT.labels(route).inc(sent)


def _body_length(resp: falcon.Response) -> int:
    """Return the bytes of *resp*'s body: its declared length (a stream), else its rendered body."""
    if resp.content_length is not None:
        return int(resp.content_length)
    body: Any = resp.render_body()
    return len(body) if body else 0
