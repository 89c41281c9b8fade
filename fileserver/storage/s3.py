"""Chunks in an S3 bucket (AWS, MinIO, Ceph…): ``<prefix><shard>/<file id>/<hash>``, written create-only.

A chunk no bigger than one part is sent in one ``PutObject``; a bigger one as a
multipart upload, one part in memory at a time. Either way the object is created
only after the :class:`VerifyingReader` has returned ``b""`` (size and SHA-256
checked), and with ``If-None-Match: *``, so two concurrent puts of one chunk yield
one ``True`` and one ``False`` and a bad body never becomes an object. A failed
multipart upload is aborted so no parts are left to bill; ``cleanup`` aborts the
ones a crashed process left. botocore's own retries are off: :meth:`S3Backend._call`
is the one retry layer, few and short, so an outage becomes a 503 within seconds.

A file's chunks share the key prefix ``<prefix><shard>/<file id>/``: listing a file
is one prefix listing, and deleting it is one ``DeleteObjects`` per 1,000 keys.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from .backoff import Backoff
from .base import BLOCK_SIZE, Backend, ChunkStat, ChunkStream, VerifyingReader, check_name, label
from .errors import BadRange, ChunkNotFound, StorageUnavailable

log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 << 20
"""S3 refuses multipart parts (other than the last) smaller than 5 MiB."""
MAX_PART_SIZE = 5 << 30
ATTEMPTS = 4
RETRY_BUDGET = 4.0
"""Seconds after which no new attempt starts: a down service must fail the request fast."""
BACKOFF = Backoff(base=0.1, cap=1.0)
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 15.0
META_SHA256 = "sha256"
DELETE_BATCH = 1000
"""The most keys one ``DeleteObjects`` call may name."""
BULK_REFUSED = ("400", "501", "MissingContentMD5", "InvalidDigest", "BadDigest", "NotImplemented", "InvalidRequest")
NOT_FOUND = ("404", "NoSuchKey", "NotFound")
RETRYABLE = frozenset(
    ("InternalError", "ServiceUnavailable", "SlowDown", "Throttling", "RequestTimeout", "ConditionalRequestConflict")
)
"""Error codes worth another attempt (with 429 and every 5xx); a 409 conditional conflict resolves to 412 on retry."""
AUTH = frozenset(("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"))
SSE_MODES = ("", "AES256", "aws:kms", "aws:kms:dsse")


@dataclass(frozen=True)
class S3Options:
    """Keys of a ``[[shards]]`` table with ``backend = "s3"``."""

    bucket: str = ""
    endpoint_url: str = ""
    """Empty for AWS; ``https://minio.example:9000`` for another S3-compatible service."""
    region: str = ""
    prefix: str = "coffer/"
    access_key_id: str = field(default="", repr=False)
    """With ``secret_access_key``; both empty: the standard AWS chain (environment, profile, instance role)."""
    secret_access_key: str = field(default="", repr=False)  # SECURITY: never printed, logged or in an error
    server_side_encryption: str = ""
    storage_class: str = ""
    part_size: int = 8 << 20
    addressing_style: str = ""
    """``path`` for MinIO and most self-hosted services, ``virtual`` or ``auto``; empty: botocore's default."""

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ValueError("'bucket' is required for an s3 shard")
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError("set both 'access_key_id' and 'secret_access_key', or neither (to use the AWS chain)")
        if not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            raise ValueError(f"'part_size' must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes (S3's limits)")
        if self.server_side_encryption not in SSE_MODES:
            raise ValueError(f"'server_side_encryption' must be one of {', '.join(map(repr, SSE_MODES))}")
        if self.addressing_style not in ("", "path", "virtual", "auto"):
            raise ValueError("'addressing_style' must be 'path', 'virtual' or 'auto'")
        if self.prefix.startswith("/"):
            raise ValueError("'prefix' must not start with '/'")


class _BodyBlocks(ChunkStream):
    """Yield a GET response body in blocks of at most 1 MiB; a broken stream becomes StorageUnavailable."""

    def __init__(self, body: Any, remaining: int, where: str):
        self._body = body
        self._remaining = remaining
        self._where = where

    def __next__(self) -> bytes:
        if self._body is None or self._remaining <= 0:
            self.close()
            raise StopIteration
        try:
            block: bytes = self._body.read(min(BLOCK_SIZE, self._remaining))
        except (BotoCoreError, OSError) as exc:
            self.close()
            raise StorageUnavailable(f"reading from {self._where} failed mid-stream ({type(exc).__name__})") from exc
        if not block:
            self.close()
            raise StorageUnavailable(f"{self._where} ended the chunk {self._remaining} bytes early")
        self._remaining -= len(block)
        return block

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None


