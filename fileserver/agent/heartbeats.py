"""Keep the server informed: register at start, heartbeat every few seconds, re-register when forgotten.

One agent runs per fileserver (see :mod:`coffer.fileserver.agent.process`), never one per
gunicorn worker. Each round it sends a signed heartbeat with the load the workers
record in the shared counters, the free space (a shard whose storage is below its
``min_free_bytes`` reserve is announced not writable), the chunk count, any chunks the
scrub quarantined, the purges carried out since the last beat, the copies made or failed
on the server's repair orders, and the cursor of the revocations it holds; the answer
carries the revocations after that cursor, which it merges and writes for the workers
to enforce (asking for the next page at once while the server says there is ``more``),
purge orders, which it hands to the :class:`~coffer.fileserver.maintenance.purger.Purger`
without waiting for them, and copy orders, which it hands to the
:class:`~coffer.fileserver.agent.copier.Copier` likewise. When the server is unreachable
it keeps trying with capped exponential backoff and logs each change of state once (not
a line per try); the workers meanwhile keep serving every ticket that is still valid.

A beat never carries more than the message limits allow: what does not fit waits
for the next beat, and while such a backlog remains (or the purger has a page of
confirmations ready, or the copier has carried out its orders and holds their
receipts) the next beat comes at once rather than after the interval,
so a bulk delete of thousands of files drains in seconds. A nudge from the server
(a worker verified it and rang the :class:`~coffer.fileserver.doorbell.Doorbell`: copy
work waits here) brings the next beat forward too, at most one such beat per
:data:`NUDGE_GAP`, so a new file's copy order arrives within a fraction of a second of
its finalize while a flood of nudges, genuine or replayed, cannot make this fileserver
beat more often than that. Should the server still
refuse a beat's report as malformed (an older server with a smaller cap, a bug),
the agent keeps its lease with a plain beat at once, warns, and from then on
offers reports in pages half as long: a report must never cost the fileserver
its liveness.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from coffer.protocol import cluster, messages, routes
from coffer.protocol.copies import MAX_COPY_REPORTS
from coffer.protocol.errors import CofferError, parse_error_body
from coffer.protocol.messages import (
    MAX_CORRUPT_REPORTS,
    MAX_PURGES,
    FilePurge,
    parse_heartbeat_answer,
    parse_registration_answer,
)
from coffer.protocol.signing import TokenTooLarge

from .. import reports, revocations
from ..beacon import Beacon
from ..counters import Totals
from ..doorbell import Doorbell
from ..identity import FILE_NAME as IDENTITY_FILE
from ..identity import Identity
from ..maintenance.purger import Purger
from ..settings import Settings
from ..shards import ServedShard
from ..storage.backoff import Backoff
from .copier import Copier

log = logging.getLogger(__name__)

REGISTER_PATH = routes.REGISTER
HEARTBEAT_PATH = routes.HEARTBEAT
MAX_CLOCK_SKEW = 10.0
"""Warn when the server's clock is this far off ours (it refuses requests 60 s off)."""
MAX_REPORT = max(MAX_CORRUPT_REPORTS, MAX_PURGES)
REPORT_REFUSALS = (400, 413)
"""Statuses with which a server refuses a request as malformed or too large: a report it cannot read."""
BACKLOG_GAP = 0.2
"""The shortest time between beats while a backlog of reports drains."""
WAKE_CHECK = 0.25
"""How often a waiting agent looks for a ready backlog, a nudge and its stop event."""
NUDGE_GAP = 1.0
"""The shortest time between two beats a nudge brings forward: the bound on what nudges can make a fileserver do."""


