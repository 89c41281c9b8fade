"""The S3 backend's own promises, against moto's server (the shared contract runs in test_fs_storage.py)."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from coffer.fileserver.errors import HashMismatch, SizeMismatch, StorageUnavailable
from coffer.fileserver.storage.s3 import S3Backend, S3Options
from coffer.protocol.settings import SettingsError, load
from tests.backends.s3_emulator import ACCESS_KEY, SECRET_KEY, MotoEmulator, make_s3_store
from tests.fileserver.fs_helpers import FILE, Store, stored_chunk
from tests.fileserver.test_fs_storage import Failing, put

PART = 5 << 20
pytestmark = pytest.mark.slow


@pytest.fixture
def store(s3_emulator: MotoEmulator, tmp_path: Path) -> Store:  # noqa: F811
    return make_s3_store(s3_emulator, tmp_path, part_size=PART)


@pytest.fixture
def private_emulator() -> Iterator[MotoEmulator]:
    """An emulator of the test's own, which it may stop and start (moto forgets everything when stopped)."""
    emulator = MotoEmulator()
    emulator.start()
    yield emulator
    emulator.close()


def _head(store: Store, name: str) -> dict[str, Any]:
    backend = store.backend
    assert isinstance(backend, S3Backend)
    answer: dict[str, Any] = backend._client.head_object(Bucket=backend.bucket, Key=backend._key(name))
    return answer


# -- streaming and multipart -----------------------------------------------------------------------


def test_chunk_larger_than_one_part_goes_multipart_and_round_trips(store: Store) -> None:
    data, name = stored_chunk(2 * PART + 12345)
    assert put(store.backend, data, name) is True
    assert _head(store, name)["ETag"].endswith('-3"')  # three parts, committed as one object
    assert b"".join(store.backend.open(name)) == data
    start = PART - 10
    assert b"".join(store.backend.open(name, start, 20)) == data[start : start + 20]
    assert put(store.backend, data, name) is False
    assert store.leftovers() == []


def test_chunk_of_exactly_one_part_is_one_put(store: Store) -> None:
    data, name = stored_chunk(PART)
    assert put(store.backend, data, name) is True
    assert "-" not in _head(store, name)["ETag"]
    assert b"".join(store.backend.open(name)) == data


def test_chunk_of_exactly_two_parts_sends_no_empty_third(store: Store) -> None:
    data, name = stored_chunk(2 * PART)
    assert put(store.backend, data, name) is True
    assert _head(store, name)["ETag"].endswith('-2"')
    assert b"".join(store.backend.open(name)) == data


def test_key_layout_and_hash_metadata(store: Store) -> None:
    data, name = stored_chunk(100)
    put(store.backend, data, name)
    assert isinstance(store.backend, S3Backend)
    assert store.backend._key(name) == f"coffer/default/{name}"  # <prefix><shard>/<file id>/<hash>
    assert _head(store, name)["Metadata"] == {"sha256": name.split("/")[1]}


def test_interrupted_multipart_upload_leaves_no_object_and_no_parts(store: Store) -> None:
    data, name = stored_chunk(3 * PART)
    with pytest.raises(SizeMismatch, match="ConnectionResetError"):
        store.backend.put(name, Failing(data[: PART + 1000]), len(data))  # after part 1 was uploaded
    assert list(store.backend.list()) == [] and store.leftovers() == []


def test_multipart_with_a_wrong_hash_is_aborted_at_the_end(store: Store) -> None:
    data, _ = stored_chunk(PART + 1)
    wrong = stored_chunk(1, seed=3)[1]
    with pytest.raises(HashMismatch):
        store.backend.put(wrong, io.BytesIO(data), len(data))
    assert list(store.backend.list()) == [] and store.leftovers() == []