class S3Backend(Backend):
    kind = "s3"
    Options = S3Options

    def __init__(self, options: S3Options, *, shard: str, client: Any = None):
        self.options = options
        self.bucket = options.bucket
        self.base = f"{options.prefix}{shard}/"
        self.where = _describe(options)
        self._client = client or _make_client(options)
        self._extra: dict[str, Any] = {}
        if options.server_side_encryption:
            self._extra["ServerSideEncryption"] = options.server_side_encryption
        if options.storage_class:
            self._extra["StorageClass"] = options.storage_class

    @classmethod
    def from_options(cls, options: Any, *, shard: str, data_dir: Path) -> S3Backend:
        assert isinstance(options, S3Options)
        return cls(options, shard=shard)

    def __repr__(self) -> str:
        return f"S3Backend({self.where}, {self.base!r})"

    def _key(self, name: str) -> str:
        return f"{self.base}{name}"

    # -- the one retry layer ----------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., Any], *, expect: tuple[str, ...] = (), **kwargs: Any) -> Any:
        """Call the SDK, retrying transient failures; raise ClientError only for the *expect*-ed codes.

        Every other failure becomes :class:`StorageUnavailable` naming the service and what
        failed, never the SDK's own message (it can quote signed headers or key ids).
        """
        started = time.monotonic()
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn(Bucket=self.bucket, **kwargs)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                if code in expect or str(status) in expect:
                    raise
                if not (code in RETRYABLE or status == 429 or status >= 500):
                    raise self._refused(what, code, status) from None
                reason = f"it answered {status} {code}"
            except (NoCredentialsError, PartialCredentialsError):
                # SECURITY: say where credentials come from, never what they are.
                raise StorageUnavailable(
                    f"{what}: no credentials for {self.where}: set access_key_id and secret_access_key "
                    "in the shard's table or provide them through the standard AWS chain"
                ) from None
            except (BotoCoreError, OSError) as exc:
                reason = f"it is unreachable ({type(exc).__name__})"
            delay = BACKOFF.delay(attempt, random.random())
            if attempt == ATTEMPTS or time.monotonic() - started + delay > RETRY_BUDGET:
                break
            log.info("retrying s3 call", extra={"kv": {"what": what, "attempt": attempt, "reason": reason}})
            time.sleep(delay)
        log.warning("s3 unavailable", extra={"kv": {"what": what, "where": self.where, "reason": reason}})
        raise StorageUnavailable(f"{what}: {self.where} failed after {attempt} attempts: {reason}; try again later")

    def _refused(self, what: str, code: str, status: int) -> StorageUnavailable:
        if code in AUTH or status in (401, 403):
            hint = "check the shard's credentials and the bucket policy (credentials not shown)"
        elif code == "NoSuchBucket":
            hint = "create the bucket or fix 'bucket' in the shard's table"
        else:
            hint = "see the service's logs"
        return StorageUnavailable(f"{what}: {self.where} refused the request ({status} {code}): {hint}")

    # -- the verbs --------------------------------------------------------------------------

    def _put(self, name: str, reader: VerifyingReader) -> bool:
        key, what = self._key(name), f"storing chunk {label(name)}"
        meta: dict[str, Any] = {"Metadata": {META_SHA256: reader.expected}, **self._extra}
        if reader.size <= self.options.part_size:
            body = _fill(reader, reader.size + 1)  # one more than declared: the read that verifies is b""
            return self._create(what, self._client.put_object, Key=key, Body=body, ContentLength=len(body), **meta)
        upload = self._call(what, self._client.create_multipart_upload, Key=key, **meta)["UploadId"]
        try:
            return self._upload_parts(what, key, upload, reader)
        except BaseException:
            self._abort(key, upload)
            raise

    def _upload_parts(self, what: str, key: str, upload: str, reader: VerifyingReader) -> bool:
        parts: list[dict[str, Any]] = []
        while not reader.verified:
            body = _fill(reader, self.options.part_size)
            if body:
                number = len(parts) + 1
                answer = self._call(
                    what,
                    self._client.upload_part,
                    Key=key,
                    UploadId=upload,
                    PartNumber=number,
                    Body=body,
                    ContentLength=len(body),
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        done = {"Parts": parts}
        if self._create(what, self._client.complete_multipart_upload, Key=key, UploadId=upload, MultipartUpload=done):
            return True
        self._abort(key, upload)
        return False

    def _create(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> bool:
        """Write with ``If-None-Match: *``; False if the key already exists (S3 answers 412)."""
        try:
            self._call(what, fn, expect=("412", "PreconditionFailed"), IfNoneMatch="*", **kwargs)
        except ClientError:
            return False
        return True

    def _abort(self, key: str, upload: str) -> None:
        """Drop an upload's parts; a failure is logged, not raised, so the original error is the one seen."""
        try:
            self._call(
                "aborting an upload",
                self._client.abort_multipart_upload,
                expect=NOT_FOUND + ("NoSuchUpload",),
                Key=key,
                UploadId=upload,
            )
        except (ClientError, StorageUnavailable) as exc:
            log.warning(
                "upload not aborted; cleanup will retry",
                extra={"kv": {"where": self.where, "key": key, "error": type(exc).__name__}},
            )

    def _head(self, name: str, what: str) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = self._call(what, self._client.head_object, expect=NOT_FOUND, Key=self._key(name))
        except ClientError as exc:
            raise _not_found(name) from exc
        return answer

    def _open(self, name: str, start: int, length: int | None) -> ChunkStream:
        what = f"reading chunk {label(name)}"
        size = int(self._head(name, what)["ContentLength"])
        if length is None:
            length = max(size - start, 0)
        if start > size or start + length > size:
            raise BadRange(f"{length} bytes from byte {start} are beyond the chunk's {size} bytes", size=size)
        if length == 0:
            return _BodyBlocks(None, 0, self.where)
        try:
            answer = self._call(
                what,
                self._client.get_object,
                expect=NOT_FOUND,
                Key=self._key(name),
                Range=f"bytes={start}-{start + length - 1}",
            )
        except ClientError as exc:
            raise _not_found(name) from exc
        return _BodyBlocks(answer["Body"], length, self.where)

    def _stat(self, name: str) -> ChunkStat:
        head = self._head(name, f"looking up chunk {label(name)}")
        stored = head.get("Metadata", {}).get(META_SHA256)
        if stored is not None and stored != check_name(name)[1]:
            log.warning("object metadata names another hash", extra={"kv": {"where": self.where, "chunk": name}})
        return ChunkStat(size=int(head["ContentLength"]), mtime=head["LastModified"].timestamp())

    def _delete(self, name: str) -> None:
        # S3 deletes are silent about missing keys; the HEAD gives the contract's ChunkNotFound.
        what = f"deleting chunk {label(name)}"
        self._head(name, what)
        self._call(what, self._client.delete_object, Key=self._key(name))

    def _quarantine(self, name: str) -> None:
        """Move the chunk to ``<prefix><shard>/quarantine/<file id>/`` for an administrator to inspect."""
        what = f"quarantining chunk {label(name)}"
        try:
            self._call(
                what,
                self._client.copy_object,
                expect=NOT_FOUND,
                Key=f"{self.base}quarantine/{name}.{int(time.time())}",
                CopySource={"Bucket": self.bucket, "Key": self._key(name)},
            )
        except ClientError as exc:
            raise _not_found(name) from exc
        self._call(what, self._client.delete_object, Key=self._key(name))

    def _list(self) -> Iterator[str]:
        for key in self._keys(self.base):
            rest = key[len(self.base) :]
            if rest.count("/") == 1:
                yield rest

    def _list_file(self, file_id: str) -> Iterator[str]:
        for key in self._keys(f"{self.base}{file_id}/"):
            yield key[len(self.base) :]

    def _delete_file(self, file_id: str) -> int:
        return self._delete_keys(f"deleting the chunks of file {file_id}", list(self._keys(f"{self.base}{file_id}/")))

    def _delete_quarantined(self, file_id: str) -> int:
        keys = list(self._keys(f"{self.base}quarantine/{file_id}/"))
        return self._delete_keys(f"deleting the quarantined chunks of file {file_id}", keys)

    def _delete_keys(self, what: str, keys: list[str]) -> int:
        """Delete *keys* with ``DeleteObjects``, 1,000 a call; any key the service could not delete fails it.

        A service that refuses the bulk call itself (some S3-compatible ones want a
        Content-MD5 that botocore no longer sends) gets one ``DeleteObject`` a key.
        """
        for start in range(0, len(keys), DELETE_BATCH):
            chunk = keys[start : start + DELETE_BATCH]
            batch = {"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            try:
                answer = self._call(what, self._client.delete_objects, expect=BULK_REFUSED, Delete=batch)
            except ClientError:
                for key in chunk:
                    self._call(what, self._client.delete_object, Key=key)
                continue
            errors = answer.get("Errors", [])
            if errors:
                codes = sorted({str(e.get("Code", "")) for e in errors})
                raise StorageUnavailable(
                    f"{what}: {self.where} refused to delete {len(errors)} object(s) ({', '.join(codes)}); "
                    "check that the credentials may delete objects"
                )
        return len(keys)

    def _file_sizes(self, file_id: str) -> dict[str, int]:
        """Take the sizes from the listing: one request per 1,000 chunks, not one per chunk."""
        return {key[len(self.base) :]: size for key, size in self._sized_keys(f"{self.base}{file_id}/")}

    def _keys(self, prefix: str) -> Iterator[str]:
        for key, _ in self._sized_keys(prefix):
            yield key

    def _sized_keys(self, prefix: str) -> Iterator[tuple[str, int]]:
        token: dict[str, Any] = {}
        while True:
            page = self._call("listing chunks", self._client.list_objects_v2, Prefix=prefix, **token)
            for item in page.get("Contents", []):
                yield str(item["Key"]), int(item["Size"])
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def volume(self) -> str:
        return f"s3:{self.options.endpoint_url or 'aws'}/{self.bucket}"

    def cleanup(self, older_than: float) -> int:
        """Abort multipart uploads under this shard started at least *older_than* seconds ago (a crash's)."""
        limit, removed = time.time() - older_than, 0
        page = self._call("listing uploads", self._client.list_multipart_uploads, Prefix=self.base)
        for upload in page.get("Uploads", []):
            if upload["Initiated"].timestamp() <= limit:
                self._abort(upload["Key"], upload["UploadId"])
                removed += 1
        if removed:
            log.info("aborted stale uploads", extra={"kv": {"where": self.where, "count": removed}})
        return removed


def _make_client(options: S3Options) -> Any:
    """Return a boto3 S3 client with retries off (ours are the only ones) and short timeouts."""
    config = Config(
        region_name=options.region or None,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "max_attempts": 1},
        max_pool_connections=32,
        s3=cast(Any, {"addressing_style": options.addressing_style}) if options.addressing_style else None,
        # S3-compatible services differ on the newer default CRC checksums; ours is the SHA-256 we verify.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # SECURITY: the keys go to the session and nowhere else; empty means the standard AWS chain.
    session = boto3.session.Session(
        aws_access_key_id=options.access_key_id or None, aws_secret_access_key=options.secret_access_key or None
    )
    return session.client("s3", endpoint_url=options.endpoint_url or None, config=config)


def _describe(options: S3Options) -> str:
    """Name the bucket and service for messages and logs.

    SECURITY: only scheme, host and port of the endpoint, never a userinfo part or query string.
    """
    if not options.endpoint_url:
        return f"S3 bucket {options.bucket!r}"
    endpoint = urlsplit(options.endpoint_url)
    port = f":{endpoint.port}" if endpoint.port else ""
    return f"S3 bucket {options.bucket!r} at {endpoint.scheme}://{endpoint.hostname}{port}"


def _fill(reader: VerifyingReader, limit: int) -> bytes:
    """Read up to *limit* bytes: fewer only when the reader has returned b"" (and so verified the chunk)."""
    blocks: list[bytes] = []
    got = 0
    while got < limit and (block := reader.read(min(BLOCK_SIZE, limit - got))):
        blocks.append(block)
        got += len(block)
    if got < limit:
        assert reader.verified
    return b"".join(blocks)


def _not_found(name: str) -> ChunkNotFound:
    return ChunkNotFound(
        f"chunk {label(name)}… is not stored on this fileserver: ask the server for another fileserver holding it"
    )
