"""Many users at once against one server and two fileservers on this machine.

The accounts are made first (their Argon2id steps in a process pool), then
:mod:`bench.load_worker` processes run the users, each logging in, uploading one
file, downloading it, checking it against the source's SHA-256 and deleting it.
Reported: the aggregate MB/s (bytes up plus bytes down over the wall time of the
whole load, logins included), per-file and per-chunk latency percentiles, every
error, and the peak RSS of every process: the server's, each fileserver's and the
simulators'. The fileservers' resident size at rest, before the load, is kept as
the idle figure.

With ``concurrency`` at least the number of users, every user's transfer is open at
the same moment: the simulators log every user in, then start all the uploads
together, then all the downloads (each phase begins when every simulator says it is
ready), and the phases' own wall times give the aggregate rate of each direction.
Users then send from their own loopback addresses (127.1.x.y), as real users come
from many addresses, so the fileservers' per-address limits stay as in production.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from coffer.client.invitations import join_body

from . import procs
from .coffer_net import CofferNet, clean_env
from .datafiles import label, make_file
from .stats import latency, mb_per_s

PASSWORD = "load-password-1"
SOURCES = 4
PHASES = ("upload", "download")


def _make_users(net: CofferNet, names: list[str]) -> None:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        codes = [net.invite(name) for name in names]
        bodies = list(pool.map(join_body, codes, [PASSWORD] * len(names), chunksize=8))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(net.add_user, bodies))


def _fileserver_rss(net: CofferNet) -> list[dict[str, float]]:
    """Return each fileserver's resident size now: its whole process tree and its largest process."""
    figures = []
    for fs in net.fileservers:
        sizes = [procs.rss_mib(pid) for pid in procs.tree(fs.proc.pid)]
        figures.append({"tree_mib": round(sum(sizes), 1), "largest_mib": round(max(sizes), 1)})
    return figures


Worker = tuple[subprocess.Popen[bytes], Path]


