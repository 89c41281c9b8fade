"""Move many files in one command: several at once, so that each file's round trips overlap the others'.

A file of one chunk costs a few milliseconds of work and two or three round trips
(create and finalize to the server, one chunk to a fileserver, or one record and one
chunk on the way down); moved one after another, a thousand of them wait on the
network a thousand times in a row. Up to :data:`FILES_AT_ONCE` run together here,
each with the client's usual code, and the results come back in the order the files
were given, so a command prints them as a user listed them.

A file of several chunks already fills the connections with its own chunks (four in
flight): :class:`OneLargeAtATime` lets only one such file move at a time, so memory
stays what one large transfer takes however many are listed.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from coffer.format.sizes import DEFAULT_CHUNK_SIZE

from .download import DownloadResult, destination
from .upload import UploadResult

if TYPE_CHECKING:
    from .coffer import Coffer

FILES_AT_ONCE = 8
"""Files in flight together. With 10 KB files, one at a time against eight: uploads ×2.3, downloads ×3.5 files/s;
sixteen moved no faster than eight (docs/performance.md, *Many small files*)."""

T = TypeVar("T")
R = TypeVar("R")


def in_order(items: Iterable[T], move: Callable[[T], R], at_once: int = FILES_AT_ONCE) -> Iterator[R]:
    """Yield ``move(item)`` for every item, in the items' order, running up to *at_once* of them together.

    The first failure (in the items' order) is raised once the moves already running have
    ended; no move starts after it. A caller that stops iterating early leaves the same way.
    """
    if at_once < 1:
        raise ValueError("at_once must be at least 1")
    pool = ThreadPoolExecutor(at_once, thread_name_prefix="coffer-file")
    running: deque[Future[R]] = deque()
    try:
        for item in items:
            if len(running) >= at_once:
                yield running.popleft().result()
            running.append(pool.submit(move, item))
        while running:
            yield running.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class OneLargeAtATime:
    """Let small files through together and large ones (more than one chunk) one at a time."""

    def __init__(self) -> None:
        self._large = threading.Lock()

    def turn(self, large: bool) -> AbstractContextManager[object]:
        """Return what to hold while moving a file: nothing for a small one, the one large turn otherwise."""
        return self._large if large else nullcontext()


class OneAtATimeEach:
    """Hold the moves of one key (a source path, a destination) to one at a time.

    The same file listed twice, or two files whose names lead to one destination, move
    in turn as they did one after another: the second upload starts its own record, the
    second download finds the first one's file there. Together they would share one
    resume state or one part file.
    """

    def __init__(self) -> None:
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def turn(self, key: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


def upload_many(
    coffer: Coffer,
    sources: Iterable[tuple[Path, str]],
    *,
    at_once: int = FILES_AT_ONCE,
    **options: Any,
) -> Iterator[UploadResult]:
    """Upload each ``(path, name)`` with :meth:`Coffer.upload` and *options*, several at once; yield in order."""
    turns, same = OneLargeAtATime(), OneAtATimeEach()
    chunk_size = int(options.get("chunk_size", DEFAULT_CHUNK_SIZE))

    def one(source: tuple[Path, str]) -> UploadResult:
        path, name = source
        with same.turn(path.resolve()), turns.turn(path.stat().st_size > chunk_size):
            return coffer.upload(path, name=name, **options)

    return in_order(sources, one, at_once)


def download_many(
    coffer: Coffer, file_ids: Iterable[str], dest: Path | None, *, overwrite: bool = False, at_once: int = FILES_AT_ONCE
) -> Iterator[DownloadResult]:
    """Download each file into the directory *dest* (default: here) under its own name, several at once."""

    def one(file_id: str) -> DownloadResult:
        source = coffer.source(file_id)
        with same.turn(destination(dest, source)), turns.turn(len(source.layout.chunks) > 1):
            return coffer.downloader().download(source, dest, overwrite=overwrite)

    turns, same = OneLargeAtATime(), OneAtATimeEach()
    return in_order(file_ids, one, at_once)
