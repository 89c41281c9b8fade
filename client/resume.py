"""Remember what an interrupted transfer already moved, so running it again sends only the rest.

One JSON file per transfer under ``<config dir>/uploads/`` or ``<config dir>/downloads/``,
named by a hash of what identifies the transfer (server, user, and the source path or
the file id and destination), written atomically with mode 0600 in a 0700 directory.

- An **upload** state records the source's size and ``mtime_ns`` (a changed file starts
  over), the shard, chunk size and copies asked for, the file id and file key, and per
  finished chunk index its hash, size and receipts.
- A **download** state records the file, the destination, the record's layout (size,
  chunk size, a digest of the chunk hashes: a changed record starts over) and the chunk
  indexes already written, verified and fsynced to ``<dest>.coffer-part``.

SECURITY: an upload state holds the file key: whoever reads it can decrypt that file.
It lives beside the session token, readable by its owner only, and is deleted as soon
as the upload is finalized.

Pure apart from reading and writing those files; a damaged or foreign file reads as
"no state" and the transfer starts over.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coffer.protocol.encoding import DecodeError, b64decode, b64encode

from . import private_files

VERSION = 1
UPLOADS = "uploads"
DOWNLOADS = "downloads"
PART_SUFFIX = ".coffer-part"


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk that reached fileservers: its ciphertext hash and size, and their receipts."""

    hash: str
    size: int
    receipts: tuple[str, ...]


@dataclass
class UploadState:
    server: str
    user: str
    path: str
    size: int
    mtime_ns: int
    shard: str
    chunk_size: int
    """The plaintext chunk size."""
    copies: int
    file_id: str
    file_key: bytes = field(repr=False)  # SECURITY: the file's key
    chunks: dict[int, ChunkRecord] = field(default_factory=dict)

    def matches(
        self, *, server: str, user: str, path: str, size: int, mtime_ns: int, shard: str, chunk_size: int, copies: int
    ) -> bool:
        """Say whether this state belongs to the upload described (same source, unchanged, same options)."""
        return (self.server, self.user, self.path, self.size, self.mtime_ns, self.shard, self.chunk_size) == (
            server,
            user,
            path,
            size,
            mtime_ns,
            shard,
            chunk_size,
        ) and self.copies == copies

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "kind": "upload",
            "server": self.server,
            "user": self.user,
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "shard": self.shard,
            "chunk_size": self.chunk_size,
            "copies": self.copies,
            "file_id": self.file_id,
            "file_key": b64encode(self.file_key),  # SECURITY
            "chunks": {
                str(i): {"hash": c.hash, "size": c.size, "receipts": list(c.receipts)}
                for i, c in sorted(self.chunks.items())
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> UploadState:
        """Rebuild a state; raise ValueError (or TypeError, KeyError) if *data* is not one."""
        if not isinstance(data, dict) or data.get("v") != VERSION or data.get("kind") != "upload":
            raise ValueError("not an upload state of this version")
        chunks = {
            _index(i): ChunkRecord(_str(c["hash"]), _int(c["size"]), tuple(_str(r) for r in c["receipts"]))
            for i, c in data["chunks"].items()
        }
        key = b64decode(_str(data["file_key"]))
        if len(key) != 32:
            raise ValueError("a file key is 32 bytes")
        return cls(
            server=_str(data["server"]),
            user=_str(data["user"]),
            path=_str(data["path"]),
            size=_int(data["size"]),
            mtime_ns=_int(data["mtime_ns"]),
            shard=_str(data["shard"]),
            chunk_size=_int(data["chunk_size"]),
            copies=_int(data["copies"]),
            file_id=_str(data["file_id"]),
            file_key=key,
            chunks=chunks,
        )


@dataclass
class DownloadState:
    server: str
    user: str
    file_id: str
    dest: str
    size: int
    """The plaintext size."""
    layout: str
    """:func:`layout_digest` of the record's chunks."""
    done: set[int] = field(default_factory=set)

    def matches(self, *, server: str, user: str, file_id: str, dest: str, size: int, layout: str) -> bool:
        return (self.server, self.user, self.file_id, self.dest, self.size, self.layout) == (
            server,
            user,
            file_id,
            dest,
            size,
            layout,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "kind": "download",
            "server": self.server,
            "user": self.user,
            "file_id": self.file_id,
            "dest": self.dest,
            "size": self.size,
            "layout": self.layout,
            "done": sorted(self.done),
        }

    @classmethod
    def from_json(cls, data: Any) -> DownloadState:
        if not isinstance(data, dict) or data.get("v") != VERSION or data.get("kind") != "download":
            raise ValueError("not a download state of this version")
        return cls(
            server=_str(data["server"]),
            user=_str(data["user"]),
            file_id=_str(data["file_id"]),
            dest=_str(data["dest"]),
            size=_int(data["size"]),
            layout=_str(data["layout"]),
            done={_int(i) for i in data["done"]},
        )


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("expected a non-negative integer")
    return value


def _index(text: Any) -> int:
    if not isinstance(text, str) or not text.isdigit():
        raise ValueError("a chunk index is a decimal string")
    return int(text)


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def upload_state_path(base: Path, server: str, user: str, source: str) -> Path:
    """Where the state of uploading *source* (an absolute path) to *server* as *user* lives."""
    return base / UPLOADS / f"{_key('upload', server, user, source)}.json"


def download_state_path(base: Path, server: str, user: str, file_id: str, dest: str) -> Path:
    return base / DOWNLOADS / f"{_key('download', server, user, file_id, dest)}.json"


def part_path(dest: Path) -> Path:
    """The temporary file a download is written to beside *dest*, renamed to *dest* once verified."""
    return dest.with_name(dest.name + PART_SUFFIX)


def layout_digest(chunks: list[tuple[int, str, int]]) -> str:
    """Digest a record's ``(index, hash, size)`` list, to tell whether it changed between runs."""
    text = "\n".join(f"{i} {h} {s}" for i, h, s in chunks)
    return hashlib.sha256(text.encode()).hexdigest()


def load_upload(path: Path) -> UploadState | None:
    data = _read(path)
    try:
        return UploadState.from_json(data) if data is not None else None
    except (ValueError, TypeError, KeyError, AttributeError, DecodeError):
        return None


def load_download(path: Path) -> DownloadState | None:
    data = _read(path)
    try:
        return DownloadState.from_json(data) if data is not None else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def save(path: Path, state: UploadState | DownloadState) -> None:
    """Write *state* atomically, readable by its owner only. SECURITY."""
    private_files.write_json(path, state.to_json(), compact=True)


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def states_of_file(base: Path, file_id: str) -> list[Path]:
    """Return the upload states that point at *file_id* (to forget them when the file is removed)."""
    found = []
    for path in sorted((base / UPLOADS).glob("*.json")):
        state = load_upload(path)
        if state is not None and state.file_id == file_id:
            found.append(path)
    return found


class Throttle:
    """Say when a state is due to be saved again: at most once per *interval* seconds of *clock*."""

    def __init__(self, clock: Any, interval: float = 0.5):
        self._clock = clock
        self._interval = interval
        self._last = clock()

    def due(self) -> bool:
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            return True
        return False
