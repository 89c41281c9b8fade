"""Upload a file: stream it in chunks, seal each, spread them over the live fileservers, finalize.

The flow, for a file of ``n`` plaintext bytes and a plaintext chunk size ``c``:

1. ``count = sizes.chunk_count(n, c)``; each sealed chunk is at most ``c + 28`` bytes
   (``sizes.CHUNK_OVERHEAD``), the whole ciphertext ``n + 28 × count``.
2. A random file key; ``POST /api/files?tickets=true`` with the layout, the key sealed to the owner's
   public key, the key's commitment (``keys.key_commitment``, which every reader checks
   the key against) and a placeholder metadata blob (the real one needs the plaintext SHA-256,
   known only at the end; the record must exist first because its id is bound into
   every chunk). The answer carries the put ticket and the shard's live writers too.
3. The main thread reads the file chunk by chunk, hashing the plaintext as it goes; a
   pool of workers seals, hashes and ``PUT`` s each chunk to the fileserver the
   :class:`~coffer.transfer.balancer.Balancer` picks, collecting receipts.
4. ``POST /api/files/{id}/finalize`` with every chunk's receipts and the real metadata.

Memory: the file is read (``readinto``) into plaintext buffers and sealed into
ciphertext buffers, each pool at most ``in_flight`` buffers of a chunk's size that the
upload owns and reuses (:mod:`client.buffers`); a plaintext buffer is free again once
its chunk is sealed, a ciphertext buffer once its chunk is stored. So the upload holds at
most ``in_flight × 2`` chunks (64 MiB with the defaults) whatever the file size, and
allocates no chunk-sized memory per chunk.

The default of 4 chunks in flight keeps two fileservers and two cores busy as well as
eight did (parallel PUTs beat sequential ones by a quarter on loopback), stays within a
quarter of one fileserver's default 16 request threads, and keeps memory modest.

Failures: a chunk whose fileserver does not answer, answers 5xx, 507 or 429 is moved
to another fileserver, which is cooled down meanwhile; when every fileserver is
cooling the live list is asked for again and the worker backs off (capped exponential,
jittered). After ``max_attempts`` failed attempts for one chunk the upload stops with
:class:`~coffer.transfer.errors.TransferFailed`; with no live fileserver at all, with
:class:`~coffer.transfer.errors.NoLiveFileserver`. A 401 ``ticket_expired``/``ticket_revoked``
fetches a fresh put ticket once. What was sent is kept in the resume state
(:mod:`client.resume`), so running the same upload again sends only the rest.
"""

from __future__ import annotations

import hashlib
import io
import logging
import mimetypes
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coffer.format.chunks import seal_chunk_into
from coffer.format.keys import UserKeys, key_commitment, new_file_key, seal_file_key
from coffer.format.metadata import Metadata, seal_metadata
from coffer.format.sizes import (
    DEFAULT_CHUNK_SIZE,
    chunk_count,
    ciphertext_size,
    file_ciphertext_size,
    plain_size,
)
from coffer.format.version import FORMAT_VERSION
from coffer.protocol import receipts as receipt_protocol
from coffer.protocol.api.files import CreateFile, Finalize, FinalizedChunk
from coffer.protocol.api.tickets import Tickets
from coffer.protocol.encoding import b64encode
from coffer.protocol.errors import ProtocolError
from coffer.protocol.ids import new_create_id
from coffer.protocol.wire import MAX_CHUNK_SIZE
from coffer.transfer.balancer import Balancer
from coffer.transfer.errors import TransferError
from coffer.transfer.failover import Failover
from coffer.transfer.http import ChunkClient

from . import errors, resume
from .api import ServerClient
from .buffers import Buffer, BufferPool
from .channels import PutChannel
from .sender import UPLOAD, ChunkSender, Sent
from .server_api import tickets_beside

log = logging.getLogger(__name__)

