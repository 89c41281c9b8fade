"""One process of simulated users: each logs in, uploads a file, downloads it, checks it and deletes it.

Run by :mod:`bench.load` as ``python -m bench.load_worker SPEC.json``; it writes
what each user did, every chunk request's latency and its own peak RSS to the
file the spec names. Users run as threads, at most ``concurrency`` at once, each
with the client library's code (the same as ``coffer upload`` and ``coffer download``),
``in_flight`` chunks at once (the library's default unless the spec says). Argon2id at
login needs 64 MiB and a core for a tenth of a second, so at most two users of a
process derive their keys at once: the simulator's machine has two cores, a real user
has their own.

When ``concurrency`` covers every user of the process, the users move truly at once:
all log in, then every upload starts at the same moment, then every download. Between
phases the process prints ``ready PHASE`` on stdout and waits for ``go`` on stdin, so
:mod:`bench.load` can start a phase in every simulator together. Each user sends from
its own loopback address (``addresses``: one of 127.1.x.y per user), as real users
come from many addresses and the fileservers' per-address limits count them.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from coffer.client.api import LIMITS as API_LIMITS
from coffer.client.coffer import Coffer
from coffer.transfer.http import KEEPALIVE_EXPIRY

from .datafiles import sha256_of

LOGINS_AT_ONCE = 2
ROOT = Path(__file__).resolve().parents[1]


class _TimedStream(httpx.SyncByteStream):
    """A response body that reports, when closed, how long its request took from first byte sent."""

    def __init__(self, inner: httpx.SyncByteStream, done: Any):
        self._inner = inner
        self._done = done

    def __iter__(self) -> Any:
        yield from self._inner

    def close(self) -> None:
        self._inner.close()
        self._done()


@dataclass
class ChunkTimes:
    """Latency of every chunk request, by method, from sending it to closing its response."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, status: int, seconds: float) -> None:
        with self._lock:
            key = f"{method} {status}"
            self.statuses[key] = self.statuses.get(key, 0) + 1
            if 200 <= status < 300:
                self.seconds.setdefault(method, []).append(seconds)


class TimingTransport(httpx.BaseTransport):
    """The chunk client's transport (same limits as its own), timing each request."""

    def __init__(self, times: ChunkTimes, local_address: str | None = None):
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=KEEPALIVE_EXPIRY)
        self._inner = httpx.HTTPTransport(limits=limits, local_address=local_address)
        self._times = times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = self._inner.handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)

        def done() -> None:
            self._times.record(request.method, response.status_code, time.perf_counter() - started)

        stream = _TimedStream(response.stream, done)
        return httpx.Response(
            response.status_code, headers=response.headers, stream=stream, extensions=response.extensions
        )

    def close(self) -> None:
        self._inner.close()


def loopback_address(index: int) -> str:
    """Return the loopback address user *index* sends from: 127.1.x.y, 250 users to each x."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


class Phases:
    """Start each phase of the users together: every user waits at the phase, the last one asks stdin for ``go``.

    A user that failed earlier still passes every later phase, so the others are never left waiting.
    """

    NAMES = ("upload", "download")

    def __init__(self, users: int, together: bool):
        self._barrier = threading.Barrier(users, action=self._ask) if together else None
        self._asked = 0

    def _ask(self) -> None:
        print(f"ready {self.NAMES[self._asked]}", flush=True)
        self._asked += 1
        if sys.stdin.readline().strip() != "go":
            raise RuntimeError("the load runner stopped before the next phase")

    def wait(self) -> None:
        if self._barrier is not None:
            self._barrier.wait()

    def pass_by(self) -> None:
        """Wait at a phase this user will not take part in (it failed), so the others can go on."""
        try:
            self.wait()
        except threading.BrokenBarrierError:
            pass  # the phases are over for every user: the first error says why


def one_user(
    spec: dict[str, Any], index: int, name: str, logins: threading.Semaphore, times: ChunkTimes, phases: Phases
) -> dict[str, Any]:
    """Log in, upload, download, check, delete; return the times of each step or the error that stopped it."""
    source, digest = spec["sources"][index % len(spec["sources"])]
    work = Path(spec["work_dir"]) / name
    work.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"user": name, "ok": False}
    waited = 0
    address = loopback_address(index) if spec.get("addresses") else None
    in_flight = {"in_flight": spec["in_flight"]} if spec.get("in_flight") else {}
    try:
        with logins:
            started = time.perf_counter()
            coffer = Coffer.login(
                spec["server"],
                name,
                spec["password"],
                config_dir=work,
                transport=httpx.HTTPTransport(limits=API_LIMITS, local_address=address) if address else None,
                chunk_transport=TimingTransport(times, address),
            )
            record["login_s"] = time.perf_counter() - started
        with coffer:
            phases.wait()
            waited += 1
            started = time.perf_counter()
            uploaded = coffer.upload(Path(source), **in_flight)
            record["upload_s"] = time.perf_counter() - started
            record["retries"] = uploaded.retries
            copy = work / "copy"
            phases.wait()
            waited += 1
            started = time.perf_counter()
            coffer.download(uploaded.file_id, copy, **in_flight)
            record["download_s"] = time.perf_counter() - started
            if sha256_of(copy) != digest:
                raise RuntimeError("the downloaded copy differs from the file uploaded")
            copy.unlink()
            coffer.remove(uploaded.file_id)
        record["ok"] = True
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["trace"] = traceback.format_exc(limit=4).replace(str(ROOT) + "/", "")[-1500:]
    finally:
        for _ in range(waited, len(Phases.NAMES)):
            phases.pass_by()
    return record


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    times = ChunkTimes()
    logins = threading.Semaphore(LOGINS_AT_ONCE)
    together = spec["concurrency"] >= len(spec["users"])
    phases = Phases(len(spec["users"]), together)
    started = time.perf_counter()
    with ThreadPoolExecutor(spec["concurrency"], thread_name_prefix="user") as pool:
        futures = [
            pool.submit(one_user, spec, spec["first_index"] + i, name, logins, times, phases)
            for i, name in enumerate(spec["users"])
        ]
        users = [f.result() for f in futures]
    result = {
        "users": users,
        "seconds": time.perf_counter() - started,
        "chunk_seconds": times.seconds,
        "chunk_statuses": times.statuses,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    Path(spec["out"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