class ServerRefused(Exception):
    """The server answered with an error body."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def make_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """Return the HTTP client the agent talks to the server with.

    Short timeouts, so a hung server delays a beat by seconds, not minutes; idle
    connections are dropped before the server's 2 s keep-alive ends, so a request is
    never sent on a connection the server is closing.
    """
    return httpx.Client(
        base_url=settings.server.url,
        timeout=httpx.Timeout(5.0, connect=3.0),
        limits=httpx.Limits(max_connections=2, keepalive_expiry=1.0),
        transport=transport,
        headers={"User-Agent": "coffer-fileserver"},
    )


def post_signed(
    client: httpx.Client,
    settings: Settings,
    identity: Identity,
    action: cluster.Action,
    path: str,
    body: dict[str, Any],
    now: float,
) -> dict[str, Any]:
    """POST *body* to the server as a cluster-signed *action*; return its JSON answer.

    Raises :class:`ServerRefused` on an error answer, ``ValueError`` on one that
    is not a JSON object, and httpx's errors when the server cannot be reached.
    """
    request = reports.signed(settings, identity, action, body, now)  # SECURITY
    response = client.post(path, json=request)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code >= 400:
        code, message = parse_error_body(answer) or ("http_error", f"HTTP {response.status_code}")
        raise ServerRefused(response.status_code, code, message)
    if not isinstance(answer, dict):
        raise ValueError(f"the server's {action} answer is not a JSON object")
    return answer


class Agent:
    def __init__(
        self,
        settings: Settings,
        identity: Identity,
        shards: list[ServedShard],
        *,
        client: httpx.Client,
        totals: Callable[[], Totals],
        corrupt: reports.CorruptReports,
        purger: Purger,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        census: reports.ChunkCensus | None = None,
        beacon: Beacon | None = None,
        copier: Copier | None = None,
        doorbell: Doorbell | None = None,
    ):
        self._settings = settings
        self._identity = identity
        self._shards = shards
        self._client = client
        self._totals = totals
        self._corrupt = corrupt
        self._purger = purger
        self._copier = copier
        self._doorbell = doorbell
        self._beat_at = 0.0
        """When (``time.monotonic()``) the last beat was sent: a ring after it is news to the server's answer."""
        self._nudged_at = -NUDGE_GAP
        self.nudged_beats = 0
        self._clock = clock
        self._rand = rand
        self._backoff = Backoff(cap=max(settings.fileserver.heartbeat_interval, 1.0))
        self._rate = reports.RateMeter()
        self._census = census or reports.ChunkCensus(shards)
        self._beacon = beacon or Beacon()
        """Where the workers read when the server last accepted us (``/api/ready``)."""
        self._revoked_path = settings.data_dir / revocations.FILE_NAME
        self._revoked = revocations.load(self._revoked_path)
        self._revoked_written = False
        """Whether this process wrote the file yet: the first answer rewrites it whatever it held (an older format)."""
        self._more_revocations = False
        self.interval = settings.fileserver.heartbeat_interval
        self.registered = False
        self.failures = 0
        self._problem: str | None = None
        self._down_since = 0.0
        self._skewed = False
        self.report_limit = MAX_REPORT
        """Reports (of each kind) a beat may carry: halved after each refusal, for the life of the process."""
        self._report_refused = False
        self._backlog = False
        self._full: set[str] = set()

    def run(self, stop: threading.Event) -> None:
        """Register and heartbeat until *stop* is set."""
        delay = 0.0
        while not self._wait(stop, delay):
            delay = self.step()

    def _wait(self, stop: threading.Event, delay: float) -> bool:
        """Wait *delay* seconds, less while reports are backlogged after a good round; return whether to stop."""
        if self._problem is not None or self._report_refused:
            return stop.wait(delay)  # failing, or the report was refused: keep the pace, never hammer
        if stop.wait(min(delay, BACKLOG_GAP)):
            return True
        deadline = time.monotonic() + delay - BACKLOG_GAP
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._backlog or (self._copier is not None and self._copier.drained()):
                break
            if self._nudged():
                break
            if self._purger.wait_ready(min(remaining, WAKE_CHECK)):
                break
        return stop.is_set()

    def _nudged(self) -> bool:
        """Tell whether a nudge came since the last beat was sent and the gap since the last nudged beat has passed."""
        if self._doorbell is None or self._doorbell.last() <= self._beat_at:
            return False
        now = time.monotonic()
        if now - self._nudged_at < NUDGE_GAP:
            return False  # the ring stays: this beat comes when the gap has passed, unless a beat answers it first
        self._nudged_at = now
        self.nudged_beats += 1
        log.debug("nudged by the server: beating now", extra={"kv": {"nudged_beats": self.nudged_beats}})
        return True

    def step(self) -> float:
        """Do one round (register if needed, then heartbeat); return the seconds until the next."""
        try:
            if not self.registered:
                self.register()
            self.heartbeat()
        except ServerRefused as exc:
            if exc.code == "fileserver_unknown":
                self.registered = False  # the server forgot us (a new database, a purge): register again
                self._beacon.clear()
            return self._failed(f"refused: {exc.status} {exc.code}", exc.message)
        except httpx.HTTPError as exc:
            return self._failed(f"unreachable: {exc.__class__.__name__}", str(exc) or exc.__class__.__name__)
        except (ValueError, CofferError) as exc:
            return self._failed("bad answer", str(exc))
        except Exception as exc:
            # A bug or a broken disk must not end the heartbeats: log it with its trace, retry.
            return self._failed(f"internal: {exc.__class__.__name__}", str(exc), exc)
        self._recovered()
        self._beacon.mark()
        return self.interval

    def register(self) -> None:
        raw = self._post(
            "register", REGISTER_PATH, reports.registration_body(self._settings, self._identity, self._shards)
        )
        answer = parse_registration_answer(raw)
        if answer.fileserver_id not in (None, self._identity.fileserver_id):
            raise ValueError("the server registered this fileserver under another id")
        if answer.heartbeat_interval is not None:
            self.interval = min(self._settings.fileserver.heartbeat_interval, answer.heartbeat_interval)
        self.registered = True
        log.info(
            "registered with the server",
            extra={
                "kv": {
                    "fileserver": self._identity.fileserver_id,
                    "url": self._settings.public_url,
                    "interval": self.interval,
                }
            },
        )

    def heartbeat(self) -> None:
        """Send one beat; on an answer, apply its revocations and queue its purge orders (never run them here)."""
        self._note_full()
        self._beat_at = time.monotonic()
        now = self._clock()
        totals = self._totals()
        corrupt = self._corrupt.take(min(self.report_limit, MAX_CORRUPT_REPORTS))
        purged = self._purger.take(min(self.report_limit, MAX_PURGES))
        copied, failed = self._copier.take(min(self.report_limit, MAX_COPY_REPORTS)) if self._copier else ([], [])
        rate, chunks = self._rate.update(totals.bytes, now), self._census.count(totals.created, now)

        def send(corrupt: list[reports.CorruptChunk], purged: list[FilePurge], copies: bool) -> dict[str, Any]:
            body = reports.heartbeat_body(
                self._shards,
                active_transfers=totals.active,
                bytes_per_s=rate,
                chunk_count=chunks,
                corrupt=corrupt,
                purged=purged,
                revocations_after=self._revoked.cursor,
                copied=copied if copies else [],
                copy_failed=failed if copies else [],
            )
            return self._post("heartbeat", HEARTBEAT_PATH, body)

        def put_back() -> None:
            self._corrupt.put_back(corrupt)
            self._purger.put_back(purged)
            if self._copier is not None:
                self._copier.put_back(copied, failed)

        try:
            answer = send(corrupt, purged, True)
        except (ServerRefused, TokenTooLarge) as exc:
            put_back()
            carried = corrupt or purged or copied or failed
            if not carried or (isinstance(exc, ServerRefused) and exc.status not in REPORT_REFUSALS):
                raise
            self._refused_report(exc, len(corrupt), max(len(purged), len(copied), len(failed)))
            corrupt, purged = [], []
            answer = send([], [], False)  # no report, nothing the server cannot read: the lease is kept
        except BaseException:
            put_back()
            raise
        else:
            self._delivered_report(bool(corrupt or purged or copied or failed))
        try:
            beat = parse_heartbeat_answer(answer)
            self._check_clock(beat.server_time, now)
            self._store_revocations(beat.revocations, now)
            self._purger.order(beat.purge)
            if self._copier is not None:
                self._copier.order(beat.copy)
        finally:
            # The server has the confirmations (it answered 200) even if the rest of its answer is bad.
            self._purger.delivered(purged)
        self._backlog = (not self._report_refused and len(self._corrupt) > 0) or self._more_revocations

    def _refused_report(self, exc: ServerRefused | TokenTooLarge, corrupt: int, purged: int) -> None:
        """Offer at most half as much from now on (until a restart), and say so: each halving is one warning."""
        if isinstance(exc, TokenTooLarge):
            exc = ServerRefused(0, "not_sent", str(exc))  # our own limits failed us: same remedy, same warning
        limit = max(1, max(corrupt, purged) // 2)
        if self._report_refused and limit >= self.report_limit:
            return  # refused at a page of one again: warned already, the plain beats keep the lease
        self._report_refused = True
        self.report_limit = limit
        log.warning(
            "the server refused this fileserver's report; the lease is kept with a plain beat, and reports go "
            "in smaller pages from now on. If this repeats, compare the server's and the fileserver's versions",
            extra={
                "kv": {
                    "status": exc.status,
                    "error": exc.code,
                    "reason": exc.message,
                    "corrupt": corrupt,
                    "purged": purged,
                    "next_page": self.report_limit,
                }
            },
        )

    def _delivered_report(self, carried: bool) -> None:
        if carried and self._report_refused:
            log.info("the server accepts this fileserver's reports again", extra={"kv": {"page": self.report_limit}})
            self._report_refused = False

    def _note_full(self) -> None:
        """Log once when a writable shard's storage fills up (the beat announces it not writable), once when freed."""
        for shard in self._shards:
            full = shard.full() if shard.write else None
            if full is not None and shard.name not in self._full:
                self._full.add(shard.name)
                log.warning(
                    "storage full: chunk uploads refused and the shard announced not writable until space is freed",
                    extra={"kv": {"shard": shard.name, "min_free_bytes": shard.min_free}},
                )
            elif full is None and shard.name in self._full:
                self._full.discard(shard.name)
                log.info("storage has room again: the shard takes uploads", extra={"kv": {"shard": shard.name}})

    def _post(self, action: cluster.Action, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return post_signed(self._client, self._settings, self._identity, action, path, body, self._clock())

    def _store_revocations(self, page: messages.RevocationPage | None, now: float) -> None:
        """Merge a page of revocations and hand it to the workers; ask for the next page at once if there is one."""
        if page is None:
            return
        merged = self._revoked.merge(page, now)
        if merged != self._revoked or not self._revoked_written:
            revocations.write_revocations(self._revoked_path, merged)  # SECURITY: the workers refuse what it lists
            self._revoked, self._revoked_written = merged, True
        self._more_revocations = page.more

    def _check_clock(self, server_time: object, now: float) -> None:
        if not isinstance(server_time, (int, float)) or isinstance(server_time, bool):
            return
        skewed = abs(server_time - now) > MAX_CLOCK_SKEW
        if skewed and not self._skewed:
            log.warning(
                "this host's clock is off the server's: keep both in time with NTP, or requests will be refused",
                extra={"kv": {"offset_s": round(now - server_time, 1)}},
            )
        self._skewed = skewed

    def _failed(self, problem: str, detail: str, exc: BaseException | None = None) -> float:
        """Count a failed round, log it if the problem changed, and return the backoff delay."""
        self.failures += 1
        if problem != self._problem:
            if self._problem is None:
                self._down_since = self._clock()
            kv = {"problem": problem, "detail": detail, "server": self._settings.server.url}
            if problem.endswith("fileserver_unknown"):
                log.info("the server does not know this fileserver (yet); registering again", extra={"kv": kv})
            elif problem.startswith("unreachable"):
                log.warning(
                    "the server is unreachable; retrying with backoff, valid tickets are still served", extra={"kv": kv}
                )
            elif exc is not None:
                log.error("heartbeat round failed; retrying with backoff", exc_info=exc, extra={"kv": kv})
            elif problem.endswith("fileserver_key_mismatch"):
                # SECURITY: another key speaks for this id, or ours was replaced; only an administrator may decide.
                log.error(
                    "the server holds another identity key for this fileserver's id and refuses it: restore the "
                    "identity file from a backup, or have an administrator forget the old key",
                    extra={
                        "kv": kv
                        | {
                            "fileserver": self._identity.fileserver_id,
                            "identity_file": self._settings.data_dir / IDENTITY_FILE,
                            "forget": f"coffer admin fileserver forget {self._identity.fileserver_id}",
                        }
                    },
                )
            elif problem == "bad answer":
                log.error(
                    "the server's answer breaks the protocol (a different version?); retrying with backoff",
                    extra={"kv": kv},
                )
            else:
                log.error("the server refused this fileserver; retrying with backoff", extra={"kv": kv})
            self._problem = problem
        return self._backoff.delay(self.failures, self._rand())

    def _recovered(self) -> None:
        if self._problem is not None:
            log.info(
                "the server answers again",
                extra={"kv": {"failures": self.failures, "down_s": round(self._clock() - self._down_since, 1)}},
            )
        self._problem = None
        self.failures = 0