DEFAULT_IN_FLIGHT = 4
"""Chunks moving at once. Four keep two fileservers and two cores busy as well as eight did (bench/), at
half the memory; and a 25 MB file (four 8 MiB chunks) already uses them all, so a 1 GB transfer peaks
no higher than a small one."""
MAX_ATTEMPTS = 8
PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class UploadOptions:
    """How to upload: where, in what pieces, how many at once, how many copies of each."""

    shard: str = "default"
    chunk_size: int = DEFAULT_CHUNK_SIZE
    """Plaintext bytes per chunk; each sealed chunk is 28 bytes more."""
    in_flight: int = DEFAULT_IN_FLIGHT
    copies: int = 1
    """Fileservers each chunk is stored on (each a receipt at finalize; at most 8)."""
    expires_in: float | None = None
    max_attempts: int = MAX_ATTEMPTS

    def __post_init__(self) -> None:
        if not 1 <= self.chunk_size <= plain_size(MAX_CHUNK_SIZE):
            raise errors.UsageError(f"the chunk size must be from 1 to {plain_size(MAX_CHUNK_SIZE)} bytes")
        if self.in_flight < 1 or not 1 <= self.copies <= 8 or self.max_attempts < 1:
            raise errors.UsageError("in_flight and max_attempts must be at least 1, copies from 1 to 8")


@dataclass
class UploadResult:
    """What an upload did; ``chunks_skipped`` were already on fileservers from an interrupted run."""

    file_id: str
    name: str
    bytes: int
    """The file's plaintext size."""
    chunk_count: int
    chunks_sent: int = 0
    chunks_skipped: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    retries: int = 0
    resumed: bool = False
    per_fileserver: dict[str, int] = field(default_factory=dict)
    """Fileserver URL → chunk copies it stored in this run."""

    @property
    def bytes_per_second(self) -> float:
        """Plaintext bytes of the file per second of the whole upload."""
        return self.bytes / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Uploader:
    """Upload files for one user; keeps no state between uploads except on disk (resume)."""

    def __init__(
        self,
        api: ServerClient,
        chunks: ChunkClient,
        keys: UserKeys,
        *,
        user_id: str,
        state_dir: Path | None,
        options: UploadOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ):
        self.api = api
        self.chunks = chunks
        self.keys = keys
        self.user_id = user_id
        self.state_dir = state_dir
        self.options = options or UploadOptions()
        self.clock = clock
        self.rng = rng or random.Random()

    def upload(
        self, path: Path, on_progress: ProgressCallback | None = None, *, name: str | None = None
    ) -> UploadResult:
        """Upload the file at *path* as *name* (default: its own name); resume an interrupted upload of it.

        *name* may be a relative path with ``/`` (a file of a directory uploaded whole).
        """
        started = self.clock()
        source = path.resolve()
        if not source.is_file():
            raise errors.UsageError(f"{path} is not a regular file")
        job: _Job | None = None
        try:
            with open(source, "rb") as f:
                st = os.fstat(f.fileno())
                job = _Job(self, source, st, f, on_progress or (lambda done, total: None), name or source.name)
                result = job.run()
        except OSError as exc:
            kept = job is not None and job.state_path is not None and job.state_path.exists()
            then = "; what was sent is recorded: run the same upload again to resume" if kept else ""
            raise errors.local_file_error(exc, f"uploading {path}", then) from exc
        result.seconds = self.clock() - started
        log.info(
            "upload done",
            extra={"kv": {"file": result.file_id, "chunks": result.chunk_count, "sent": result.chunks_sent}},
        )
        return result


