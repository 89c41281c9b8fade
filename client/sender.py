"""Store one sealed chunk on as many fileservers as asked, on distinct hosts where it can, moving it on at failures.

Each copy is one move of the chunk by the transfer engine
(:class:`~coffer.transfer.failover.Failover`), which excludes the fileservers that
already hold a copy: the best fileserver first, another at once when one fails,
capped exponential backoff with jitter only when every fileserver is cooling, a
busy fileserver waited out, a refused ticket renewed once. ``max_attempts``
failures end with :class:`~coffer.transfer.errors.TransferFailed`; too few live
fileservers for the copies asked, with :class:`~coffer.transfer.errors.NoLiveFileserver`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from coffer.format import chunks
from coffer.transfer.errors import NoLiveFileserver
from coffer.transfer.failover import Failover, Wording

UPLOAD = Wording(
    transfer="upload",
    moved="stored",
    give_up="Check the fileservers, then run the same upload again: it resumes",
    overloaded="run the same upload again later, it resumes",
)


@dataclass(frozen=True)
class Sent:
    """A chunk stored: its hash and size, one receipt per copy, and where the copies went."""

    index: int
    hash: str
    size: int
    receipts: tuple[str, ...]
    urls: tuple[str, ...]
    failures: int


@dataclass
class ChunkSender:
    failover: Failover
    copies: int

    def send(self, index: int, blob: bytes | memoryview) -> Sent:
        """Store *blob*, chunk *index* of the file, on ``copies`` distinct fileservers.

        Every attempt sends the same *blob*, named by its SHA-256; the caller must not
        change it (nor reuse its buffer) until this returns.
        """
        chunk_hash = chunks.chunk_hash(blob)
        move = self.failover.chunk(index, chunk_hash)
        receipts: list[str] = []
        urls: list[str] = []
        while len(receipts) < self.copies:
            move.prefer = self._elsewhere(urls, move.exclude)
            moved = move.store(blob)
            if moved is None:
                raise NoLiveFileserver(
                    f"chunk {index} needs {self.copies} fileservers of shard {self.failover.shard!r} but only "
                    f"{len(receipts)} live one(s) could take it"
                )
            move.exclude.add(moved.fileserver.id)
            receipts.append(moved.result.receipt)
            urls.append(moved.fileserver.url)
        return Sent(index, chunk_hash, memoryview(blob).nbytes, tuple(receipts), tuple(urls), move.retries)

    def _elsewhere(self, urls: list[str], exclude: set[str]) -> set[str] | None:
        """Return the live fileservers on hosts that hold no copy of the chunk yet, to try first; None: no preference.

        Two fileservers on one host die together with it: a copy on another host is
        worth more. Where every candidate shares a host with a copy, any will do.
        """
        if not urls:
            return None
        used = {_host(u) for u in urls}
        others = {s.id for s in self.failover.balancer.servers() if _host(s.url) not in used and s.id not in exclude}
        return others or None


def _host(url: str) -> str:
    return (urlsplit(url).hostname or url).lower()
