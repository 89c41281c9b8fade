"""gcp-storage-emulator as a subprocess on 127.0.0.1, for the GCS backend's tests.

It runs ``--in-memory`` (otherwise it writes ``./.cloudstorage`` in the working
directory), in its own process group, logging to a file in a temp dir. Being in
memory, it forgets every bucket and object when stopped: :meth:`GcsEmulator.start`
after :meth:`GcsEmulator.stop` brings it back on the same port but empty, so a test
that restarts it must recreate its bucket. Its listen backlog is 5: keep test
concurrency modest. It does not enforce ``ifGenerationMatch=0``.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[import-untyped]

from coffer.fileserver.storage.base import is_chunk_name
from coffer.fileserver.storage.gcs import GcsBackend, GcsOptions

from .process import EmulatorMissing, EmulatorProcess, Store

EMULATOR = Path(sys.executable).parent / "gcp-storage-emulator"


class GcsEmulator(EmulatorProcess):
    """One in-memory GCS emulator; ``start()`` and ``stop()`` may be called again and again (data is lost)."""

    name = "gcs"
    probe = "/storage/v1/b"

    def start(self, timeout: float = 20.0) -> None:
        if not EMULATOR.exists():
            raise EmulatorMissing("gcp-storage-emulator is not installed: pip install gcp-storage-emulator")
        super().start(timeout)

    def command(self) -> list[str]:
        return [str(EMULATOR), "start", "--host", "127.0.0.1", "--port", str(self.port), "--in-memory", "--quiet"]

    def client(self) -> storage.Client:
        return storage.Client(
            project="coffer-emulator",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.endpoint},
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(name, retry=None, timeout=5)


def make_gcs_store(emulator: GcsEmulator, tmp_path: Path, *, chunk_size: int = 8 << 20) -> Store:
    """Return a backend on a fresh bucket, with a probe for everything in it that is not a chunk.

    GCS has no API to list unfinished resumable upload sessions (they are invisible and
    expire after a week), so the probe can only see objects.
    """
    bucket = f"coffer-{secrets.token_hex(6)}"
    emulator.create_bucket(bucket)
    options = GcsOptions(bucket=bucket, endpoint=emulator.endpoint, chunk_size=chunk_size, timeout=10.0)
    backend = GcsBackend.from_options(options, shard="test", data_dir=tmp_path)
    return Store(backend, lambda: leftovers(emulator, bucket))


def leftovers(emulator: GcsEmulator, bucket: str) -> list[str]:
    """List the objects in *bucket* that are not chunks at ``coffer/test/<file id>/<hash>``."""
    found = []
    for blob in emulator.client().list_blobs(bucket, retry=None, timeout=5):
        parts = blob.name.split("/")
        if not (len(parts) == 4 and parts[:2] == ["coffer", "test"] and is_chunk_name("/".join(parts[2:]))):
            found.append(blob.name)
    return sorted(found)
