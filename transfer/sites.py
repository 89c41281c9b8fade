"""Keep reads (and writes) in the client's own site: the fileservers of its own cluster first.

A site is a cluster: the fileservers of one office. The server lists each live
fileserver with its cluster. A client's site is

- configured (``coffer download --site NAME``, or ``COFFER_SITE``), or else
- learned once per process from round-trip times: the first time a transfer sees
  live fileservers of more than one cluster, the TCP connect time to up to
  :data:`PROBES` fileservers of each cluster is measured, all at once (a connect
  is one round trip, and costs the fileserver nothing but an accept); the cluster whose fastest
  connect is at least :data:`MARGIN` times faster than every other cluster's is
  the site. When no cluster stands out so clearly (one machine, one LAN), there is
  no site and every fileserver is as good as another, as before sites existed.

For a chunk, the candidates then come in tiers, each tried while any of its
fileservers is healthy (:meth:`SiteChoice.tiers`): the holders in the site, then
the other holders, then (for the caller's last resort) anyone. So a chunk the site
does not hold yet is read from a remote holder, and a local holder that fails
hands over to a remote one, as failover always did.

No sockets of its own: the probe is handed in (:func:`coffer.transfer.http.connect_seconds`
measures one). Thread-safe: a transfer's workers ask at once.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

log = logging.getLogger(__name__)

MARGIN = 2.0
"""How many times faster the site's fastest connect must be than every other cluster's."""
PROBES = 3
"""Fileservers of each cluster whose connect time is measured, the fastest counting."""
MAX_CLUSTERS = 16
"""Clusters probed at most: past that, no site is learned (a listing that large is no office setup)."""


class Located(Protocol):
    """A live fileserver as the transfer knows it: its id, URL and cluster (None: an older server did not say)."""

    @property
    def id(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def cluster(self) -> str | None: ...


Probe = Callable[[str], float | None]
"""Measure one connect to the fileserver at a URL, in seconds; None when it did not connect."""


class SiteChoice:
    """This client's site: configured, or learned once from connect times."""

    def __init__(self, configured: str | None = None, probe: Probe | None = None, margin: float = MARGIN):
        self.configured = configured or None
        self._probe = probe
        self._margin = margin
        self._lock = threading.Lock()
        self._learned: str | None = None
        self._probed = False
        self.connect: dict[str, float] = {}
        """Cluster → fastest connect seen, in seconds, once probed (infinite: none of its fileservers connected)."""

    def site(self, servers: Iterable[Located] = ()) -> str | None:
        """Return the site, probing *servers* the first time there is no configured one and clusters differ."""
        if self.configured is not None:
            return self.configured
        with self._lock:
            if not self._probed and self._probe is not None:
                listed = list(servers)
                if len({s.cluster for s in listed if s.cluster}) > 1:
                    self._probed = True
                    self._learn(listed, self._probe)
            return self._learned

    def _learn(self, servers: list[Located], probe: Probe) -> None:
        by_cluster: dict[str, list[Located]] = {}
        for s in servers:
            if s.cluster:
                by_cluster.setdefault(s.cluster, []).append(s)
        if len(by_cluster) > MAX_CLUSTERS:
            return
        probed = [(cluster, s.url) for cluster, members in by_cluster.items() for s in members[:PROBES]]
        # At once, so an unreachable fileserver costs the command one probe's timeout, not one per fileserver.
        with ThreadPoolExecutor(len(probed), thread_name_prefix="coffer-site-probe") as pool:
            times = list(pool.map(probe, [url for _, url in probed]))
        for (cluster, _), seconds in zip(probed, times, strict=True):
            # A cluster none of whose fileservers connected is as far as can be: not this client's site.
            self.connect[cluster] = min(math.inf if seconds is None else seconds, self.connect.get(cluster, math.inf))
        self._learned = nearest(self.connect, self._margin)
        log.info(
            "site learned" if self._learned else "no site stands out",
            extra={
                "kv": {"site": self._learned, "connect_ms": {c: round(t * 1e3, 3) for c, t in self.connect.items()}}
            },
        )

    def tiers(self, prefer: Collection[str] | None, servers: Iterable[Located]) -> list[set[str]]:
        """Return the candidates to try in turn for one chunk, the site's first; [] when there is no preference.

        *prefer* is the caller's own preference (the chunk's holders, or the fileservers on
        hosts without a copy yet), None for none; the result's last tier is *prefer* itself,
        and the caller falls back to anyone after it.
        """
        listed = list(servers)
        site = self.site(listed)
        wanted = None if prefer is None else set(prefer)
        if site is None:
            return [] if wanted is None else [wanted]
        local = {s.id for s in listed if s.cluster == site}
        first = local if wanted is None else local & wanted
        return [t for t in (first, wanted) if t]


def nearest(connect: dict[str, float], margin: float) -> str | None:
    """Return the cluster whose connect time is *margin* times below every other's, if one is (and is finite)."""
    if len(connect) < 2 or min(connect.values()) == math.inf:
        return None
    ranked = sorted(connect.items(), key=lambda kv: kv[1])
    (best, fastest), (_, second) = ranked[0], ranked[1]
    return best if fastest * margin <= second else None