class _Job:
    """One run of one upload: the state of the file being read and the chunks out."""

    def __init__(
        self,
        up: Uploader,
        source: Path,
        st: os.stat_result,
        f: io.BufferedReader,
        progress: ProgressCallback,
        name: str,
    ):
        self.up = up
        self.name = name
        self.opts = up.options
        self.source = source
        self.st = st
        self.f = f
        self.progress = progress
        self.size = st.st_size
        self.count = chunk_count(self.size, self.opts.chunk_size)
        self.balancer = Balancer([], clock=up.clock, rng=up.rng, need_bytes=self.opts.chunk_size)
        self.state_path = (
            resume.upload_state_path(up.state_dir, up.api.url, up.user_id, str(source)) if up.state_dir else None
        )
        self.throttle = resume.Throttle(up.clock)
        self.stop = threading.Event()
        self.keep_state = True
        self.finished = False
        """Set when a rerun finds the record already complete (the last run's finalize answer was lost)."""
        largest = min(self.opts.chunk_size, self.size)
        self.plain = BufferPool(largest, self.opts.in_flight)
        self.sealed = BufferPool(ciphertext_size(largest), self.opts.in_flight)

    # -- the whole run -------------------------------------------------------------------------

    def run(self) -> UploadResult:
        state, resumed = self._resume_or_create()
        result = UploadResult(state.file_id, self.name, self.size, self.count, resumed=resumed)
        self.state = state
        self.result = result
        if self.finished:
            result.chunks_skipped = self.count
        else:
            result.chunks_skipped = len(state.chunks)
            plaintext_hash = self._send_all()
            self._finalize(plaintext_hash)
        if self.state_path is not None:
            resume.discard(self.state_path)
        return result

    def _metadata(self, sha256: str) -> Metadata:
        kind = mimetypes.guess_type(self.source.name)[0] or "application/octet-stream"
        return Metadata(self.name, self.size, kind, self.st.st_mtime, sha256)

    def _resume_or_create(self) -> tuple[resume.UploadState, bool]:
        opts, up = self.opts, self.up
        if self.state_path is not None:
            old = resume.load_upload(self.state_path)
            if old is not None:
                same = old.matches(
                    server=up.api.url,
                    user=up.user_id,
                    path=str(self.source),
                    size=self.size,
                    mtime_ns=self.st.st_mtime_ns,
                    shard=opts.shard,
                    chunk_size=opts.chunk_size,
                    copies=opts.copies,
                )
                standing = self._standing(old) if same else None
                if standing == "complete":
                    # The last run finalized it but never heard the answer (the server or the
                    # connection died): the file is whole, and deleting it to start over would lose it.
                    self.finished = True
                    return old, True
                if standing == "pending" and self._reconnected(old):
                    old.chunks = self._confirmed(old)
                    self._save(old)
                    return old, True
                self._abandon(old)
        return self._create(), False

    def _standing(self, state: resume.UploadState) -> str | None:
        """Say whether the state's record is still ``pending``, already ``complete``, or gone or not this upload's."""
        try:
            record = self.up.api.get_file(state.file_id)
        except errors.NotFoundError:
            return None
        ours = bool(
            record.key_commitment == b64encode(key_commitment(state.file_key))
            and record.shard == self.opts.shard
            and record.chunk_count == self.count
            and record.chunk_size == ciphertext_size(self.opts.chunk_size)
            and record.size == file_ciphertext_size(self.size, self.count)
        )
        return record.state if ours and record.state in ("pending", "complete") else None

    def _reconnected(self, state: resume.UploadState) -> bool:
        """Get a put ticket for the recorded upload; False if the server gives none (past its deadline, or gone)."""
        try:
            self._connect(state.file_id)
        except errors.NotFoundError:
            return False
        return True

    def _abandon(self, state: resume.UploadState) -> None:
        """Forget a stale state, and delete the record it points at if it is still pending (best effort).

        A record the state points at may be complete (finalized by an earlier run whose answer was
        lost, before the source changed): that is a whole file of the user's, never deleted here.
        """
        assert self.state_path is not None
        resume.discard(self.state_path)
        try:
            if self.up.api.get_file(state.file_id).state == "pending":
                self.up.api.delete_file(state.file_id)
        except errors.ClientError:
            pass

    def _confirmed(self, state: resume.UploadState) -> dict[int, resume.ChunkRecord]:
        """Keep the recorded chunks that enough of their fileservers still hold (HEAD with the put ticket)."""
        opts = self.opts

        def check(item: tuple[int, resume.ChunkRecord]) -> tuple[int, resume.ChunkRecord | None]:
            index, record = item
            kept = []
            for receipt in record.receipts:
                try:
                    fs = self.balancer.get(receipt_protocol.fileserver_of(receipt))
                    if fs is None:
                        continue
                    size = self.up.chunks.head(fs.url, opts.shard, state.file_id, record.hash, self.channel.ticket)
                except (errors.ClientError, TransferError, ProtocolError):
                    continue
                if size == record.size:
                    kept.append(receipt)
            if len(kept) < self.sender.copies:
                return index, None
            return index, resume.ChunkRecord(record.hash, record.size, tuple(kept))

        with ThreadPoolExecutor(opts.in_flight, thread_name_prefix="coffer-resume") as pool:
            checked = list(pool.map(check, sorted(state.chunks.items())))
        return {i: r for i, r in checked if r is not None}

    def _create(self) -> resume.UploadState:
        opts, up = self.opts, self.up
        key = new_file_key()  # SECURITY: the file key; it leaves this process only sealed
        # Metadata is sealed under the file id, which the server assigns: the record starts with
        # a placeholder of the right length that nobody can open, replaced at finalize.
        placeholder = os.urandom(len(seal_metadata(key, PLACEHOLDER_ID, self._metadata("0" * 64))))
        body = CreateFile(
            shard=opts.shard,
            size=file_ciphertext_size(self.size, self.count),
            chunk_count=self.count,
            chunk_size=ciphertext_size(opts.chunk_size),
            sealed_key=b64encode(seal_file_key(up.keys.public, key)),
            key_commitment=b64encode(key_commitment(key)),
            expires_in=opts.expires_in,
            metadata=b64encode(placeholder),
            format_version=FORMAT_VERSION,
            create_id=new_create_id(),  # makes the create safe to resend when its answer is lost
        )
        record = up.api.create_file(body, tickets=True)
        state = resume.UploadState(
            server=up.api.url,
            user=up.user_id,
            path=str(self.source),
            size=self.size,
            mtime_ns=self.st.st_mtime_ns,
            shard=opts.shard,
            chunk_size=opts.chunk_size,
            copies=opts.copies,
            file_id=record.id,
            file_key=key,
        )
        self._save(state)  # before anything else can fail, so a rerun resumes this record
        self._connect(state.file_id, tickets_beside(record))
        return state

    def _connect(self, file_id: str, first: Tickets | None = None) -> None:
        """Get a put ticket and the live writers (unless the create answered with them); set up the chunk sender."""
        opts, up = self.opts, self.up
        self.channel = PutChannel(up.api, file_id, opts.shard, self.balancer, up.clock, first)
        failover = Failover(
            up.chunks,
            self.balancer,
            self.channel,
            shard=opts.shard,
            file_id=file_id,
            max_attempts=opts.max_attempts,
            stop=self.stop,
            rng=up.rng,
            wording=UPLOAD,
        )
        # The shard's own count is the floor: the server refuses a finalize with fewer copies.
        self.sender = ChunkSender(failover, max(opts.copies, self.channel.copies))

    def _save(self, state: resume.UploadState) -> None:
        if self.state_path is not None and self.keep_state:
            resume.save(self.state_path, state)

    # -- reading and sending -------------------------------------------------------------------

    def _send_all(self) -> str:
        """Read, seal and send every chunk not already sent; return the plaintext SHA-256."""
        opts = self.opts
        hasher = hashlib.sha256()
        done = 0
        pending: dict[Future[Sent], int] = {}
        self.progress(0, self.size)
        pool = ThreadPoolExecutor(opts.in_flight, thread_name_prefix="coffer-upload")
        try:
            for index in range(self.count):
                # Waits only while every plaintext buffer holds a chunk still being sealed.
                buffer = self.plain.take()
                handed_over = False
                try:
                    data = self._read_into(index, buffer)
                    hasher.update(data)
                    if index in self.state.chunks:
                        done += data.nbytes
                        self.progress(done, self.size)
                        continue
                    while len(pending) >= opts.in_flight:
                        done += self._collect(pending, wait(pending, return_when=FIRST_COMPLETED).done)
                        self.progress(done, self.size)
                    pending[pool.submit(self._seal_and_send, index, buffer, data.nbytes)] = index
                    handed_over = True
                finally:
                    if not handed_over:
                        self.plain.give(buffer)
            self._check_unchanged()
            while pending:
                done += self._collect(pending, wait(pending, return_when=FIRST_COMPLETED).done)
                self.progress(done, self.size)
        except BaseException:
            self._wind_down(pool, pending)
            raise
        finally:
            pool.shutdown(wait=True)
        self._save(self.state)
        return hasher.hexdigest()

    def _read_into(self, index: int, buffer: Buffer) -> memoryview:
        """Read chunk *index* of the file into *buffer*; return the view of its bytes."""
        expected = min(self.opts.chunk_size, self.size - index * self.opts.chunk_size)
        view = memoryview(buffer)[:expected]
        got = 0
        while got < expected:
            n = self.f.readinto(view[got:])
            if not n:
                raise self._changed()
            got += n
        return view

    def _check_unchanged(self) -> None:
        now = os.fstat(self.f.fileno())
        if self.f.read(1) or (now.st_size, now.st_mtime_ns) != (self.st.st_size, self.st.st_mtime_ns):
            raise self._changed()

    def _changed(self) -> errors.UsageError:
        self.keep_state = False
        if self.state_path is not None:
            resume.discard(self.state_path)
        return errors.UsageError(f"{self.source} changed while it was being uploaded: upload it again when it is still")

    def _collect(self, pending: dict[Future[Sent], int], finished: set[Future[Sent]]) -> int:
        """Record finished chunks in the state; return their plaintext bytes. Raise a chunk's failure."""
        plain = 0
        for future in finished:
            index = pending.pop(future)
            sent = future.result()
            self._record(sent)
            plain += min(self.opts.chunk_size, self.size - index * self.opts.chunk_size)
        if self.throttle.due():
            self._save(self.state)
        return plain

    def _record(self, sent: Sent) -> None:
        self.state.chunks[sent.index] = resume.ChunkRecord(sent.hash, sent.size, sent.receipts)
        r = self.result
        r.chunks_sent += 1
        r.bytes_sent += sent.size * len(sent.urls)
        r.retries += sent.failures
        for url in sent.urls:
            r.per_fileserver[url] = r.per_fileserver.get(url, 0) + 1

    def _wind_down(self, pool: ThreadPoolExecutor, pending: dict[Future[Sent], int]) -> None:
        """Stop: cancel chunks not started, let running ones end, keep what arrived for the next run."""
        self.stop.set()
        for future in pending:
            future.cancel()
        for future in wait(pending).done:
            if not future.cancelled() and future.exception() is None:
                self._record(future.result())
        self._save(self.state)

    def _seal_and_send(self, index: int, plain: Buffer, length: int) -> Sent:
        """Seal chunk *index* (the first *length* bytes of *plain*) and store it (worker thread).

        *plain* goes back to its pool as soon as it is sealed, the sealed buffer once
        the chunk is stored: every attempt, on whichever fileserver, sends the same bytes.
        """
        try:
            sealed = self.sealed.take()
            try:
                size = seal_chunk_into(
                    self.state.file_key,
                    self.state.file_id,
                    index,
                    index == self.count - 1,
                    memoryview(plain)[:length],
                    memoryview(sealed),
                )
            except BaseException:
                self.sealed.give(sealed)
                raise
        finally:
            self.plain.give(plain)
        try:
            return self.sender.send(index, memoryview(sealed)[:size])
        finally:
            self.sealed.give(sealed)

    # -- finalize ------------------------------------------------------------------------------

    def _finalize(self, plaintext_sha256: str) -> None:
        state = self.state
        metadata = seal_metadata(state.file_key, state.file_id, self._metadata(plaintext_sha256))
        body = Finalize(
            chunks=tuple(FinalizedChunk(i, c.hash, c.size, tuple(c.receipts)) for i, c in sorted(state.chunks.items())),
            metadata=b64encode(metadata),
        )
        try:
            self.up.api.finalize(state.file_id, body)
        except errors.ConnectionFailed:
            # The answer may have been lost after the server committed: look before sending it again.
            if self.up.api.get_file(state.file_id).state != "complete":
                self.up.api.finalize(state.file_id, body)
