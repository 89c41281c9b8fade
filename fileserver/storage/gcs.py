"""Chunks in a Google Cloud Storage bucket: ``<prefix><shard>/<file id>/<hash>``, SHA-256 kept as metadata.

A chunk no bigger than one part is read whole from the body, verified, and sent in
one request. A bigger one goes through a resumable upload session driven here, part
by part: only one part is ever in memory, and the part that completes the object is
sent only after the :class:`VerifyingReader` has returned its verifying ``b""``, so a
short, long or wrongly hashed body never becomes an object; the session is then
cancelled. Writes are create-only (``ifGenerationMatch=0``): of two concurrent puts
of one chunk, one creates it and the other gets 412 and reports ``False``.

The SDK's own retries are off (``retry=None``): one layer, ours, retries transient
failures a few times with capped, jittered backoff, then answers 503 naming the
service, endpoint and bucket, never a credential or a session URL.

A file's chunks share the prefix ``<prefix><shard>/<file id>/``, so listing one
file is one prefix listing; deleting it is one request per chunk (the emulators
we test against have no batch endpoint, and a purge is not on any user's path).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import google.auth.exceptions
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import storage  # type: ignore[import-untyped]
from google.oauth2 import service_account

from .backoff import Backoff
from .base import BLOCK_SIZE, Backend, ChunkStat, ChunkStream, VerifyingReader, check_name, label
from .errors import BadRange, ChunkNotFound, StorageUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
PART_MULTIPLE = 256 << 10
"""GCS accepts non-final parts of a resumable upload only in multiples of 256 KiB."""
ATTEMPTS = 4
BACKOFF = Backoff(base=0.1, cap=1.0)
"""Four attempts within about 1.5 s: a dead endpoint fails fast and the client tries another fileserver."""
TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    google.auth.exceptions.TransportError,
    gexc.TooManyRequests,
    gexc.ServerError,
)
AUTH = (gexc.Unauthorized, gexc.Forbidden, google.auth.exceptions.RefreshError)


@dataclass(frozen=True)
class GcsOptions:
    """Keys of a ``[[shards]]`` table with ``backend = "gcs"``."""

    bucket: str = ""
    prefix: str = "coffer/"
    credentials_file: str = ""
    """A service-account JSON key; empty for application default credentials."""
    project: str = ""
    endpoint: str = ""
    """An emulator's URL (tests); when set, requests go there without credentials."""
    chunk_size: int = 8 << 20
    """Part size of resumable uploads: the most of one chunk held in memory while it is stored."""
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ValueError("'bucket' is required for a gcs shard: name the bucket that holds its chunks")
        if self.chunk_size <= 0 or self.chunk_size % PART_MULTIPLE:
            raise ValueError(f"'chunk_size' must be a positive multiple of {PART_MULTIPLE} (256 KiB)")
        if self.timeout <= 0:
            raise ValueError("'timeout' must be positive")


class _Blocks(ChunkStream):
    """Yield a byte range of an object as ranged GETs of at most 1 MiB, fetched as the consumer pulls."""

    def __init__(self, fetch: Callable[[int, int], bytes], start: int, length: int):
        self._fetch = fetch
        self._next = start
        self._end = start + length

    def __next__(self) -> bytes:
        if self._next >= self._end:
            raise StopIteration
        last = min(self._next + BLOCK_SIZE, self._end)
        block = self._fetch(self._next, last - 1)
        self._next = last
        return block

    def close(self) -> None:
        self._next = self._end


