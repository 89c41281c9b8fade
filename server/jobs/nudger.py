"""Nudge the fileservers that have new copy work, so they beat now instead of at their next interval.

Copy orders travel only in heartbeat answers, and a fileserver beats every 10 s. When a
file is finalized, or a copy receipt recorded, a worker hands the file ids to its
:class:`Nudger` and answers at once; the nudger's one thread (per worker process) asks
the database which live fileservers would now be handed site copies of those files
(``domain.sites.sites_lacking``) and POSTs each of their addresses, once, a nudge the
server signs for their cluster (:mod:`coffer.protocol.nudges`): fileservers behind one
load balancer share an address, and whichever the balancer picks may take the site's
orders. The fileserver checks it and beats, and the beat's answer carries the orders.

Best effort and bounded. A nudge is never retried: the regular heartbeat stays the
fallback, so a lost nudge only delays. The thread runs at most one round per
:data:`ROUND_GAP` (what arrives meanwhile is merged), nudges at most :data:`MAX_TARGETS`
addresses a round with short timeouts, keeps at most :data:`MAX_PENDING` files waiting,
and an address that cannot be reached (a fileserver behind NAT in another office, one
down) is left alone for a growing pause, up to :data:`MAX_PAUSE`. Each change of an address's
reachability is logged once. Nothing here is shared between workers or server instances:
each nudges for the finalizes it answered, from the database every instance shares.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from coffer.protocol import nudges, routes
from coffer.protocol.signing import SigningKey

from ..domain import sites
from ..domain.copies import RETRY_AFTER
from ..domain.repair import ORDER_TIMEOUT
from ..settings import ServerSettings
from ..store.db import Database

log = logging.getLogger(__name__)

ROUND_GAP = 0.1
"""The shortest time between two rounds of nudges of one worker: a burst of finalizes costs one round."""
MAX_PENDING = 1000
"""Files waiting for a round; more are dropped (logged): their copies wait for the regular beats."""
MAX_FILES_PER_QUERY = 200
MAX_TARGETS = 64
"""Addresses one round nudges at most."""
TIMEOUT = httpx.Timeout(1.0, connect=0.5)
FIRST_PAUSE = 30.0
MAX_PAUSE = 600.0
"""The longest an address that could not be reached is left without nudges."""


@dataclass
class _Unreachable:
    failures: int
    until: float


class Nudger:
    def __init__(
        self,
        db: Database,
        key: SigningKey,
        settings: ServerSettings,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ):
        self._db = db
        self._key = key
        self._settings = settings
        self._clock = clock
        self._transport = transport
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._dropped = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._unreachable: dict[str, _Unreachable] = {}
        self.sent = 0
        """Nudges a fileserver accepted, since this process started (for tests and logs)."""

    def files_changed(self, file_ids: Iterable[str]) -> None:
        """Note files that may have new copy work; returns at once (the round runs in the nudger's thread)."""
        with self._lock:
            for file_id in file_ids:
                if len(self._pending) >= MAX_PENDING:
                    if not self._dropped:
                        log.warning(
                            "too many files wait for a nudge: the rest wait for the fileservers' regular beats",
                            extra={"kv": {"pending": len(self._pending)}},
                        )
                    self._dropped = True
                    break
                self._pending.add(file_id)
            self._start()
        self._wake.set()

    def _start(self) -> None:
        """Start the thread in this process (a forked worker does not inherit its parent's). Under the lock."""
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="nudger", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=TIMEOUT, transport=self._transport, headers={"User-Agent": "coffer-server"}) as http:
            while True:
                self._wake.wait()
                self._wake.clear()
                with self._lock:
                    files, self._pending, self._dropped = sorted(self._pending), set(), False
                try:
                    self.round(http, files)
                except Exception:
                    # A database hiccup or a bug must not end nudging for the life of the worker; beats cover it.
                    log.exception("nudge round failed; the fileservers get their orders at their next beat")
                time.sleep(ROUND_GAP)

    def round(self, http: httpx.Client, files: list[str]) -> None:
        """Nudge each address of the live fileservers that would be handed site copies of *files* now."""
        now = self._clock()
        s = self._settings
        cuts = sites.Cuts(
            counted=now - s.repair_grace, live=now - s.lease_seconds, open=now - ORDER_TIMEOUT, retry=now - RETRY_AFTER
        )
        targets: dict[tuple[str, str], str] = {}
        """(url, cluster) -> one of the fileservers there, for the logs."""
        with self._db.transaction() as tx:
            for start in range(0, len(files), MAX_FILES_PER_QUERY):
                batch = files[start : start + MAX_FILES_PER_QUERY]
                for row in sites.sites_lacking(tx, batch, cuts, MAX_TARGETS):
                    targets.setdefault((row["url"], row["cluster_id"]), row["id"])
        for (url, cluster), fs_id in sorted(targets.items())[:MAX_TARGETS]:
            self._nudge(http, url, cluster, fs_id, now)

    def _nudge(self, http: httpx.Client, url: str, cluster: str, fs_id: str, now: float) -> None:
        paused = self._unreachable.get(url)
        if paused is not None and now < paused.until:
            return
        token = nudges.issue(self._key, cluster, now)  # SECURITY: names this cluster alone, lives NUDGE_TTL
        kv: dict[str, object] = {"url": url, "fileserver": fs_id}
        try:
            response = http.post(url.rstrip("/") + routes.NUDGE, json=nudges.request_body(token))
            refused = response.status_code != 202
            problem = f"HTTP {response.status_code}" if refused else ""
        except httpx.HTTPError as exc:
            refused, problem = True, f"{exc.__class__.__name__}: {exc}"
        if refused:
            failures = paused.failures + 1 if paused else 1
            pause = min(MAX_PAUSE, FIRST_PAUSE * 2 ** (failures - 1))
            self._unreachable[url] = _Unreachable(failures, now + pause)
            if paused is None:
                log.warning(
                    "cannot nudge a fileserver (behind NAT, down, or older than this server?): it gets its copy "
                    "orders at its regular heartbeats",
                    extra={"kv": kv | {"problem": problem, "next_try_s": pause}},
                )
            return
        self.sent += 1
        if paused is not None:
            del self._unreachable[url]
            log.info("a fileserver takes nudges again", extra={"kv": kv})
        log.debug("fileserver nudged", extra={"kv": kv})
