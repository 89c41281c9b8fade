"""Requests per second of the server's control plane: heartbeats, ticket issue, file create.

The server runs as in :mod:`bench.coffer_net`. Another process (this module run
as ``python -m bench.control_plane SPEC.json``) sends one kind of request from
``threads`` threads, each on its own keep-alive connection, for ``seconds``
seconds or ``max_requests`` requests, whichever comes first, and reports what it
got. Each request is what the real sender makes:

- ``heartbeat``: a cluster-signed heartbeat (fresh nonce, Ed25519) from one of
  ``threads`` fileservers registered for the purpose, built by the fileserver's
  own code;
- ``ticket``: ``POST /api/files/{id}/tickets {"op": "put"}`` for a pending upload;
- ``file_create``: ``POST /api/files`` for a one-chunk file, as the uploader sends it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from coffer.client.api import ServerClient
from coffer.fileserver import identity, reports
from coffer.fileserver.agent import heartbeats as agent
from coffer.fileserver.settings import load_settings
from coffer.fileserver.shards import Shards
from coffer.format.keys import UserKeys, new_file_key, seal_file_key
from coffer.format.sizes import ciphertext_size
from coffer.protocol import routes
from coffer.protocol.encoding import b64encode

from .coffer_net import CofferNet, clean_env
from .stats import latency

ENDPOINTS = ("heartbeat", "ticket", "file_create")
Sender = Callable[[httpx.Client], httpx.Response]
PASSWORD = "control-password-1"


def _file_body() -> dict[str, Any]:
    sealed = seal_file_key(UserKeys.generate().public, new_file_key())
    return {
        "shard": "default",
        "size": ciphertext_size(1_000_000),
        "chunk_count": 1,
        "chunk_size": ciphertext_size(1_000_000),
        "sealed_key": b64encode(sealed),
        "metadata": b64encode(os.urandom(200)),
    }


def _heartbeat_senders(spec: dict[str, Any]) -> list[Sender]:
    """Register one fileserver identity per thread; return a function per thread that sends its beat."""
    senders: list[Sender] = []
    for i in range(spec["threads"]):
        data_dir = Path(spec["work_dir"]) / f"fs{i}"
        env = {
            "COFFER_FS_DATA_DIR": str(data_dir),
            "COFFER_FS_BIND": f"127.0.0.1:{20000 + i}",
            "COFFER_FS_PUBLIC_URL": f"http://127.0.0.1:{20000 + i}",
        }
        settings = load_settings(Path(spec["cluster_config"]), environ=env)
        me = identity.load_or_create(data_dir)
        shards = list(Shards.open(settings))
        with agent.make_client(settings) as client:
            agent.post_signed(
                client,
                settings,
                me,
                "register",
                routes.REGISTER,
                reports.registration_body(settings, me, shards),
                time.time(),
            )

        def send(client: httpx.Client, settings: Any = settings, me: Any = me, shards: Any = shards) -> httpx.Response:
            body = reports.heartbeat_body(shards, active_transfers=0, bytes_per_s=0, chunk_count=0, corrupt=[])
            signed = reports.signed(settings, me, "heartbeat", body, time.time())
            return client.post(routes.HEARTBEAT, json=signed)

        senders.append(send)
    return senders


def _user_senders(spec: dict[str, Any]) -> list[Sender]:
    senders: list[Sender] = []
    for i in range(spec["threads"]):
        headers = {"Authorization": f"Bearer {spec['tokens'][i % len(spec['tokens'])]}"}
        if spec["endpoint"] == "ticket":
            path, body = routes.file_tickets(spec["file_ids"][i]), {"op": "put"}
        else:
            path, body = routes.FILES, _file_body()

        def send(client: httpx.Client, path: str = path, body: Any = body, headers: Any = headers) -> httpx.Response:
            return client.post(path, json=body, headers=headers)

        senders.append(send)
    return senders


def drive(spec: dict[str, Any]) -> dict[str, Any]:
    """Send the spec's requests from its threads until its time or count runs out; return what came back."""
    senders = _heartbeat_senders(spec) if spec["endpoint"] == "heartbeat" else _user_senders(spec)
    seconds: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    budget = [spec["max_requests"]]
    deadline = time.monotonic() + spec["seconds"]

    def loop(send: Callable[[httpx.Client], httpx.Response]) -> None:
        with httpx.Client(base_url=spec["server"], timeout=10.0, limits=httpx.Limits(keepalive_expiry=1.0)) as client:
            while time.monotonic() < deadline:
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                started = time.perf_counter()
                try:
                    key = str(send(client).status_code)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                took = time.perf_counter() - started
                with lock:
                    statuses[key] = statuses.get(key, 0) + 1
                    if key.startswith("2"):
                        seconds.append(took)

    threads = [threading.Thread(target=loop, args=(s,)) for s in senders]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    total = sum(statuses.values())
    return {
        "requests": total,
        "seconds": round(wall, 2),
        "req_s": round(len(seconds) / wall, 1) if wall else 0.0,
        "errors": total - len(seconds),
        "statuses": statuses,
        "latency": latency(seconds),
    }


def prepare(net: CofferNet, threads: int, prefix: str = "cp") -> tuple[list[str], list[str]]:
    """Make the users and the pending uploads the senders need; return their tokens and one file id per thread."""
    tokens, file_ids = [], []
    for i in range(min(threads, 4)):
        net.create_user(f"{prefix}{i}", PASSWORD)
        with ServerClient(net.url) as api:
            tokens.append(api.login(f"{prefix}{i}", PASSWORD).token)
    for i in range(threads):
        with ServerClient(net.url, tokens[i % len(tokens)]) as api:
            file_ids.append(api.request("POST", routes.FILES, _file_body())["id"])
    return tokens, file_ids


def load(
    net: CofferNet,
    work: Path,
    endpoint: str,
    threads: int,
    seconds: float,
    max_requests: int,
    prepared: tuple[list[str], list[str]],
) -> dict[str, Any]:
    """Drive *endpoint* of *net* from another process (its files under *work*); return what it measured."""
    tokens, file_ids = prepared
    work.mkdir(parents=True, exist_ok=True)
    spec = {
        "server": net.url,
        "endpoint": endpoint,
        "threads": threads,
        "seconds": seconds,
        "max_requests": max_requests,
        "tokens": tokens,
        "file_ids": file_ids,
        "cluster_config": str(net.root / "cluster-bench.toml"),
        "work_dir": str(work / endpoint),
    }
    path = work / f"{endpoint}.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "bench.control_plane", str(path)],
        env=clean_env(),
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {endpoint} load failed: {done.stderr[-1500:]}")
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def run(
    root: Path, engine: str, threads: int, seconds: float, max_requests: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Start a network on *engine*, drive each endpoint from another process in turn; return the figures."""
    net = CofferNet.start(root / "net", engine)
    results: dict[str, Any] = {"engine": engine, "threads": threads, "seconds": seconds, "max_requests": max_requests}
    try:
        prepared = prepare(net, threads)
        for endpoint in ENDPOINTS:
            results[endpoint] = figures = load(net, root, endpoint, threads, seconds, max_requests, prepared)
            log(
                f"  {endpoint:<12} {figures['req_s']:8.1f} req/s  p99 {figures['latency']['p99_ms']} ms  "
                f"errors {figures['errors']}"
            )
    finally:
        net.stop()
    return results


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    json.dump(drive(spec), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