class GcsBackend(Backend):
    kind = "gcs"
    Options = GcsOptions

    def __init__(self, client: storage.Client, options: GcsOptions, shard: str):
        self._client = client
        self._options = options
        self._bucket = client.bucket(options.bucket)
        self._root = f"{options.prefix}{shard}/"
        self._quarantine_root = f"{options.prefix}quarantine/{shard}/"
        self._where = (
            f"Google Cloud Storage at {options.endpoint or 'storage.googleapis.com'} (bucket {options.bucket})"
        )
        self._timeout = (min(options.timeout, 5.0), options.timeout)
        self._session = requests.Session()

    @classmethod
    def from_options(cls, options: Any, *, shard: str, data_dir: Path) -> GcsBackend:
        assert isinstance(options, GcsOptions)
        credentials: Credentials | None = None
        try:
            if options.endpoint:
                credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
            elif options.credentials_file:
                # SECURITY: the key is read by google-auth and never logged; errors name only the file.
                credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                    options.credentials_file
                )
            client = storage.Client(
                project=options.project or ("coffer-emulator" if options.endpoint else None),
                credentials=credentials,
                client_options={"api_endpoint": options.endpoint} if options.endpoint else None,
            )
        except (OSError, ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
            source = (
                f"credentials file {options.credentials_file}"
                if credentials is None and options.credentials_file
                else "application default credentials"
            )
            raise StorageUnavailable(
                f"shard {shard!r}: cannot authenticate to Google Cloud Storage with the {source} "
                f"({exc.__class__.__name__}): check the gcs shard's credentials_file or the ADC setup"
            ) from exc
        return cls(client, options, shard)

    def __repr__(self) -> str:
        return f"GcsBackend({self._options.bucket!r}, {self._root!r})"

    def _key(self, name: str) -> str:
        return f"{self._root}{name}"

    # -- the retry layer ---------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run *fn*, retrying transient failures; turn what remains into 503 (404 and 412 pass through)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn()
            except (gexc.NotFound, gexc.PreconditionFailed):
                raise
            except TRANSIENT as exc:
                if attempt == ATTEMPTS:
                    raise self._unavailable(what, exc, f"did not answer after {ATTEMPTS} attempts") from exc
                log.warning(
                    "gcs request failed, retrying",
                    extra={"kv": {"op": what, "attempt": attempt, "error": _describe(exc), "where": self._where}},
                )
                time.sleep(BACKOFF.delay(attempt, random.random()))
            except AUTH as exc:
                raise self._unavailable(
                    what, exc, "refused our credentials", hint="check the service account's access to the bucket"
                ) from exc
            except gexc.GoogleAPICallError as exc:
                raise self._unavailable(what, exc, "refused the request") from exc
        raise AssertionError("unreachable")

    def _unavailable(self, what: str, exc: BaseException, how: str, hint: str = "try another fileserver") -> Exception:
        # SECURITY: only the exception's class and status code: its text may hold a resumable session URL.
        log.error("gcs request failed", extra={"kv": {"op": what, "error": _describe(exc), "where": self._where}})
        return StorageUnavailable(f"{what}: {self._where} {how} ({_describe(exc)}); {hint}")

    # -- the verbs ---------------------------------------------------------------------------

    def _put(self, name: str, reader: VerifyingReader) -> bool:
        what = f"storing chunk {label(name)}"
        if self._call(what, lambda: self._bucket.get_blob(self._key(name), retry=None, timeout=self._timeout)):
            # Already stored: still read and verify the body (a bad one is refused), but send nothing.
            while reader.read(BLOCK_SIZE):
                pass
            return False
        blob = self._blob(name, reader.expected)
        if reader.size <= self._options.chunk_size:
            data = _read_part(reader, reader.size)
            if reader.read(BLOCK_SIZE) or not reader.verified:
                raise AssertionError("the verifying reader ended without verifying")
            return self._created(
                what,
                lambda: blob.upload_from_string(
                    data, if_generation_match=0, retry=None, timeout=self._timeout, checksum=None
                ),
            )
        url: str = self._call(
            what,
            lambda: blob.create_resumable_upload_session(
                size=reader.size, if_generation_match=0, retry=None, timeout=self._timeout, checksum=None
            ),
        )
        try:
            return self._send_parts(what, url, reader)
        except BaseException:
            self._cancel(url, name)
            raise

    def _blob(self, name: str, sha256_hex: str) -> storage.Blob:
        blob = self._bucket.blob(self._key(name))
        blob.metadata = {"sha256": sha256_hex}
        blob.content_type = "application/octet-stream"
        return blob

    def _created(self, what: str, upload: Callable[[], object]) -> bool:
        try:
            self._call(what, upload)
        except gexc.PreconditionFailed:
            return False
        return True

    def _send_parts(self, what: str, url: str, reader: VerifyingReader) -> bool:
        """Send the body part by part; the part that ends it only after the reader verified the whole."""
        offset = 0
        while offset < reader.size:
            part = _read_part(reader, min(self._options.chunk_size, reader.size - offset))
            if offset + len(part) == reader.size and (reader.read(BLOCK_SIZE) or not reader.verified):
                raise AssertionError("the verifying reader ended without verifying")
            status = self._call(what, functools.partial(self._send_part, url, part, offset, reader.size))
            if status == 412:
                return False
            offset += len(part)
        return True

    def _send_part(self, url: str, part: bytes, offset: int, total: int) -> int:
        """PUT one part, resending its tail while GCS reports it kept less; return the final status."""
        end = offset + len(part)
        sent = offset
        while True:
            headers = {"Content-Range": f"bytes {sent}-{end - 1}/{total}"}
            # SECURITY: the session URL is a bearer capability; it is never logged or put in a message.
            response = self._session.put(url, data=part[sent - offset :], headers=headers, timeout=self._timeout)
            if response.status_code in (200, 201, 412):
                return response.status_code
            if response.status_code != 308:
                raise gexc.from_http_status(  # type: ignore[no-untyped-call]
                    response.status_code, "resumable upload part refused"
                )
            kept = response.headers.get("Range", "")
            sent = int(kept.rpartition("-")[2]) + 1 if kept else 0
            if sent >= end:
                return 308
            if sent < offset:
                raise gexc.InternalServerError("GCS lost bytes of an earlier part")  # type: ignore[no-untyped-call]

    def _cancel(self, url: str, name: str) -> None:
        """Cancel an unfinished resumable session so no half-upload lingers (GCS would expire it in a week)."""
        try:
            self._session.delete(url, timeout=self._timeout)
        except requests.RequestException as exc:
            log.warning(
                "could not cancel a gcs upload session", extra={"kv": {"chunk": label(name), "error": _describe(exc)}}
            )

    def _get(self, name: str, what: str) -> storage.Blob:
        blob = self._call(what, lambda: self._bucket.get_blob(self._key(name), retry=None, timeout=self._timeout))
        if blob is None:
            raise _not_found(name)
        recorded = (blob.metadata or {}).get("sha256")
        if recorded is not None and recorded != check_name(name)[1]:
            log.error("gcs object's recorded sha256 differs from its name", extra={"kv": {"chunk": label(name)}})
            raise _not_found(name)
        return blob

    def _open(self, name: str, start: int, length: int | None) -> ChunkStream:
        what = f"reading chunk {label(name)}"
        blob = self._get(name, what)
        size = int(blob.size or 0)
        if length is None:
            length = max(size - start, 0)
        if start > size or start + length > size:
            raise BadRange(f"{length} bytes from byte {start} are beyond the chunk's {size} bytes", size=size)

        def fetch(first: int, last: int) -> bytes:
            try:
                data: bytes = self._call(
                    what,
                    lambda: blob.download_as_bytes(
                        start=first, end=last, raw_download=True, checksum=None, retry=None, timeout=self._timeout
                    ),
                )
            except gexc.NotFound as exc:
                raise _not_found(name) from exc
            return data

        return _Blocks(fetch, start, length)

    def _stat(self, name: str) -> ChunkStat:
        blob = self._get(name, f"looking up chunk {label(name)}")
        return ChunkStat(size=int(blob.size or 0), mtime=blob.updated.timestamp() if blob.updated else 0.0)

    def _delete(self, name: str) -> None:
        try:
            self._call(
                f"deleting chunk {label(name)}",
                lambda: self._bucket.delete_blob(self._key(name), retry=None, timeout=self._timeout),
            )
        except gexc.NotFound as exc:
            raise _not_found(name) from exc

    def _list(self) -> Iterator[str]:
        for key in self._keys(self._root):
            rest = key[len(self._root) :]
            if rest.count("/") == 1:
                yield rest

    def _list_file(self, file_id: str) -> Iterator[str]:
        for key in self._keys(f"{self._root}{file_id}/"):
            yield key[len(self._root) :]

    def _delete_quarantined(self, file_id: str) -> int:
        keys = list(self._keys(f"{self._quarantine_root}{file_id}/"))
        return self._delete_keys(f"deleting the quarantined chunks of file {file_id}", keys)

    def _delete_keys(self, what: str, keys: list[str]) -> int:
        """Delete each of *keys*; one already gone is not counted."""
        deleted = 0
        for key in keys:
            try:
                self._call(what, functools.partial(self._bucket.delete_blob, key, retry=None, timeout=self._timeout))
            except gexc.NotFound:
                continue
            deleted += 1
        return deleted

    def _file_sizes(self, file_id: str) -> dict[str, int]:
        """Take the sizes from the listing: one request per page of chunks, not one per chunk."""
        return {key[len(self._root) :]: size for key, size in self._sized_keys(f"{self._root}{file_id}/")}

    def _keys(self, prefix: str) -> Iterator[str]:
        """Yield the name of every object under *prefix*, a page at a time."""
        for key, _ in self._sized_keys(prefix):
            yield key

    def _sized_keys(self, prefix: str) -> Iterator[tuple[str, int]]:
        token: str | None = None
        while True:
            page_iter = self._client.list_blobs(
                self._bucket, prefix=prefix, page_token=token, retry=None, timeout=self._timeout
            )
            page = self._call("listing chunks", functools.partial(next, page_iter.pages, None))
            for blob in page or ():
                yield str(blob.name), int(blob.size or 0)
            token = page_iter.next_page_token
            if not token:
                return

    def _quarantine(self, name: str) -> None:
        """Copy a chunk that failed its scrub to ``<prefix>quarantine/<shard>/<file id>/``, then delete it."""
        what = f"quarantining chunk {label(name)}"
        source = self._bucket.blob(self._key(name))
        target = f"{self._quarantine_root}{name}.{int(time.time())}"
        try:
            self._call(
                what, lambda: self._bucket.copy_blob(source, self._bucket, target, retry=None, timeout=self._timeout)
            )
        except gexc.NotFound as exc:
            raise _not_found(name) from exc
        self._delete(name)

    def volume(self) -> str:
        return f"gcs:{self._options.endpoint or 'storage.googleapis.com'}/{self._options.bucket}"


def _read_part(reader: VerifyingReader, size: int) -> bytes:
    """Read exactly *size* bytes of the body (fewer only if the reader raises first)."""
    part = bytearray()
    while len(part) < size:
        piece = reader.read(min(BLOCK_SIZE, size - len(part)))
        if not piece:
            break
        part += piece
    return bytes(part)


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return f"{exc.__class__.__name__}, HTTP {int(code)}" if isinstance(code, int) else exc.__class__.__name__


def _not_found(name: str) -> ChunkNotFound:
    return ChunkNotFound(
        f"chunk {label(name)}… is not stored on this fileserver: ask the server for another fileserver holding it"
    )
