"""Download a file: fetch its chunks in parallel, verify each, write it beside the destination, then rename.

1. A :class:`Source`: the record, its chunks and the fileservers holding each, from
   ``GET /api/files/{id}?tickets=true`` (:func:`file_source`, for the owner or a recipient; its get tickets
   and the live readers come with it) or from a
   share link (:mod:`client.link_download`). The file key is opened (sealed to the owner,
   boxed to a recipient, or carried by the link) and held to the record's key
   commitment, the metadata opened with it, and
   :func:`~client.layout.check_layout` holds the record to the metadata (sizes and chunk count), so
   a record whose chunk list was shortened or padded fails before any byte moves.
2. Get tickets (32 chunks per ticket) and the shard's live readers from the source's
   channel (:mod:`client.channels`), which starts with those the record came with.
3. Workers fetch chunks from the fileservers that hold them, fastest first (the
   :class:`~coffer.transfer.balancer.Balancer`), then from the other holders, then from any
   other live reader of the shard (fileservers on shared storage serve every chunk).
   Each chunk must have its recorded size and open with
   ``chunks.open_chunk_into(index, last)``: the GCM tag authenticates every byte, and a
   chunk moved to another position or file does not open; otherwise the next copy is
   tried (its SHA-256 is not computed again: the tag makes it redundant). A verified
   chunk is written with ``os.pwrite`` at ``index × plaintext chunk size`` into
   ``<dest>.coffer-part``, with ``O_DIRECT`` where it is whole pages and the filesystem
   allows it (:mod:`.part_writer`).
4. At the end: fsync, the whole plaintext's size and SHA-256 checked against the
   metadata, and only then the rename to the destination (never over an existing file
   unless asked). A chunk that fails its checks on every copy raises
   :class:`~coffer.format.errors.IntegrityError` naming the chunk and the fileservers, and the
   partial file is removed; no unverified byte is ever written anywhere.

An interrupted download keeps its ``.coffer-part`` and a resume state listing the
chunks written (fsynced before they are recorded); running it again fetches only the
rest.

Memory: each of the ``in_flight`` workers (default 4) reads a chunk into a ciphertext
buffer and opens it into a plaintext buffer, both taken from pools the download owns
(:mod:`client.buffers`), so it allocates no chunk-sized memory per chunk. A plaintext
buffer is reused only once its chunk is written and fed to the whole-file hash; a chunk
that finished before the one the hash needs next waits in its buffer, and no chunk
starts without one, so the pool of ``2 × in_flight`` bounds what waits and at most
``3 × in_flight`` chunk-sized buffers exist, all page-aligned memory maps, which direct
writes need. What went through the page cache, once hashed and
fsynced, is dropped from it as the download goes.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from coffer.format.chunks import open_chunk_into
from coffer.format.errors import IntegrityError
from coffer.format.keys import UserKeys
from coffer.format.records import ChunkRef, Layout, OpenedFile, OwnerCheck, check_layout, open_record
from coffer.format.sizes import plain_size
from coffer.protocol.errors import CofferError
from coffer.transfer.balancer import Balancer
from coffer.transfer.errors import TransferFailed
from coffer.transfer.failover import Failover, Wording
from coffer.transfer.http import ChunkClient

from . import errors, resume
from .api import ServerClient
from .buffers import Buffer, BufferPool
from .channels import GetChannel, ReadChannel
from .local_names import local_name, local_parts
from .ordered_hash import OrderedHash
from .part_writer import PartWriter
from .server_api import tickets_beside

log = logging.getLogger(__name__)

DEFAULT_IN_FLIGHT = 4
"""Chunks moving at once. Four keep two fileservers and two cores busy as well as eight did (bench/), at
half the memory; and a 25 MB file (four 8 MiB chunks) already uses them all, so a 1 GB transfer peaks
no higher than a small one."""
MAX_ATTEMPTS = 8
DOWNLOAD = Wording(
    transfer="download",
    moved="fetched",
    give_up="Run the same download again: it resumes",
    overloaded="run the same download again later, it resumes",
)
ProgressCallback = Callable[[int, int], None]


def user_file_mode() -> int:
    """Return the mode a new file of this user gets: 0666 less the umask.

    The umask can only be read by setting it; the value set meanwhile is the most private
    one, so a file another thread creates in that instant is only more private, never less.
    """
    umask = os.umask(0o077)
    os.umask(umask)
    return 0o666 & ~umask


@dataclass
class DownloadResult:
    """What a download did; ``chunks_skipped`` were already written by an interrupted run."""

    path: Path
    file_id: str
    size: int
    chunk_count: int
    chunks_fetched: int = 0
    chunks_skipped: int = 0
    bytes_fetched: int = 0
    seconds: float = 0.0
    retries: int = 0
    per_fileserver: dict[str, int] = field(default_factory=dict)

    @property
    def bytes_per_second(self) -> float:
        return self.size / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items()}


class ChannelFactory(Protocol):
    """Make the channel of a download, told which chunks it still lacks (renewals of link tickets ask for those)."""

    def __call__(
        self, balancer: Balancer, clock: Callable[[], float], *, still_needed: Callable[[], list[str]]
    ) -> ReadChannel: ...


@dataclass(frozen=True)
class Source:
    """A file ready to download: its record opened and held to its metadata, and where its tickets come from.

    ``server`` and ``holder`` (a user id, or ``link:<link id>``) key the resume state;
    ``channel`` is called once chunks are to be fetched, so nothing is asked for (and a
    link download is not counted) before the file was opened and checked.
    """

    opened: OpenedFile
    layout: Layout
    server: str
    holder: str
    channel: ChannelFactory


def file_source(
    api: ServerClient, keys: UserKeys, user_id: str, file_id: str, check_owner: OwnerCheck | None = None
) -> Source:
    """Fetch the record of file *file_id*, open it as its owner or a recipient, and check its layout."""
    answer = api.get_file(file_id, tickets=True)
    record = answer.to_json()
    if record.get("state") != "complete":
        raise errors.UsageError(f"file {file_id} is not complete: finish its upload (run it again) first")
    try:
        opened = open_record(record, keys, check_owner)
    except IntegrityError as exc:
        from .sharing import stale_share_problem  # an error path: sharing's modules load only when it is taken

        raise stale_share_problem(record, exc) from exc
    layout = check_layout(record, opened.metadata)
    first = tickets_beside(answer)
    return Source(opened, layout, api.url, user_id, partial(GetChannel, api, layout.file_id, layout.shard, first=first))


class Downloader:
    """Download files, whoever may read them: the source says how to reach the file."""

    def __init__(
        self,
        chunks: ChunkClient,
        *,
        state_dir: Path | None,
        in_flight: int = DEFAULT_IN_FLIGHT,
        max_attempts: int = MAX_ATTEMPTS,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ):
        if in_flight < 1 or max_attempts < 1:
            raise errors.UsageError("in_flight and max_attempts must be at least 1")
        self.chunks = chunks
        self.state_dir = state_dir
        self.in_flight = in_flight
        self.max_attempts = max_attempts
        self.clock = clock
        self.rng = rng or random.Random()

    def download(
        self,
        source: Source,
        dest: Path | None = None,
        *,
        overwrite: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        """Download *source* to *dest* (a file, a directory, or the metadata's name here)."""
        started = self.clock()
        file_id = source.layout.file_id
        target = destination(dest, source)
        if target.exists() and not overwrite:
            raise errors.UsageError(f"{target} exists: choose another destination, or overwrite it (--overwrite)")
        job = _Job(self, source, target, on_progress or (lambda done, total: None))
        try:
            result = job.run(overwrite)
        except OSError as exc:
            kept = job.part.exists() and job.state_path is not None and job.state_path.exists()
            then = f"; what arrived is kept in {job.part}: run the same download again to resume" if kept else ""
            raise errors.local_file_error(exc, f"writing {target}", then) from exc
        result.seconds = self.clock() - started
        log.info("download done", extra={"kv": {"file": file_id, "chunks": len(source.layout.chunks)}})
        return result


def destination(dest: Path | None, source: Source) -> Path:
    """Return where to write *source*: *dest* if a file, else its metadata's name below *dest* or here."""
    return _destination(dest, source.opened.metadata.name, f"coffer-{source.layout.file_id}")


def _destination(dest: Path | None, name: str, fallback: str) -> Path:
    """Return where to write a file named *name* in its metadata: *dest* if a file, else the name below *dest* or here.

    A name with ``/`` is a relative path (``coffer upload -r``): its directories are made below the
    destination directory. A plain name is used by its last component, as every version did. Either is
    made safe first (:mod:`.local_names`): no control characters, no hidden dot-names.
    """
    if dest is not None and not dest.is_dir():
        return dest.absolute()
    base = (dest if dest is not None else Path.cwd()).absolute()
    if "/" not in name:
        return base / local_name(name, fallback)
    return _tree_destination(base, local_parts(name), name)


def _tree_destination(base: Path, parts: tuple[str, ...], name: str) -> Path:
    """Make the directories of *parts* below *base* and return the file's path there.

    SECURITY: *parts* passed :func:`.local_names.local_parts` (no ``..``, not absolute); besides, no directory on
    the way may be a symbolic link, so a link planted below *base* cannot lead the file elsewhere.
    """
    here = base
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink():
            raise IntegrityError(
                f"the file's name {name!r} leads through {here}, a symbolic link: refusing to follow it; "
                "download it with -o FILE to name it yourself"
            )
        here.mkdir(exist_ok=True)
    target = here / parts[-1]
    if not target.parent.resolve().is_relative_to(base.resolve()):
        raise IntegrityError(f"the file's name {name!r} leads outside {base}: refusing to write it")
    return target


class _Job:
    """One run of one download."""

    def __init__(self, down: Downloader, source: Source, target: Path, progress: ProgressCallback):
        self.down = down
        self.source = source
        self.opened = source.opened
        self.layout = layout = source.layout
        self.target = target
        self.part = resume.part_path(target)
        self.progress = progress
        self.stop = threading.Event()
        self.balancer = Balancer([], clock=down.clock, rng=down.rng)
        self.throttle = resume.Throttle(down.clock)
        self.state_path = (
            resume.download_state_path(down.state_dir, source.server, source.holder, layout.file_id, str(target))
            if down.state_dir
            else None
        )
        self.result = DownloadResult(target, layout.file_id, layout.size, len(layout.chunks))
        largest = max(c.size for c in layout.chunks)
        self.sealed = BufferPool(largest, down.in_flight)
        # Each worker's plaintext buffer, and as many again waiting for the whole-file hash.
        self.plain = BufferPool(max(0, plain_size(largest)), 2 * down.in_flight)

    def run(self, overwrite: bool) -> DownloadResult:
        state = self._resume_or_start()
        self.result.chunks_skipped = len(state.done)
        self._fd = os.open(self.part, os.O_RDWR | os.O_NOFOLLOW)
        os.fchmod(self._fd, 0o600)  # SECURITY: a part file resumed from an older coffer may be readable by others
        self.hash = OrderedHash(self.layout, self.plain, partial(os.pread, self._fd), on_disk=state.done)
        self._uncached = 0
        self._checkpoint: Future[None] | None = None
        self._writer = PartWriter(self._fd, self.part)
        try:
            self._fetch_missing(state)
            self._verify_whole(state)
        finally:
            self._writer.close_direct()
            os.close(self._fd)
        self._place(overwrite)
        if self.state_path is not None:
            resume.discard(self.state_path)
        return self.result

    def _resume_or_start(self) -> resume.DownloadState:
        source, layout = self.source, self.layout
        fresh = resume.DownloadState(
            source.server,
            source.holder,
            layout.file_id,
            str(self.target),
            layout.size,
            resume.layout_digest(layout.listing()),
        )
        if self.state_path is not None:
            old = resume.load_download(self.state_path)
            if (
                old is not None
                and old.matches(
                    server=fresh.server,
                    user=fresh.user,
                    file_id=fresh.file_id,
                    dest=fresh.dest,
                    size=fresh.size,
                    layout=fresh.layout,
                )
                and self.part.is_file()
                and self.part.stat().st_size == layout.size
            ):
                return old
        # SECURITY: the part file fills with someone's plaintext over minutes, perhaps in a shared directory:
        # its owner's alone until it is whole and verified; then _place gives it the mode any new file gets.
        fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.ftruncate(fd, layout.size)
        finally:
            os.close(fd)
        self._save(fresh)
        return fresh

    def _save(self, state: resume.DownloadState) -> None:
        if self.state_path is not None:
            resume.save(self.state_path, state)

    def _fetch_missing(self, state: resume.DownloadState) -> None:
        missing = [c for c in self.layout.chunks if c.index not in state.done]
        done = sum(self.layout.plain_length(i) for i in state.done)
        self.progress(done, self.layout.size)
        if not missing:
            return
        try:
            self.channel = self.source.channel(
                self.balancer, self.down.clock, still_needed=partial(self._lacking, state)
            )
        except BaseException:
            if not state.done:
                self._remove_partial()  # refused before a byte came: leave nothing behind
            raise
        self.failover = Failover(
            self.down.chunks,
            self.balancer,
            self.channel,
            shard=self.layout.shard,
            file_id=self.layout.file_id,
            max_attempts=self.down.max_attempts,
            stop=self.stop,
            rng=self.down.rng,
            wording=DOWNLOAD,
        )
        pool = ThreadPoolExecutor(self.down.in_flight, thread_name_prefix="coffer-download")
        self._checkpoints = ThreadPoolExecutor(1, thread_name_prefix="coffer-checkpoint")
        self._unwritten = len(missing)
        self._unwritten_lock = threading.Lock()
        self._flush: Future[None] | None = None
        pending: dict[Future[tuple[int, str, int]], int] = {}
        queue = deque(missing)
        try:
            while queue or pending:
                while queue and len(pending) < self.down.in_flight:
                    # In file order, and waiting while the hash holds every buffer (see client.ordered_hash).
                    plain = self.plain.take()
                    chunk = queue.popleft()
                    pending[pool.submit(self._fetch, chunk, plain)] = chunk.index
                for future in wait(pending, return_when=FIRST_COMPLETED).done:
                    pending.pop(future)
                    done += self._record(state, future.result())
                self.progress(done, self.layout.size)
                self._checkpoint_if_due(state)
            self._settle()
        except BaseException as exc:
            self.stop.set()
            for future in pending:
                future.cancel()
            for future in wait(pending).done:
                if not future.cancelled() and future.exception() is None:
                    self._record(state, future.result())
            wait([f for f in (self._checkpoint, self._flush) if f is not None])  # what they raised gives way to *exc*
            if isinstance(exc, IntegrityError):
                self._remove_partial()
            else:
                self._save_durable(state)
            raise
        finally:
            pool.shutdown(wait=True)
            self._checkpoints.shutdown(wait=True)
        self._save_durable(state)

    def _checkpoint_if_due(self, state: resume.DownloadState) -> None:
        """Every half second, make what is written durable and record it, in a thread of its own.

        Each fsync writes back what the last half second wrote, a few hundred MB (the
        kernel would hold it for 30 s); on the main thread it held back the chunks the
        main thread starts, and the workers idled with it.
        """
        running = self._checkpoint
        if running is not None:
            if not running.done():
                return
            running.result()
        if self.throttle.due():
            written = replace(state, done=set(state.done))
            hashed = self.layout.offset(self.hash.next_index)
            self._checkpoint = self._checkpoints.submit(self._make_durable, written, hashed)

    def _make_durable(self, written: resume.DownloadState, hashed: int) -> None:
        self._save_durable(written)
        self._uncache(hashed)

    def _save_durable(self, state: resume.DownloadState) -> None:
        """Save *state* once what it lists as written is on disk: fsync first, then save, always."""
        os.fsync(self._fd)
        self._save(state)

    def _settle(self) -> None:
        """Wait for the checkpoint and the write-back under way, if any; raise what they raised."""
        running, self._checkpoint = self._checkpoint, None
        if running is not None:
            running.result()
        if self._flush is not None:
            self._flush.result()

    def _written(self) -> None:
        """Count a chunk as written (worker thread); once all are, start writing the file back, in a thread of its own.

        The whole-file hash ends well after the last chunk is written (a small file's chunks
        arrive together and are hashed in order), and the fsync that makes the file durable
        waited for it: 6-7 ms of a 25 MB download's 100 in which the disk worked and the
        cores did not. Started here it overlaps the hash; the fsync at the end then finds
        next to nothing left to write.
        """
        with self._unwritten_lock:
            self._unwritten -= 1
            if self._unwritten:
                return
        self._flush = self._checkpoints.submit(os.fsync, self._fd)

    def _lacking(self, state: resume.DownloadState) -> list[str]:
        """Return the hashes of the chunks not yet on disk, in file order; called from the channel's threads."""
        done = set(state.done)  # one copy of a set of ints, which holds the GIL: safe beside _record adding to it
        return [c.hash for c in self.layout.chunks if c.index not in done]

    def _record(self, state: resume.DownloadState, outcome: tuple[int, str, int]) -> int:
        index, url, failures = outcome
        state.done.add(index)
        r = self.result
        r.chunks_fetched += 1
        r.bytes_fetched += self.layout.chunks[index].size
        r.retries += failures
        r.per_fileserver[url] = r.per_fileserver.get(url, 0) + 1
        return self.layout.plain_length(index)

    def _fetch(self, chunk: ChunkRef, plain: Buffer) -> tuple[int, str, int]:
        """Fetch, check, open and write one chunk into *plain* (worker thread); return (index, URL, failures).

        Once written, *plain* goes to the whole-file hash, which gives it back to its
        pool when the chunk is hashed (:mod:`client.ordered_hash`); a chunk that fails
        gives it back at once.
        """
        sealed = self.sealed.take()
        try:
            outcome = self._fetch_into(chunk, memoryview(sealed)[: chunk.size], plain)
        except BaseException:
            self.plain.give(plain)
            raise
        finally:
            self.sealed.give(sealed)
        self._written()
        self.hash.offer(chunk.index, plain)
        return outcome

    def _fetch_into(self, chunk: ChunkRef, into: memoryview, plain: Buffer) -> tuple[int, str, int]:
        """Fetch chunk *chunk* into *into* from its holders first, until a copy passes its checks and is written."""
        bad: dict[str, str] = {}
        move = self.failover.chunk(chunk.index, chunk.hash, prefer=chunk.holders)
        while True:
            moved = move.fetch_into(into)
            if moved is None:
                raise self._unavailable(chunk, bad)
            fs = moved.fileserver
            problem = self._check_and_write(chunk, into[: moved.result], plain)
            if problem is None:
                return chunk.index, fs.url, move.retries
            log.warning(
                "chunk failed verification", extra={"kv": {"chunk": chunk.index, "fs": fs.url, "reason": problem}}
            )
            bad[fs.id] = f"{fs.url} ({problem})"
            move.exclude.add(fs.id)

    def _check_and_write(self, chunk: ChunkRef, blob: memoryview, out: Buffer) -> str | None:
        """Check *blob*, open it into *out* and write it; return what is wrong with it instead, if anything."""
        if blob.nbytes != chunk.size:
            return f"it has {blob.nbytes} bytes, not the recorded {chunk.size}: the stored copy is damaged"
        last = chunk.index == len(self.layout.chunks) - 1
        try:
            # SECURITY: the tag authenticates every byte under the file key, at this position only.
            length = open_chunk_into(self.opened.key, self.layout.file_id, chunk.index, last, blob, memoryview(out))
        except IntegrityError:
            return (
                "it does not decrypt at this position: the stored copy is damaged or altered, "
                "or the record lists chunks out of order"
            )
        if length != self.layout.plain_length(chunk.index):
            return "its plaintext has the wrong length"
        self._write(memoryview(out)[:length], self.layout.offset(chunk.index))
        return None

    def _uncache(self, end: int) -> None:
        """Drop the part file's pages below *end* (hashed, so written and since fsynced) from the page cache.

        A download writes each byte once and never reads it again, and filling the page
        cache with a whole large file costs memory the kernel must first find: on a
        virtual machine whose free memory the host reclaims, writing 1 GB into fresh
        page cache cost 2.5 CPU-s of page faults against 0.4 when the same few hundred
        MiB are dropped and reused (bench/). Dirty pages are never dropped, only clean ones.
        """
        if end > self._uncached and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self._fd, self._uncached, end - self._uncached, os.POSIX_FADV_DONTNEED)
            self._uncached = end

    def _write(self, data: memoryview, offset: int) -> None:
        self._writer.write(data, offset)

    def _unavailable(self, chunk: ChunkRef, bad: dict[str, str]) -> CofferError:
        if bad:
            return IntegrityError(
                f"chunk {chunk.index} of file {self.layout.file_id} failed verification on every copy: "
                + "; ".join(bad.values())
                + ". Nothing unverified was written, and the partial download was removed"
            )
        return TransferFailed(
            f"chunk {chunk.index} of file {self.layout.file_id} is on no live fileserver of shard "
            f"{self.layout.shard!r}: start the fileservers that hold it, then run the download again"
        )

    def _verify_whole(self, state: resume.DownloadState) -> None:
        """The whole part file, as written, must be exactly the plaintext the metadata describes."""
        self.hash.catch_up()
        size = os.fstat(self._fd).st_size if self.hash.next_index == len(self.layout.chunks) else -1
        meta = self.opened.metadata
        if size != meta.size or self.hash.hexdigest() != meta.sha256:
            self._remove_partial()
            raise IntegrityError(
                f"file {self.layout.file_id} reassembled to {size} bytes that do not match its sealed SHA-256: "
                "download it again"
            )

    def _remove_partial(self) -> None:
        self.part.unlink(missing_ok=True)
        if self.state_path is not None:
            resume.discard(self.state_path)

    def _place(self, overwrite: bool) -> None:
        """Move the verified part file to the destination; without *overwrite*, never replace a file.

        The file placed is the user's, not Coffer's state: it gets the mode any new file of theirs gets
        (0666 less the umask), as ``cp`` or ``curl -o`` would give it.
        """
        os.chmod(self.part, user_file_mode())
        if overwrite:
            os.replace(self.part, self.target)
        else:
            try:
                os.link(self.part, self.target)
            except FileExistsError as exc:
                raise errors.UsageError(
                    f"{self.target} appeared during the download: the verified file is kept as {self.part}"
                ) from exc
            except OSError:  # a filesystem without hard links: check, then rename
                if self.target.exists():
                    raise errors.UsageError(f"{self.target} appeared during the download") from None
                os.replace(self.part, self.target)
            else:
                self.part.unlink()
        mtime = self.opened.metadata.mtime
        try:
            os.utime(self.target, (mtime, mtime))
        except (ValueError, TypeError, OverflowError, OSError):
            pass  # a time this system cannot set is no reason to fail a verified download
        dir_fd = os.open(self.target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