def _start_workers(
    net: CofferNet, root: Path, names: list[str], sources: list[tuple[str, str]], spec: dict[str, Any]
) -> list[Worker]:
    """Start the simulator processes, each with its share of the users; return them and their output files."""
    workers: list[Worker] = []
    share = -(-len(names) // spec["workers"])
    for w in range(spec["workers"]):
        mine = names[w * share : (w + 1) * share]
        if not mine:
            continue
        out = root / f"worker{w}.json"
        spec_path = root / f"worker{w}-spec.json"
        spec_path.write_text(
            json.dumps(
                {
                    "server": net.url,
                    "users": mine,
                    "first_index": w * share,
                    "password": PASSWORD,
                    "sources": sources,
                    "concurrency": max(1, spec["concurrency"] // spec["workers"]),
                    "in_flight": spec["in_flight"],
                    "addresses": spec["addresses"],
                    "work_dir": str(root / f"worker{w}"),
                    "out": str(out),
                }
            )
        )
        with open(root / f"worker{w}.log", "wb") as log:
            popen = subprocess.Popen(
                [sys.executable, "-m", "bench.load_worker", str(spec_path)],
                env=clean_env(),
                cwd=Path(__file__).resolve().parents[1],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        workers.append((popen, out))
    return workers


def _phases(running: list[Worker], log: Callable[[str], None]) -> dict[str, float]:
    """Start each phase in every simulator at once, when all are ready; return each phase's wall time."""
    seconds: dict[str, float] = {}
    previous: tuple[str, float] | None = None
    for phase in PHASES:
        for popen, _ in running:
            assert popen.stdout is not None
            line = popen.stdout.readline().decode().strip()
            if line != f"ready {phase}":
                raise RuntimeError(f"a load simulator stopped before the {phase} phase (it said {line!r})")
        now = time.perf_counter()
        if previous is not None:
            seconds[previous[0]] = round(now - previous[1], 2)
        log(f"  every user ready: {phase} starts")
        for popen, _ in running:
            assert popen.stdin is not None
            popen.stdin.write(b"go\n")
            popen.stdin.flush()
        previous = (phase, time.perf_counter())
    for popen, _ in running:
        popen.wait()
    if previous is not None:
        seconds[previous[0]] = round(time.perf_counter() - previous[1], 2)
    return seconds


def run(
    root: Path,
    engine: str,
    users: int,
    size: int,
    concurrency: int,
    log: Callable[[str], None],
    workers: int = 2,
    in_flight: int | None = None,
    fileserver_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run *users* simulated users (at most *concurrency* at once) with files of *size* bytes.

    *in_flight* sets each user's chunks at once (default: the client library's);
    *fileserver_env* adds settings to the fileservers (``COFFER_FS_THREADS``, for one).
    """
    root.mkdir(parents=True, exist_ok=True)
    sources = []
    for i in range(min(SOURCES, users)):
        path = root / f"source{i}"
        sources.append((str(path), make_file(path, size)))
    together = concurrency >= users
    net = CofferNet.start(root / "net", engine, fileserver_env=fileserver_env)
    phases: dict[str, float] = {}
    try:
        names = [f"load{i:04d}" for i in range(users)]
        _make_users(net, names)
        log(f"  {users} accounts made; the load starts")
        idle = _fileserver_rss(net)
        roots = net.roots()
        procs.reset_peaks([pid for top in roots.values() for pid in procs.tree(top)])
        spec = {"workers": workers, "concurrency": concurrency, "in_flight": in_flight, "addresses": together}
        with procs.PeakSampler(roots) as sampler:
            started = time.perf_counter()
            running = _start_workers(net, root, names, sources, spec)
            try:
                for n, (popen, _) in enumerate(running):
                    sampler.roots[f"simulator{n}"] = popen.pid
                if together:
                    phases = _phases(running, log)
                for popen, _ in running:
                    popen.wait()
            finally:
                for popen, _ in running:
                    if popen.poll() is None:
                        popen.kill()
                        popen.wait()
            wall = time.perf_counter() - started
        failed = [p.args for p, _ in running if p.returncode != 0]
        if failed:
            raise RuntimeError(f"a load simulator failed: {failed}; see {root}/worker*.log")
        results = [json.loads(out.read_text()) for _, out in running]
    finally:
        net.stop()
        for source, _ in sources:
            Path(source).unlink(missing_ok=True)
    report = _report(results, users, size, concurrency, engine, wall, idle, sampler.table())
    report |= {"at_once": together, "in_flight": in_flight, "from_addresses": users if together else 1}
    report |= {"fileserver_env": fileserver_env or {}, "phase_seconds": phases}
    report["phase_mb_s"] = {k: round(mb_per_s(size * report["completed"], v), 1) for k, v in phases.items()}
    return report


def _report(
    results: list[dict[str, Any]],
    users: int,
    size: int,
    concurrency: int,
    engine: str,
    wall: float,
    idle: list[dict[str, float]],
    peaks: list[dict[str, object]],
) -> dict[str, Any]:
    records = [u for r in results for u in r["users"]]
    ok = [u for u in records if u["ok"]]
    errors = [u for u in records if not u["ok"]]
    chunk: dict[str, list[float]] = {}
    statuses: dict[str, int] = {}
    for r in results:
        for method, values in r["chunk_seconds"].items():
            chunk.setdefault(method, []).extend(values)
        for key, count in r["chunk_statuses"].items():
            statuses[key] = statuses.get(key, 0) + count
    fileserver_peaks = [p for p in peaks if str(p["role"]).startswith(("fileserver", "fs"))]
    return {
        "engine": engine,
        "users": users,
        "file_size": size,
        "file": label(size),
        "concurrency": concurrency,
        "seconds": round(wall, 1),
        "completed": len(ok),
        "errors": len(errors),
        "error_samples": [{"user": u["user"], "error": u["error"], "trace": u.get("trace", "")} for u in errors[:5]],
        "aggregate_mb_s": round(mb_per_s(2 * size * len(ok), wall), 1),
        "retries": sum(u.get("retries", 0) for u in ok),
        "per_file": {
            "login": latency([u["login_s"] for u in ok]),
            "upload": latency([u["upload_s"] for u in ok]),
            "download": latency([u["download_s"] for u in ok]),
        },
        "per_chunk": {method: latency(values) for method, values in sorted(chunk.items())},
        "chunk_statuses": statuses,
        "fileserver_idle_rss_mib": idle,
        "fileserver_peak_rss_mib": max((float(str(p["peak_rss_mib"])) for p in fileserver_peaks), default=0.0),
        "simulator_peak_rss_mib": [round(r["peak_rss_mib"], 1) for r in results],
        "processes": peaks,
    }
