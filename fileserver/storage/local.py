"""Chunks on a local filesystem: ``<root>/<ab>/<file id>/<hash>``, written through ``<root>/tmp/``.

``ab`` is the first two characters of the file id: 256 fan-out directories keep
each one small, and one directory per file makes listing or deleting a file's
chunks one directory's work. A chunk is written to a temp file in the same
filesystem, fsynced, then hard-linked into place: the link is atomic and fails if
the name exists, so two concurrent uploads of one chunk store it once and exactly
one of them reports it as created. Reads go in 1 MiB blocks, or as the open file itself
for ``sendfile`` (:meth:`FileBlocks.local_file`). A file's directory
is removed once :meth:`LocalBackend.delete_file` emptied it.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from coffer.protocol.ids import CHUNK_HASH_RE, UUID_RE

from .base import BLOCK_SIZE, Backend, ChunkStat, ChunkStream, VerifyingReader, check_name, label
from .errors import BadRange, ChunkNotFound
from .fsutil import fsync_dir, private_dir

log = logging.getLogger(__name__)

TMP_DIR = "tmp"
QUARANTINE_DIR = "quarantine"


@dataclass(frozen=True)
class LocalOptions:
    """Keys of a ``[[shards]]`` table with ``backend = "local"``."""

    path: str = ""
    """Where the chunks go, relative to ``data_dir`` unless absolute; default ``chunks/<shard>``."""


class FileBlocks(ChunkStream):
    """Yield *remaining* bytes of an open file (positioned at the first) in 1 MiB blocks; close the file when done.

    It is also the file itself for ``sendfile`` (:meth:`local_file`): ``fileno`` and a
    ``read`` that never goes past the range.
    """

    def __init__(self, f: BinaryIO, remaining: int):
        self._f: BinaryIO | None = f
        self._remaining = remaining

    def __next__(self) -> bytes:
        block = self.read(BLOCK_SIZE)
        if not block:
            self.close()
            raise StopIteration
        return block

    def read(self, size: int, /) -> bytes:
        """Return the next bytes of the range, at most *size* of them; ``b""`` at its end."""
        if self._f is None or self._remaining <= 0 or size <= 0:
            return b""
        block = self._f.read(min(size, self._remaining))
        self._remaining -= len(block)
        return block

    def fileno(self) -> int:
        if self._f is None:
            raise ValueError("the chunk file is closed")
        return self._f.fileno()

    def local_file(self) -> FileBlocks | None:
        return self if self._f is not None else None

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class LocalBackend(Backend):
    kind = "local"
    Options = LocalOptions

    def __init__(self, root: Path):
        self.root = root
        self._tmp = root / TMP_DIR
        private_dir(self._tmp)

    @classmethod
    def from_options(cls, options: Any, *, shard: str, data_dir: Path) -> LocalBackend:
        assert isinstance(options, LocalOptions)
        return cls(data_dir / (options.path or f"chunks/{shard}"))

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"

    def _file_dir(self, file_id: str) -> Path:
        return self.root / file_id[:2] / file_id

    def _path(self, name: str) -> Path:
        file_id, chunk_hash = name.split("/")
        return self._file_dir(file_id) / chunk_hash

    def _put(self, name: str, reader: VerifyingReader) -> bool:
        final = self._path(name)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                reader.write_to(f)
                f.flush()
                os.fsync(f.fileno())
            assert reader.verified  # write_to returns only once the body hashed to its name
            return self._commit(tmp, final, reader)
        finally:
            tmp.unlink(missing_ok=True)

    def _commit(self, tmp: Path, final: Path, reader: VerifyingReader) -> bool:
        for attempt in (1, 2):
            new_dirs = self._make_parents(final)
            try:
                os.link(tmp, final)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
                # delete_file removed the file's emptied directory between mkdir and link: make it again.
            except FileExistsError:
                if _holds(final, reader.size, reader.expected):
                    return False
                # The stored copy is damaged (bit rot, an old crash): the verified upload replaces it.
                log.warning("replacing damaged chunk", extra={"kv": {"root": self.root, "chunk": final.name}})
                os.replace(tmp, final)
                break
        for directory in (final.parent, *new_dirs):
            fsync_dir(directory)
        return True

    def _make_parents(self, final: Path) -> list[Path]:
        """Create the fan-out directories; return the parents whose entries changed."""
        changed: list[Path] = []
        for directory in (final.parent.parent, final.parent):
            try:
                directory.mkdir(mode=0o700)
                changed.append(directory.parent)
            except FileExistsError:
                pass
        return changed

    def _open(self, name: str, start: int, length: int | None) -> ChunkStream:
        try:
            f = open(self._path(name), "rb", buffering=0)
        except FileNotFoundError as exc:
            raise _not_found(name) from exc
        return serve_range(f, start, length)

    def _stat(self, name: str) -> ChunkStat:
        try:
            st = os.stat(self._path(name))
        except FileNotFoundError as exc:
            raise _not_found(name) from exc
        return ChunkStat(size=st.st_size, mtime=st.st_mtime)

    def _delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError as exc:
            raise _not_found(name) from exc
        fsync_dir(path.parent)

    def _list(self) -> Iterator[str]:
        for fan in _subdirs(self.root):
            for file_dir in _file_dirs(fan):
                for chunk_hash in _chunk_files(file_dir):
                    yield f"{file_dir.name}/{chunk_hash}"

    def _list_file(self, file_id: str) -> Iterator[str]:
        for chunk_hash in _chunk_files(self._file_dir(file_id)):
            yield f"{file_id}/{chunk_hash}"

    def _file_sizes(self, file_id: str) -> dict[str, int]:
        """Stat the entries of the file's directory as they are listed: one pass, no path built per chunk."""
        sizes: dict[str, int] = {}
        try:
            with os.scandir(self._file_dir(file_id)) as entries:
                for entry in entries:
                    if not CHUNK_HASH_RE.match(entry.name):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # deleted since it was listed: it no longer counts
                    if stat.S_ISREG(st.st_mode):
                        sizes[f"{file_id}/{entry.name}"] = st.st_size
        except FileNotFoundError:
            pass  # no chunk of the file here yet
        return sizes

    def _delete_file(self, file_id: str) -> int:
        """Unlink every chunk in the file's directory, then the directory itself once it is empty."""
        directory = self._file_dir(file_id)
        deleted = 0
        for chunk_hash in list(_chunk_files(directory)):
            try:
                os.unlink(directory / chunk_hash)
            except FileNotFoundError:
                continue
            deleted += 1
        if deleted:
            fsync_dir(directory)
        try:
            directory.rmdir()
        except FileNotFoundError:
            return deleted
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            return deleted  # something that is not a chunk, or an upload that just landed: the check reports it
        fsync_dir(directory.parent)
        return deleted

    def _quarantine(self, name: str) -> None:
        """Move a chunk that failed its scrub to ``<root>/quarantine/<file id>/`` for an administrator to inspect."""
        path = self._path(name)
        file_id, chunk_hash = check_name(name)
        target_dir = self.root / QUARANTINE_DIR / file_id
        private_dir(target_dir)
        try:
            os.replace(path, target_dir / f"{chunk_hash}.{int(time.time())}")
        except FileNotFoundError as exc:
            raise _not_found(name) from exc
        fsync_dir(path.parent)
        fsync_dir(target_dir)

    def _delete_quarantined(self, file_id: str) -> int:
        """Remove ``<root>/quarantine/<file id>/``: a deleted file keeps no copy, not even a damaged one."""
        directory = self.root / QUARANTINE_DIR / file_id
        if not directory.is_dir():
            return 0
        removed = sum(1 for p in directory.iterdir() if p.is_file())
        shutil.rmtree(directory)
        fsync_dir(directory.parent)
        return removed

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def check_writable(self) -> None:
        """Create and remove an empty file where uploads are first written: it fails on a missing or read-only disk."""
        fd, name = tempfile.mkstemp(prefix="ready-", dir=self._tmp)
        os.close(fd)
        os.unlink(name)

    def used_bytes(self) -> int:
        return shutil.disk_usage(self.root).used

    def volume(self) -> str:
        return f"local:{os.stat(self.root).st_dev}"

    def cleanup(self, older_than: float) -> int:
        """Remove temp files of uploads that were interrupted at least *older_than* seconds ago."""
        limit = time.time() - older_than
        removed = 0
        with os.scandir(self._tmp) as entries:
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_mtime <= limit:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        if removed:
            log.info("removed stale temp files", extra={"kv": {"root": self.root, "count": removed}})
        return removed


