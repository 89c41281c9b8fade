"""The Azure Blob backend's own promises, against a real Azurite (the contract suite covers the rest)."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from coffer.fileserver.errors import ChunkNotFound, HashMismatch, SizeMismatch, StorageUnavailable
from coffer.fileserver.storage import BLOCK_SIZE
from coffer.fileserver.storage.azure import SHA256_KEY, AzureBackend, AzureOptions
from coffer.protocol.settings import SettingsError, load
from tests.backends.azure_emulator import ACCOUNT, ACCOUNT_KEY, AzureEmulator, make_azure_store
from tests.fileserver.fs_helpers import stored_chunk

pytestmark = pytest.mark.slow
MiB = 1 << 20


class Failing(io.RawIOBase):
    """A body whose connection drops after *good* bytes."""

    def __init__(self, good: bytes):
        self._data = io.BytesIO(good)

    def readinto(self, buffer: Any, /) -> int:
        got = self._data.readinto(buffer)
        if not got:
            raise ConnectionResetError("peer went away")
        return got


@pytest.fixture
def small_blocks(azure_emulator: AzureEmulator, tmp_path: Path) -> Any:
    """A store whose blocks are 1 MiB, so a few MiB already take the staged-block path."""
    return make_azure_store(azure_emulator, tmp_path, block_size=MiB)


def put(backend: AzureBackend, data: bytes, name: str) -> bool:
    return backend.put(name, io.BytesIO(data), len(data))


def _azure(store: Any) -> AzureBackend:
    backend = store.backend
    assert isinstance(backend, AzureBackend)
    return backend


def _blob(store: Any, name: str) -> Any:
    return _azure(store)._blob(name)


# -- uploads in blocks -------------------------------------------------------------------------------


def test_a_chunk_larger_than_one_block_is_committed_from_staged_blocks_and_reads_back(small_blocks: Any) -> None:
    data, name = stored_chunk(3 * MiB + MiB // 2)
    assert put(small_blocks.backend, data, name) is True
    committed, uncommitted = _blob(small_blocks, name).get_block_list("all")
    assert [b.size for b in committed] == [MiB, MiB, MiB, MiB // 2] and uncommitted == []
    assert _blob(small_blocks, name).get_blob_properties().metadata == {SHA256_KEY: name.split("/")[1]}
    assert b"".join(small_blocks.backend.open(name)) == data
    assert b"".join(small_blocks.backend.open(name, MiB - 3, MiB + 6)) == data[MiB - 3 : 2 * MiB + 3]
    assert small_blocks.leftovers() == []


def test_a_chunk_of_exactly_one_block_is_stored_whole(small_blocks: Any) -> None:
    data, name = stored_chunk(MiB)
    assert put(small_blocks.backend, data, name) is True
    assert small_blocks.backend.stat(name).size == MiB
    assert b"".join(small_blocks.backend.open(name)) == data


def test_a_chunk_smaller_than_one_block_is_a_single_put_with_its_hash(small_blocks: Any) -> None:
    data, name = stored_chunk(MiB - 1)
    assert put(small_blocks.backend, data, name) is True
    assert _blob(small_blocks, name).get_block_list("all") == ([], [])  # Put Blob: no staged blocks
    assert _blob(small_blocks, name).get_blob_properties().metadata == {SHA256_KEY: name.split("/")[1]}


def test_reupload_of_a_stored_multi_block_chunk_stages_nothing(small_blocks: Any) -> None:
    data, name = stored_chunk(2 * MiB + 5)
    assert put(small_blocks.backend, data, name) is True
    assert put(small_blocks.backend, data, name) is False
    assert small_blocks.leftovers() == []


def test_reupload_with_a_wrong_body_of_a_stored_chunk_is_still_refused(small_blocks: Any) -> None:
    data, name = stored_chunk(2 * MiB + 5)
    put(small_blocks.backend, data, name)
    with pytest.raises(HashMismatch):
        small_blocks.backend.put(name, io.BytesIO(b"x" * len(data)), len(data))
    assert b"".join(small_blocks.backend.open(name)) == data


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda data: Failing(data[: MiB + MiB // 2]), id="connection-drops-after-one-block"),
        pytest.param(lambda data: io.BytesIO(data[:-1] + b"!"), id="wrong-last-byte"),
    ],
)
def test_an_interrupted_block_upload_commits_nothing(small_blocks: Any, body: Callable[[bytes], Any]) -> None:
    """Nothing is committed; the staged blocks stay uncommitted, which Azure discards itself after a week."""
    data, name = stored_chunk(3 * MiB)
    with pytest.raises((SizeMismatch, HashMismatch)):
        small_blocks.backend.put(name, body(data), len(data))
    assert not small_blocks.backend.exists(name)
    assert list(small_blocks.backend.list()) == []
    leftover = small_blocks.leftovers()
    assert all("(uncommitted block" in entry and name in entry for entry in leftover)  # and nothing else
    assert put(small_blocks.backend, data, name) is True  # a retry stores it, and its commit drops the rest
    assert small_blocks.leftovers() == []
    assert b"".join(small_blocks.backend.open(name)) == data


def test_concurrent_puts_of_a_multi_block_chunk_create_it_exactly_once(small_blocks: Any) -> None:
    data, name = stored_chunk(2 * MiB + 17)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def run() -> None:
        barrier.wait()
        results.append(put(small_blocks.backend, data, name))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]
    assert list(small_blocks.backend.list()) == [name]
    assert b"".join(small_blocks.backend.open(name)) == data


def test_a_damaged_copy_is_replaced_and_a_blob_with_another_hash_is_not_served(small_blocks: Any) -> None:
    data, name = stored_chunk(1000)
    _blob(small_blocks, name).upload_blob(b"rot" + data[3:], metadata={SHA256_KEY: "0" * 64})
    with pytest.raises(ChunkNotFound):
        small_blocks.backend.stat(name)
    assert put(small_blocks.backend, data, name) is True
    assert b"".join(small_blocks.backend.open(name)) == data
    assert small_blocks.backend.stat(name).size == 1000


def test_list_skips_blobs_outside_the_chunk_layout(small_blocks: Any) -> None:
    data, name = stored_chunk(10)
    put(small_blocks.backend, data, name)
    container = small_blocks.backend._container
    file_id, chunk_hash = name.split("/")
    container.upload_blob(f"coffer/test/{file_id}/notes.txt", b"x")
    container.upload_blob(f"coffer/test/zz/{name}", b"x")
    container.upload_blob(f"coffer/test/{chunk_hash}", b"x")  # the layout before chunks belonged to files
    container.upload_blob(f"coffer/other-shard/{name}", b"x")
    assert list(small_blocks.backend.list()) == [name]
    assert list(small_blocks.backend.list_file(file_id)) == [name]


def test_volume_names_the_container_and_free_space_is_unknown(small_blocks: Any) -> None:
    backend: AzureBackend = small_blocks.backend
    assert backend.volume().endswith(f"/{ACCOUNT}/{backend._container.container_name}")
    assert backend.free_bytes() is None


# -- outages, retries and secrets ------------------------------------------------------------------------


def _outage_calls(backend: AzureBackend, data: bytes, name: str) -> dict[str, Callable[[], object]]:
    return {
        "put": lambda: put(backend, data, name),
        "open": lambda: backend.open(name),
        "stat": lambda: backend.stat(name),
        "exists": lambda: backend.exists(name),
        "delete": lambda: backend.delete(name),
        "list": lambda: list(backend.list()),
    }


def test_while_azurite_is_down_every_verb_fails_fast_and_nothing_is_acknowledged(
    azure_emulator: AzureEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_azure_store(azure_emulator, tmp_path, block_size=MiB)
    backend = _azure(store)
    stored, stored_name = stored_chunk(2000, seed=1)
    put(backend, stored, stored_name)
    data, name = stored_chunk(2 * MiB + 1)
    caplog.set_level(logging.DEBUG)
    azure_emulator.stop()
    try:
        for verb, call in _outage_calls(backend, data, name).items():
            started = time.monotonic()
            with pytest.raises(StorageUnavailable) as caught:
                call()
            assert time.monotonic() - started < 5, verb
            message = caught.value.message
            assert f"Azure Blob Storage at http://127.0.0.1:{azure_emulator.port}" in message, verb
            assert "after 4 attempts" in message and ACCOUNT_KEY not in message
    finally:
        azure_emulator.start()
    assert not backend.exists(name)  # the put during the outage was not stored
    assert put(backend, data, name) is True  # the same backend object works again
    assert b"".join(backend.open(stored_name)) == stored
    assert ACCOUNT_KEY not in caplog.text


def _sas_backend(emulator: AzureEmulator, container: str, sas: str) -> AzureBackend:
    options = AzureOptions(container=container, account_url=emulator.account_url, sas_token=sas, block_size=MiB)
    return AzureBackend.from_options(options, shard="test", data_dir=Path("."))


def test_a_sas_token_works_and_never_reaches_a_message_or_a_log(
    azure_emulator: AzureEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    container = _azure(make_azure_store(azure_emulator, tmp_path))._container.container_name
    permissions = ContainerSasPermissions(read=True, write=True, delete=True, list=True, create=True)
    expiry = datetime.now(UTC) + timedelta(hours=1)
    sas = generate_container_sas(ACCOUNT, container, account_key=ACCOUNT_KEY, permission=permissions, expiry=expiry)
    signature = dict(part.split("=", 1) for part in sas.split("&"))["sig"]
    caplog.set_level(logging.DEBUG)
    backend = _sas_backend(azure_emulator, container, sas)
    data, name = stored_chunk(2 * MiB + 3)
    assert put(backend, data, name) is True and b"".join(backend.open(name)) == data
    messages: list[str] = []
    wrong_first = "B" if signature.startswith("A") else "A"  # one signature in 64 already starts with "A"
    forged = _sas_backend(azure_emulator, container, sas.replace(signature, wrong_first + signature[1:]))
    with pytest.raises(StorageUnavailable, match="refused our credential") as caught:
        forged.stat(name)
    messages.append(caught.value.message)
    with stopped_emulator(azure_emulator):
        for call in _outage_calls(backend, data, name).values():
            with pytest.raises(StorageUnavailable) as caught:
                call()
            messages.append(caught.value.message)
    for text in [*messages, caplog.text, repr(backend), repr(backend._container.credential)]:
        assert signature not in text and ACCOUNT_KEY not in text


class stopped_emulator:
    """``with stopped_emulator(e):`` runs the block while Azurite is down, and starts it again after."""

    def __init__(self, emulator: AzureEmulator):
        self.emulator = emulator

    def __enter__(self) -> None:
        self.emulator.stop()

    def __exit__(self, *exc: object) -> None:
        self.emulator.start()


def test_a_wrong_account_key_is_reported_as_an_authentication_failure_without_the_key(
    azure_emulator: AzureEmulator, tmp_path: Path
) -> None:
    container = _azure(make_azure_store(azure_emulator, tmp_path))._container.container_name
    wrong = "A" * 86 + "=="
    options = AzureOptions(container=container, account_url=azure_emulator.account_url, account_key=wrong)
    backend = AzureBackend.from_options(options, shard="test", data_dir=tmp_path)
    with pytest.raises(StorageUnavailable, match=r"refused our credential \(HTTP 403") as caught:
        backend.stat(stored_chunk(1)[1])
    assert wrong not in caught.value.message and "account key or SAS token" in caught.value.message


def test_a_missing_container_is_named_in_the_error(azure_emulator: AzureEmulator, tmp_path: Path) -> None:
    options = AzureOptions(container="no-such-container", connection_string=azure_emulator.connection_string)
    backend = AzureBackend.from_options(options, shard="test", data_dir=tmp_path)
    with pytest.raises(StorageUnavailable, match="'no-such-container'.* has no such container"):
        put(backend, *stored_chunk(10))


def _busy(status: int) -> HttpResponseError:
    exc = HttpResponseError(message="busy")
    exc.status_code = status
    return exc


def test_throttling_and_connection_errors_are_retried_then_reported(small_blocks: Any) -> None:
    backend: AzureBackend = small_blocks.backend
    failures: list[Exception] = [_busy(503), ServiceRequestError("refused"), _busy(429)]

    def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    assert backend._call("testing", flaky) == "ok"

    def always_busy() -> str:
        raise _busy(503)

    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=r"\(HTTP 503, throttled\) after 4 attempts"):
        backend._call("testing", always_busy)
    assert time.monotonic() - started < 2


# -- options ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ({"container": "c-1"}, "exactly one credential"),
        ({"container": "c-1", "connection_string": "secret-cs", "account_key": "secret-key"}, "exactly one"),
        ({"container": "c-1", "account_key": "secret-key", "sas_token": "secret-sas"}, "exactly one"),
        ({"container": "c-1", "account_key": "secret-key"}, "'account_url' must be"),
        ({"container": "c-1", "connection_string": "secret-cs", "account_url": "https://a"}, "not with"),
        ({"container": "c-1", "account_url": "https://a/?sig=secret-sig", "sas_token": "secret-sas"}, "query"),
        ({"container": "C_1", "connection_string": "secret-cs"}, "'container' must be"),
        ({"container": "c-1", "connection_string": "secret-cs", "block_size": 1000}, "'block_size'"),
    ],
)
def test_bad_options_are_refused_without_echoing_a_secret(table: dict[str, Any], complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint) as caught:
        load(AzureOptions, table, env_prefix="", source="shard 'a'", environ={})
    assert "secret" not in str(caught.value)


def test_options_never_show_their_secrets() -> None:
    options = AzureOptions(container="c-1", account_url="https://a.blob.core.windows.net", sas_token="secret-sas")
    assert "secret" not in repr(options)
    assert AzureOptions(container="c-1", connection_string="secret-cs").block_size == 8 * MiB == 8 * BLOCK_SIZE