class _FailSecondPart:
    """A client that passes everything through but refuses the second part, as a failing service would."""

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def upload_part(self, **kw: Any) -> Any:
        if kw["PartNumber"] == 2:
            answer: Any = {"Error": {"Code": "InvalidArgument"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
            raise ClientError(answer, "UploadPart")
        return self._client.upload_part(**kw)


def test_service_failure_during_multipart_aborts_the_upload(store: Store) -> None:
    backend = store.backend
    assert isinstance(backend, S3Backend)
    backend._client = _FailSecondPart(backend._client)
    data, name = stored_chunk(2 * PART + 1)
    with pytest.raises(StorageUnavailable, match="refused the request"):
        put(backend, data, name)
    assert list(backend.list()) == [] and store.leftovers() == []


def test_concurrent_multipart_puts_of_one_chunk_create_it_once(store: Store) -> None:
    data, name = stored_chunk(PART + 100)
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        results.append(put(store.backend, data, name))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    assert b"".join(store.backend.open(name)) == data
    assert store.leftovers() == []


def test_encryption_and_storage_class_reach_the_object(s3_emulator: MotoEmulator, tmp_path: Path) -> None:  # noqa: F811
    store = make_s3_store(s3_emulator, tmp_path, server_side_encryption="AES256", storage_class="STANDARD_IA")
    for size in (10, PART + 1):
        data, name = stored_chunk(size, seed=size)
        put(store.backend, data, name)
        head = _head(store, name)
        assert head["ServerSideEncryption"] == "AES256" and head["StorageClass"] == "STANDARD_IA"


def test_cleanup_aborts_stale_uploads_only(store: Store) -> None:
    backend = store.backend
    assert isinstance(backend, S3Backend)
    backend._client.create_multipart_upload(Bucket=backend.bucket, Key=backend._key(stored_chunk(1)[1]))
    assert backend.cleanup(older_than=100 * 365 * 86400) == 0  # moto dates every upload 2010-11-10
    assert len(store.leftovers()) == 1
    assert backend.cleanup(older_than=0) == 1
    assert store.leftovers() == []


def test_quarantine_keeps_the_object_for_inspection(store: Store) -> None:
    data, name = stored_chunk(10)
    put(store.backend, data, name)
    store.backend.quarantine(name)
    assert list(store.backend.list()) == []
    [kept] = store.leftovers()
    assert kept.startswith(f"coffer/default/quarantine/{name}.")


class _NoBulkDelete:
    """A client whose service refuses DeleteObjects, as S3-compatible services that want a Content-MD5 do."""

    def __init__(self, client: Any):
        self._client = client
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_objects(self, **kw: Any) -> Any:
        self.refused += 1
        answer: Any = {"Error": {"Code": "MissingContentMD5"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
        raise ClientError(answer, "DeleteObjects")


def test_delete_file_falls_back_to_one_delete_a_key_where_bulk_delete_is_refused(store: Store) -> None:
    backend = store.backend
    assert isinstance(backend, S3Backend)
    for seed in range(3):
        put(backend, *stored_chunk(10, seed))
    backend._client = client = _NoBulkDelete(backend._client)
    assert backend.delete_file(FILE) == 3
    assert client.refused == 1 and list(backend.list()) == []


def test_delete_file_that_the_service_forbids_is_storage_unavailable(store: Store) -> None:
    backend = store.backend
    assert isinstance(backend, S3Backend)
    put(backend, *stored_chunk(10))

    class Forbidden(_NoBulkDelete):
        def delete_objects(self, **kw: Any) -> Any:
            answer: Any = {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
            raise ClientError(answer, "DeleteObjects")

    backend._client = Forbidden(backend._client)
    with pytest.raises(StorageUnavailable, match="refused the request .403 AccessDenied."):
        backend.delete_file(FILE)


def test_volume_names_endpoint_and_bucket(store: Store) -> None:
    assert isinstance(store.backend, S3Backend)
    assert store.backend.volume() == f"s3:{store.backend.options.endpoint_url}/{store.backend.bucket}"
    assert store.backend.free_bytes() is None


# -- outages, retries, errors ----------------------------------------------------------------------


def _no_secret(text: str) -> None:
    assert SECRET_KEY not in text and ACCESS_KEY not in text


def test_stopped_service_fails_fast_and_a_restarted_one_works_again(
    private_emulator: MotoEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = make_s3_store(private_emulator, tmp_path, part_size=PART)
    backend = store.backend
    assert isinstance(backend, S3Backend)
    data, name = stored_chunk(1000)
    put(backend, data, name)
    private_emulator.stop()
    big, big_name = stored_chunk(PART + 1)
    calls: list[Callable[[], object]] = [
        lambda: put(backend, data, stored_chunk(1000)[1]),
        lambda: put(backend, big, big_name),
        lambda: backend.open(name),
        lambda: backend.stat(name),
        lambda: list(backend.list()),
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert time.monotonic() - started < 5
        message = caught.value.message
        assert f"S3 bucket '{backend.bucket}' at http://127.0.0.1:{private_emulator.port}" in message
        assert "unreachable" in message
        _no_secret(message)
    assert SECRET_KEY not in caplog.text
    _no_secret("\n".join(r.getMessage() + str(getattr(r, "kv", "")) for r in caplog.records if "s3" in r.name))
    private_emulator.start()
    private_emulator.create_bucket(backend.bucket)  # moto forgot it
    assert put(backend, big, big_name) is True
    assert b"".join(backend.open(big_name)) == big


class _Flaky:
    """A client whose head_object fails *failures* times with *error*, then answers."""

    def __init__(self, failures: int, error: Exception):
        self.calls = 0
        self._failures = failures
        self._error = error

    def head_object(self, **kw: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self._failures:
            raise self._error
        return {"ContentLength": 5, "LastModified": _Now(), "Metadata": {}}


class _Now:
    def timestamp(self) -> float:
        return time.time()


def _backend(client: Any) -> S3Backend:
    options = S3Options(
        bucket="b", endpoint_url="http://127.0.0.1:9", access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY
    )
    return S3Backend(options, shard="default", client=client)


def _client_error(code: str, status: int) -> ClientError:
    message = f"denied for {ACCESS_KEY} signed with {SECRET_KEY}"  # what a chatty service might echo
    answer: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(answer, "HeadObject")


def test_throttling_is_retried_with_backoff() -> None:
    client = _Flaky(2, _client_error("SlowDown", 503))
    assert _backend(client).stat(stored_chunk(5)[1]).size == 5
    assert client.calls == 3


def test_persistent_throttling_gives_up_after_a_few_attempts() -> None:
    client = _Flaky(99, _client_error("SlowDown", 503))
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="after 4 attempts: it answered 503 SlowDown"):
        _backend(client).stat(stored_chunk(5)[1])
    assert client.calls == 4 and time.monotonic() - started < 3


def test_auth_failure_is_not_retried_and_names_no_credential() -> None:
    client = _Flaky(99, _client_error("InvalidAccessKeyId", 403))
    with pytest.raises(StorageUnavailable, match="refused the request .403 InvalidAccessKeyId.: check") as caught:
        _backend(client).stat(stored_chunk(5)[1])
    assert client.calls == 1
    _no_secret(caught.value.message)
    assert caught.value.__suppress_context__  # the SDK's error (and its message) is not chained


# -- options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ({}, "'bucket' is required"),
        ({"bucket": "b", "part_size": 1 << 20}, "'part_size' must be between"),
        ({"bucket": "b", "access_key_id": "x"}, "set both"),
        ({"bucket": "b", "server_side_encryption": "rot13"}, "'server_side_encryption' must be"),
        ({"bucket": "b", "addressing_style": "sideways"}, "'addressing_style' must be"),
    ],
)
def test_bad_options_are_refused_with_the_key_named(table: dict[str, Any], error: str) -> None:
    with pytest.raises(SettingsError, match=error):
        load(S3Options, table, env_prefix="", source="t", environ={})


def test_options_and_backend_repr_hide_the_secret() -> None:
    backend = _backend(object())
    _no_secret(repr(backend.options) + repr(backend))
    assert backend.options.part_size == 8 << 20 and backend.options.prefix == "coffer/"
