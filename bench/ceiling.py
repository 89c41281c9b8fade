"""The machine's limit: nginx taking a PUT and serving a GET of the same bytes, driven by curl.

nginx (the Debian package, with its WebDAV module) runs from a config of its own
under the run's temp directory, on 127.0.0.1. curl PUTs the whole file in one
request and GETs it back into a file on the same disk, as ``coffer download``
writes its output. Nothing is encrypted, hashed or fsynced: this is the cost of
moving bytes over HTTP on loopback. Next to it, :func:`crypto_cost` is the cost of
what Coffer adds, sealing and hashing the same bytes in one thread.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from coffer.format.chunks import chunk_hash, open_chunk, seal_chunk
from coffer.format.keys import new_file_key
from coffer.format.sizes import DEFAULT_CHUNK_SIZE, chunk_count

from .procs import Measured, Service, free_port, http_ok, run_measured

NGINX_CONF = """
user root;
worker_processes 2;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ text/html html; text/javascript js; }}
    default_type application/octet-stream;
    client_body_temp_path {root}/body;
    client_max_body_size 0;
    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location / {{ dav_methods PUT DELETE; create_full_put_path on; }}
    }}
}}
"""

CURL = ["curl", "-sS", "--no-progress-meter", "--fail", "--http1.1"]


@dataclass
class Nginx:
    """An nginx of our own: its service, its address and the directory it serves."""

    service: Service
    url: str
    www: Path

    @classmethod
    def start(cls, root: Path) -> Nginx:
        """Write a config under *root* and start nginx in the foreground on a free port."""
        port = free_port()
        www = root / "www"
        www.mkdir(parents=True)
        (root / "body").mkdir()
        conf = root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(root=root, port=port))
        args = ["nginx", "-c", str(conf), "-p", str(root), "-e", str(root / "error.log"), "-g", "daemon off;"]
        service = Service("nginx", args, root / "nginx.out").start()
        url = f"http://127.0.0.1:{port}"
        (www / "ping").write_text("ok")
        service.wait_ready(lambda: http_ok(f"{url}/ping"), 10)
        return cls(service, url, www)

    def stop(self) -> None:
        self.service.stop()

    def put(self, source: Path, name: str) -> Measured:
        """PUT *source* whole, one request; return curl's time and peak RSS."""
        return run_measured([*CURL, "-T", str(source), "-o", os.devnull, f"{self.url}/{name}"])

    def get(self, name: str, dest: Path) -> Measured:
        """GET the file named *name* into *dest*; return curl's time and peak RSS."""
        return run_measured([*CURL, "-o", str(dest), f"{self.url}/{name}"])

    def forget(self, name: str) -> None:
        (self.www / name).unlink(missing_ok=True)


def crypto_cost(source: Path, chunk_size: int = DEFAULT_CHUNK_SIZE) -> dict[str, float]:
    """Return the seconds one thread spends sealing and hashing *source* (up) and verifying and opening it (down).

    Up does what the uploader does per chunk: hash the plaintext (the whole-file
    SHA-256), seal the chunk (AES-256-GCM), hash the ciphertext (its name). Down
    does what the downloader does: hash the ciphertext, open it, hash the plaintext.
    Reading the source (from the page cache) is counted in both.
    """
    key, file_id = new_file_key(), "00000000-0000-4000-8000-000000000000"
    size = source.stat().st_size
    count = chunk_count(size, chunk_size)
    up = down = 0.0
    whole_up, whole_down = hashlib.sha256(), hashlib.sha256()
    with open(source, "rb", buffering=0) as f:
        for index in range(count):
            started = time.perf_counter()
            plain = f.read(chunk_size)
            whole_up.update(plain)
            blob = seal_chunk(key, file_id, index, index == count - 1, plain)
            chunk_hash(blob)
            middle = time.perf_counter()
            chunk_hash(blob)
            opened = open_chunk(key, file_id, index, index == count - 1, blob)
            whole_down.update(opened)
            down += time.perf_counter() - middle
            up += middle - started
    assert whole_up.digest() == whole_down.digest()
    return {"up_s": up, "down_s": down}


def sha256_rate(seconds: float = 0.5, block: int = DEFAULT_CHUNK_SIZE) -> float:
    """Return the MB/s one thread hashes with SHA-256 here, over one reused chunk-sized buffer.

    Every uploaded byte is hashed three times (the plaintext for the sealed metadata,
    the sealed chunk for its name, the fileserver's check) and every downloaded byte
    once (the plaintext), so this rate sets a floor under Coffer's CPU per GB that
    no code of ours can lower; the report states it beside the targets.
    """
    data = bytearray(os.urandom(block))
    hashed, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        hashlib.sha256(data).digest()
        hashed += block
    return hashed / elapsed / 1e6


def tools_missing() -> list[str]:
    return [tool for tool in ("nginx", "curl") if shutil.which(tool) is None]