def serve_range(f: BinaryIO, start: int, length: int | None) -> ChunkStream:
    """Return *length* bytes of the open chunk file *f* from *start* (closing it if the range is refused)."""
    try:
        size = os.fstat(f.fileno()).st_size
        if length is None:
            length = max(size - start, 0)
        if start + length > size or start > size:
            raise BadRange(f"{length} bytes from byte {start} are beyond the chunk's {size} bytes", size=size)
        f.seek(start)
    except BaseException:
        f.close()
        raise
    return FileBlocks(f, length)


def _not_found(name: str) -> ChunkNotFound:
    return ChunkNotFound(
        f"chunk {label(name)}… is not stored on this fileserver: ask the server for another fileserver holding it"
    )


def _subdirs(path: Path) -> Iterator[Path]:
    """Yield the two-hex-digit fan-out directories under *path* (never tmp/ or quarantine/)."""
    with os.scandir(path) as entries:
        for entry in entries:
            if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False) and _is_hex(entry.name):
                yield Path(entry.path)


def _file_dirs(fan: Path) -> Iterator[Path]:
    """Yield the file directories in fan-out directory *fan*: named by a file id that starts with its name."""
    with os.scandir(fan) as entries:
        for entry in entries:
            if entry.name.startswith(fan.name) and UUID_RE.match(entry.name) and entry.is_dir(follow_symlinks=False):
                yield Path(entry.path)


def _chunk_files(file_dir: Path) -> Iterator[str]:
    """Yield the chunk hashes stored in one file's directory (none if it does not exist)."""
    try:
        with os.scandir(file_dir) as entries:
            for entry in entries:
                if CHUNK_HASH_RE.match(entry.name) and entry.is_file(follow_symlinks=False):
                    yield entry.name
    except FileNotFoundError:
        return


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _holds(path: Path, size: int, sha256_hex: str) -> bool:
    """Return whether *path* holds exactly the chunk: re-read on the rare idempotent re-upload."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size != size:
                return False
            digest = hashlib.sha256()
            while block := f.read(BLOCK_SIZE):
                digest.update(block)
    except FileNotFoundError:
        return False
    return digest.hexdigest() == sha256_hex
