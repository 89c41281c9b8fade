"""Chunks as block blobs in one Azure Blob Storage container: ``<prefix><shard>/<file id>/<hash>``.

A chunk smaller than one block goes up in a single create-only Put Blob once the
:class:`VerifyingReader` has verified it (it is at most one block, so buffering it
is bounded). A larger chunk is streamed as blocks (``stage_block``) under IDs
unique to this upload, and the block list is committed with ``If-None-Match: *``
only after the reader verified size and SHA-256: the blob appears whole or not at
all, and of two concurrent puts exactly one creates it.

Azure has no call that discards uncommitted blocks, so an upload that fails after
staging blocks leaves them uncommitted: they are invisible to readers and to
:meth:`list`, count against nothing a reader sees, and Azure discards them itself
a week after the last block was staged (or at the blob's next commit).

A file's chunks share the prefix ``<prefix><shard>/<file id>/``: listing a file is
one prefix listing, and deleting it one Delete Blob per chunk (the base class's way).

Retries are ours alone (the SDK's retry policy is off): up to :data:`ATTEMPTS`
tries with capped, jittered exponential backoff on connection errors, 5xx and 429,
then :class:`StorageUnavailable` naming the endpoint. SECURITY: no message or log
line carries the SDK's exception text, which can include request URLs (and so a
SAS token); they name the status and error code only.
"""

from __future__ import annotations

import base64
import functools
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.credentials import AzureSasCredential
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobBlock, BlobClient, BlobProperties, ContainerClient

from .base import BLOCK_SIZE, Backend, ChunkStat, ChunkStream, VerifyingReader, check_name, is_chunk_name, label
from .errors import BadRange, ChunkNotFound, StorageUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
SAS_SIGNATURE_RE = re.compile(r"(?i)\bsig=[^&\s\"']+")


class _RedactSasSignature(logging.Filter):
    """Blank out SAS signatures in urllib3's DEBUG request lines before any handler sees them.

    SECURITY: urllib3 logs each request line with its query string, which holds a SAS token's signature.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if SAS_SIGNATURE_RE.search(message):
            record.msg, record.args = SAS_SIGNATURE_RE.sub("sig=REDACTED", message), ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactSasSignature())

SERVICE = "Azure Blob Storage"
SHA256_KEY = "sha256"
"""The metadata key holding the chunk's SHA-256, so a stat can tell a damaged or foreign blob cheaply."""
ATTEMPTS = 4
BACKOFF_BASE, BACKOFF_CAP = 0.1, 0.8
"""Full-jitter backoff: at most 0.1 + 0.2 + 0.4 s of sleeping, so a dead endpoint fails in well under 2 s."""
CONNECT_TIMEOUT, READ_TIMEOUT = 2, 30
MIN_BLOCK, MAX_BLOCK = 1 << 20, 100 << 20
CONTAINER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


@dataclass(frozen=True)
class AzureOptions:
    """Keys of a ``[[shards]]`` table with ``backend = "azure"``: one container, one credential form.

    SECURITY: give exactly one of ``connection_string``, ``account_url`` + ``account_key`` or
    ``account_url`` + ``sas_token``; the secret fields never appear in a repr, message or log.
    """

    container: str = ""
    prefix: str = "coffer/"
    connection_string: str = field(default="", repr=False)
    account_url: str = ""
    account_key: str = field(default="", repr=False)
    sas_token: str = field(default="", repr=False)
    block_size: int = 8 << 20
    """Bytes per staged block: the most of one chunk held in memory during an upload."""

    def __post_init__(self) -> None:
        if not CONTAINER_RE.match(self.container):
            raise ValueError("'container' must be an Azure container name: 3-63 of a-z, 0-9 and single hyphens")
        if self.prefix.startswith("/"):
            raise ValueError("'prefix' must not start with '/'")
        if not MIN_BLOCK <= self.block_size <= MAX_BLOCK:
            raise ValueError(f"'block_size' must be between {MIN_BLOCK} and {MAX_BLOCK} bytes")
        forms = [bool(self.connection_string), bool(self.account_key), bool(self.sas_token)]
        if sum(forms) != 1:
            raise ValueError(
                "give exactly one credential: 'connection_string', or 'account_url' with either 'account_key' "
                f"or 'sas_token' (found {sum(forms)} of them)"
            )
        if self.connection_string and self.account_url:
            raise ValueError("'account_url' goes with 'account_key' or 'sas_token', not with 'connection_string'")
        if not self.connection_string:
            if not self.account_url.startswith(("https://", "http://")):
                raise ValueError("'account_url' must be the account's http(s):// blob endpoint")
            if "?" in self.account_url:
                raise ValueError("'account_url' must not carry a query: put a SAS token in 'sas_token'")


