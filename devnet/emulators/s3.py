"""An S3 emulator for tests: moto's standalone server on a free 127.0.0.1 port, as a subprocess.

moto checks ``If-None-Match: *`` and then writes, without a lock, in a threaded
server: two concurrent creates of one key can both succeed, which AWS never allows
(its conditional writes are atomic). So by default the server is moto's own
``moto_server`` entry point run with ``threaded=False``: requests are served one at a
time, the check and the write become atomic as on AWS, and the create-only tests
prove what they claim. ``serial=False`` runs the stock threaded ``moto_server``.

The server runs in its own process group with its log in a temp directory, so a
test can stop it (an outage: connections refused) and start it again on the same
port. moto keeps everything in memory, so a restart empties it: buckets must be
created again (``MotoEmulator.create_bucket``).

``make_s3_store`` returns a contract-suite :class:`Store` on a fresh bucket per test;
its leftovers probe lists every object that is not a chunk and every multipart
upload still in progress.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from coffer.fileserver.storage.base import is_chunk_name
from coffer.fileserver.storage.s3 import S3Backend, S3Options

from .process import EmulatorProcess, Store

ACCESS_KEY = "AKIATESTCOFFER000001"
SECRET_KEY = "coffer-test-secret-0123456789abcdefghijk"  # SECURITY: a test value; tests check it never leaks
REGION = "us-east-1"


_SERIAL = (
    "import sys, moto.server as s; run = s.run_simple; "
    "s.run_simple = lambda *a, **k: run(*a, **(k | {'threaded': False})); s.main(sys.argv[1:])"
)


class MotoEmulator(EmulatorProcess):
    """moto_server on 127.0.0.1:*port*; ``stop()`` and ``start()`` keep the port (not the data)."""

    name = "moto"
    probe = "/moto-api/"

    def __init__(self, port: int | None = None, *, serial: bool = True):
        super().__init__(port)
        self.serial = serial

    def command(self) -> list[str]:
        server = [sys.executable, "-c", _SERIAL] if self.serial else [str(Path(sys.executable).parent / "moto_server")]
        return [*server, "-H", "127.0.0.1", "-p", str(self.port)]

    def client(self) -> Any:
        """Return an admin client (with botocore's retries: setup must not flake)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"coffer-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def options(self, bucket: str, **overrides: Any) -> S3Options:
        values: dict[str, Any] = {
            "bucket": bucket,
            "endpoint_url": self.endpoint,
            "region": REGION,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            "addressing_style": "path",
            "part_size": 5 << 20,
        }
        return S3Options(**(values | overrides))


def leftovers(emulator: MotoEmulator, bucket: str) -> list[str]:
    """Return every object in *bucket* that is not a chunk ``<prefix>/<shard>/<file id>/<hash>``, and every
    multipart upload in progress."""
    client = emulator.client()
    found: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key: str = item["Key"]
            parts = key.split("/")
            if not (len(parts) == 4 and is_chunk_name("/".join(parts[2:]))):
                found.append(key)
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    found += [f"upload:{u['Key']}" for u in uploads]
    return sorted(found)


def make_s3_store(emulator: MotoEmulator, tmp_path: Path, **overrides: Any) -> Store:
    """Return a Store on a fresh bucket of *emulator*; *tmp_path* is unused (S3 needs no local files)."""

    bucket = emulator.create_bucket()
    backend = S3Backend(emulator.options(bucket, **overrides), shard="default")
    return Store(backend, lambda: leftovers(emulator, bucket))