class AzureBackend(Backend):
    kind = "azure"
    Options = AzureOptions

    def __init__(self, container: ContainerClient, *, prefix: str, shard: str, block_size: int):
        self._container = container
        self._root = f"{prefix}{shard}/"
        self.block_size = block_size
        url = urlsplit(container.url)
        self.endpoint = f"{url.scheme}://{url.netloc}"  # SECURITY: no path or query, so never a SAS token
        self._where = f"{SERVICE} at {self.endpoint} (container {container.container_name!r})"

    @classmethod
    def from_options(cls, options: Any, *, shard: str, data_dir: Path) -> AzureBackend:
        assert isinstance(options, AzureOptions)
        sdk: dict[str, Any] = {
            "retry_total": 0,  # our _call is the only retry layer
            "connection_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "max_single_get_size": options.block_size,  # one ranged GET per part (see _Blocks)
            "max_chunk_get_size": options.block_size,
        }
        # SECURITY: the credential goes to the SDK and nowhere else.
        if options.connection_string:
            client = ContainerClient.from_connection_string(options.connection_string, options.container, **sdk)
        elif options.account_key:
            client = ContainerClient(options.account_url, options.container, credential=options.account_key, **sdk)
        else:
            sas = AzureSasCredential(options.sas_token.lstrip("?"))
            client = ContainerClient(options.account_url, options.container, credential=sas, **sdk)
        return cls(client, prefix=options.prefix, shard=shard, block_size=options.block_size)

    def __repr__(self) -> str:
        return f"AzureBackend({self._where!r}, root={self._root!r})"

    def _key(self, name: str) -> str:
        return f"{self._root}{name}"

    def chunk_of(self, key: str) -> str | None:
        """Return the chunk name stored under blob *key*, or None if *key* is not a chunk of this shard."""
        rest = key[len(self._root) :] if key.startswith(self._root) else ""
        return rest if is_chunk_name(rest) else None

    def _blob(self, name: str) -> BlobClient:
        return self._container.get_blob_client(self._key(name))

    # -- the verbs -------------------------------------------------------------------------------

    def _put(self, name: str, reader: VerifyingReader) -> bool:
        blob, what = self._blob(name), f"storing chunk {label(name)}"
        meta = {SHA256_KEY: reader.expected}
        if reader.size < self.block_size:
            data = _read_block(reader, self.block_size)  # ends with the verifying read
            return self._create(name, what, reader, functools.partial(blob.upload_blob, data, metadata=meta))
        existing = self._props(blob, what, missing_ok=True)
        if existing is not None and _holds(existing, reader):
            while reader.read(BLOCK_SIZE):  # verify the body all the same; store nothing
                pass
            return False
        ids: list[str] = []
        upload = uuid.uuid4().hex  # SECURITY: IDs unique per upload, so a bad concurrent body cannot swap a block
        try:
            while block := _read_block(reader, self.block_size):
                block_id = base64.b64encode(f"{upload}-{len(ids):06d}".encode()).decode()
                self._call(what, functools.partial(blob.stage_block, block_id, block, length=len(block)))
                ids.append(block_id)
        except BaseException:
            if ids:
                log.info(
                    "upload abandoned; its staged blocks stay uncommitted until Azure discards them",
                    extra={
                        "kv": {"chunk": label(name), "blocks": len(ids), "container": self._container.container_name}
                    },
                )
            raise
        commit = functools.partial(blob.commit_block_list, [BlobBlock(i) for i in ids], metadata=meta)
        return self._create(name, what, reader, commit)

    def _create(self, name: str, what: str, reader: VerifyingReader, write: Callable[..., object]) -> bool:
        """Run *write* create-only; if the blob exists keep it when it holds the chunk, else replace it."""
        assert reader.verified
        try:
            self._call(what, functools.partial(write, match_condition=MatchConditions.IfMissing))
            return True
        except (ResourceExistsError, ResourceModifiedError):
            pass
        existing = self._props(self._blob(name), what, missing_ok=False)
        assert existing is not None
        if _holds(existing, reader):
            return False
        log.warning("replacing damaged chunk", extra={"kv": {"chunk": label(name), "size": existing.size}})
        try:
            self._call(
                what, functools.partial(write, etag=existing.etag, match_condition=MatchConditions.IfNotModified)
            )
        except (ResourceModifiedError, ResourceNotFoundError, ResourceExistsError):
            return False  # a concurrent put got there first
        return True

    def _open(self, name: str, start: int, length: int | None) -> ChunkStream:
        blob = self._blob(name)
        props = self._props(blob, f"reading chunk {label(name)}", missing_ok=False)
        assert props is not None
        size = props.size
        if length is None:
            length = max(size - start, 0)
        if start + length > size or start > size:
            raise BadRange(f"{length} bytes from byte {start} are beyond the chunk's {size} bytes", size=size)
        return _Blocks(self, blob, name, start, length)

    def _stat(self, name: str) -> ChunkStat:
        props = self._props(self._blob(name), f"looking up chunk {label(name)}", missing_ok=False)
        assert props is not None
        stored = (props.metadata or {}).get(SHA256_KEY)
        if stored is not None and stored != check_name(name)[1]:
            log.warning("blob holds another chunk's hash", extra={"kv": {"chunk": label(name), "stored": stored[:12]}})
            raise _not_found(name)
        return ChunkStat(size=props.size, mtime=props.last_modified.timestamp())

    def _delete(self, name: str) -> None:
        try:
            self._call(f"deleting chunk {label(name)}", self._blob(name).delete_blob)
        except ResourceNotFoundError:
            raise _not_found(name) from None

    def _list(self) -> Iterator[str]:
        for key in self._keys(self._root):
            if (name := self.chunk_of(key)) is not None:
                yield name

    def _list_file(self, file_id: str) -> Iterator[str]:
        for key in self._keys(f"{self._root}{file_id}/"):
            if (name := self.chunk_of(key)) is not None:
                yield name

    def _file_sizes(self, file_id: str) -> dict[str, int]:
        """Take the sizes from the listing: one request per page of chunks, not one per chunk."""
        sizes = {}
        for key, size in self._sized_keys(f"{self._root}{file_id}/"):
            if (name := self.chunk_of(key)) is not None:
                sizes[name] = size
        return sizes

    def _keys(self, prefix: str) -> Iterator[str]:
        """Yield the name of every blob under *prefix*, a page at a time."""
        for key, _ in self._sized_keys(prefix):
            yield key

    def _sized_keys(self, prefix: str) -> Iterator[tuple[str, int]]:
        marker: str | None = None
        while True:
            keys, marker = self._call("listing chunks", functools.partial(self._page, prefix, marker))
            yield from keys
            if not marker:
                return

    def _page(self, prefix: str, marker: str | None) -> tuple[list[tuple[str, int]], str | None]:
        pages = self._container.list_blobs(name_starts_with=prefix).by_page(continuation_token=marker)
        keys = [(blob.name, int(blob.size or 0)) for blob in next(pages)]
        token: str | None = pages.continuation_token  # type: ignore[attr-defined]
        return keys, token

    def volume(self) -> str:
        return f"azure:{self.endpoint}/{self._container.account_name}/{self._container.container_name}"

    def cleanup(self, older_than: float) -> int:
        """Do nothing: Azure itself discards the uncommitted blocks of interrupted uploads after a week."""
        return 0

    # -- talking to the service ------------------------------------------------------------------

    def _props(self, blob: BlobClient, what: str, *, missing_ok: bool) -> BlobProperties | None:
        try:
            return self._call(what, blob.get_blob_properties)
        except ResourceNotFoundError:
            if missing_ok:
                return None
            raise _not_found(blob.blob_name[len(self._root) :]) from None

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run *fn*, retrying transient failures; raise :class:`StorageUnavailable` once they persist.

        Not-found, exists and precondition errors pass through for the caller to map.
        """
        reason = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))))
            try:
                return fn()
            except (ResourceExistsError, ResourceModifiedError):
                raise
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", None) == "ContainerNotFound":
                    raise self._unavailable(
                        what, "has no such container: create it or fix the shard's 'container'"
                    ) from None
                raise
            except HttpResponseError as exc:
                if exc.status_code in (401, 403):
                    raise self._unavailable(
                        what,
                        f"refused our credential ({_status(exc)}): check the shard's account key or SAS token "
                        "(wrong, expired, or lacking read/write/list/delete permission)",
                    ) from None
                if exc.status_code is not None and exc.status_code < 500 and exc.status_code not in (408, 429):
                    raise self._unavailable(what, f"refused the request ({_status(exc)})") from None
                reason = f"{_status(exc)}{', throttled' if exc.status_code in (429, 503) else ''}"
            except AzureError as exc:  # ServiceRequestError / ServiceResponseError: the connection failed
                reason = f"connection failed: {exc.__class__.__name__}"
            log.info(
                "storage request failed",
                extra={
                    "kv": {
                        "service": SERVICE,
                        "endpoint": self.endpoint,
                        "what": what,
                        "attempt": attempt + 1,
                        "reason": reason,
                    }
                },
            )
        raise self._unavailable(what, f"is unreachable or failing ({reason}) after {ATTEMPTS} attempts")

    def _unavailable(self, what: str, problem: str) -> StorageUnavailable:
        return StorageUnavailable(f"{what}: {self._where} {problem}; try another fileserver")


class _Blocks(ChunkStream):
    """Yield *length* bytes of a blob from *start* in blocks of at most 1 MiB, fetched a part at a time.

    Each ranged GET asks for one part (``block_size`` bytes) and is retried on its own: at 1 MiB per GET
    the per-request cost dominated (a third of the throughput against Azurite), and one part is the
    memory an upload holds too.
    """

    def __init__(self, backend: AzureBackend, blob: BlobClient, name: str, start: int, length: int):
        self._backend, self._blob, self._name = backend, blob, name
        self._pos, self._end = start, start + length
        self._buffer = b""
        self._offset = 0

    def __next__(self) -> bytes:
        if self._offset >= len(self._buffer):
            self._fetch()
        block = self._buffer[self._offset : self._offset + BLOCK_SIZE]
        self._offset += len(block)
        return block

    def _fetch(self) -> None:
        if self._pos >= self._end:
            self._buffer = b""
            raise StopIteration
        n = min(self._backend.block_size, self._end - self._pos)
        what = f"reading chunk {label(self._name)}"
        try:
            self._buffer = self._backend._call(what, functools.partial(self._get, self._pos, n))
        except ResourceNotFoundError:
            raise _not_found(self._name) from None
        if len(self._buffer) != n:
            raise StorageUnavailable(f"{what}: {SERVICE} returned {len(self._buffer)} of {n} bytes; try again")
        self._pos, self._offset = self._pos + n, 0

    def _get(self, offset: int, n: int) -> bytes:
        return self._blob.download_blob(offset=offset, length=n).readall()

    def close(self) -> None:
        self._pos, self._buffer, self._offset = self._end, b"", 0


def _read_block(reader: VerifyingReader, size: int) -> bytes:
    """Return up to *size* bytes from *reader*; fewer only at the end (whose read verified the chunk)."""
    parts: list[bytes] = []
    got = 0
    while got < size and (piece := reader.read(min(BLOCK_SIZE, size - got))):
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


def _holds(props: BlobProperties, reader: VerifyingReader) -> bool:
    """Return whether a stored blob is this chunk, by size and the SHA-256 in its metadata (no re-read)."""
    stored = (props.metadata or {}).get(SHA256_KEY)
    return props.size == reader.size and stored in (None, reader.expected)


def _status(exc: HttpResponseError) -> str:
    """Describe an HTTP error by status and error code only. SECURITY: never the SDK's text (URLs, SAS)."""
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)
    return f"HTTP {exc.status_code} {code or exc.reason or ''}".strip()


def _not_found(name: str) -> ChunkNotFound:
    return ChunkNotFound(
        f"chunk {label(name)}… is not stored on this fileserver: ask the server for another fileserver holding it"
    )
