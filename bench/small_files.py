"""Files per second of one ``coffer upload`` of many small files, and what bounds it.

Three measurements on the same network (:mod:`bench.coffer_net`, one engine):

- ``unthrottled``: rate limits lifted, as every other part runs: the client's and the
  servers' own pace;
- ``default_limits``: the same upload against a second server with the production rate
  limits (1,800 requests a minute per user): a bulk upload meets them and waits;
- ``profile``: the unthrottled upload again under cProfile, which sees the main thread
  (server calls, state files, waiting for chunk sends), split into where the time goes;
- ``download``: every file back in one ``coffer download ID … -o DIR``, checked;
- ``rclone``: the peer (:mod:`bench.peer`, rclone crypt over WebDAV) copying the same
  directory up and back down with ``rclone copy``, its defaults, as a user runs it.

Each file costs two server requests (create the record with its put ticket, finalize)
and one chunk PUT to a fileserver; a download one request (the record with its get
tickets) and one chunk GET. Several files move at once (``coffer.client.batch``); the
figures say whether the round trips, the per-user limit, or the process start bound
the rate.
"""

from __future__ import annotations

import os
import pstats
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import procs
from .coffer_net import CofferNet, coffer_command
from .peer import Rclone

PASSWORD = "small-files-password"
CATEGORIES = {
    "server_requests": ("client/api.py", "request"),
    "resume_state_files": ("client/resume.py", "save"),
    "waiting_for_chunk_puts": ("concurrent/futures/_base.py", "wait"),
    "waiting_for_the_files_in_flight": ("concurrent/futures/_base.py", "result"),
    "sealing_metadata": ("format/metadata.py", "seal_metadata"),
    "process_start_and_imports": ("<frozen importlib._bootstrap>", "_find_and_load"),
}
"""Where the main thread's time goes, by a function whose cumulative time stands for it."""


def make_files(where: Path, count: int, size: int) -> list[Path]:
    where.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = where / f"f{i:05}.txt"
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def _user(net: CofferNet, root: Path, name: str) -> dict[str, str]:
    net.create_user(name, PASSWORD)
    return net.login_cli(name, PASSWORD, root / f"cli-{name}")


def upload_all(
    env: dict[str, str], paths: list[Path], argv: list[str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Upload *paths* in one command; return files/s and the waits the client announced, and the file ids."""
    done = procs.run_measured(argv or coffer_command("upload", "--quiet", *map(str, paths)), env=env)
    ids = done.stdout.split()
    if len(ids) != len(paths):
        raise RuntimeError(f"{len(ids)} of {len(paths)} files uploaded: {done.stderr[-500:]}")
    waits = [float(s) for s in re.findall(r"waiting (\d+) s", done.stderr)]
    return {
        "files": len(paths),
        "seconds": round(done.seconds, 2),
        "files_s": round(len(paths) / done.seconds, 1),
        "rate_limit_waits": len(waits),
        "seconds_waited": sum(waits),
        "peak_rss_mib": round(done.peak_rss_mib, 1),
    }, ids


def download_all(env: dict[str, str], ids: list[str], sources: list[Path], out: Path) -> dict[str, Any]:
    """Download *ids* in one command into *out*; check every file against its source; return files/s."""
    done = procs.run_measured(coffer_command("download", "--quiet", *ids, "-o", str(out)), env=env)
    _check_copies(sources, out)
    return {"files": len(ids), "seconds": round(done.seconds, 2), "files_s": round(len(ids) / done.seconds, 1)}


def _check_copies(sources: list[Path], out: Path) -> None:
    copies = {p.name: p for p in out.rglob("*") if p.is_file()}
    wrong = [s.name for s in sources if s.name not in copies or copies[s.name].read_bytes() != s.read_bytes()]
    if wrong:
        raise RuntimeError(f"{len(wrong)} of {len(sources)} files came back missing or different, {wrong[0]} first")


def rclone_both_ways(root: Path, sources: list[Path]) -> dict[str, Any]:
    """Copy the sources' directory up with ``rclone copy`` and back down; return files/s each way."""
    rclone = Rclone.start(root / "rclone")
    try:
        up = rclone.copy(str(sources[0].parent), "secret:small")
        back = root / "rclone-back"
        down = rclone.copy("secret:small", str(back))
        _check_copies(sources, back)
    finally:
        rclone.stop()
    n = len(sources)
    return {
        "up": {"files": n, "seconds": round(up.seconds, 2), "files_s": round(n / up.seconds, 1)},
        "down": {"files": n, "seconds": round(down.seconds, 2), "files_s": round(n / down.seconds, 1)},
    }


def profile_shares(stats_file: Path, total: float) -> dict[str, float]:
    """Return each category's share of the main thread's wall time, from the cProfile output."""
    stats: Any = pstats.Stats(str(stats_file)).stats  # type: ignore[attr-defined]  # (file, line, func) -> (.., ct, ..)
    shares: dict[str, float] = {}
    for name, (path_end, function) in CATEGORIES.items():
        cumulative = max(
            (ct for (file, _, func), (_, _, _, ct, _) in stats.items() if file.endswith(path_end) and func == function),
            default=0.0,
        )
        shares[name] = round(cumulative / total, 3) if total else 0.0
    return shares


def run(root: Path, engine: str, count: int, size: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Measure one upload of *count* files of *size* bytes, unthrottled, with default limits, and profiled."""
    paths = make_files(root / "files", count, size)
    results: dict[str, Any] = {"engine": engine, "files": count, "size": size}
    net = CofferNet.start(root / "net", engine, fileservers=1)
    try:
        env = _user(net, root, "fast")
        results["one_command_s"] = round(procs.run_measured(coffer_command("ls"), env=env).seconds, 3)
        results["unthrottled"], ids = upload_all(env, paths)
        log(f"  unthrottled     {results['unthrottled']['files_s']:7.1f} files/s")
        results["download"] = download_all(env, ids, paths, root / "back")
        log(f"  download        {results['download']['files_s']:7.1f} files/s")
        results["rclone"] = rclone_both_ways(root, paths)
        rclone = results["rclone"]
        log(f"  rclone up, down {rclone['up']['files_s']:7.1f}, {rclone['down']['files_s']} files/s")
        stats_file = root / "upload.prof"
        argv = [sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "coffer", "upload", "--quiet"]
        profiled, _ = upload_all(env, paths, argv + list(map(str, paths)))
        results["profile"] = {"seconds": profiled["seconds"], "shares": profile_shares(stats_file, profiled["seconds"])}
        results["requests_per_file"] = 2
        limited = CofferNet.start(root / "limited", engine, fileservers=1, throttled=True)
        try:
            results["default_limits"], _ = upload_all(_user(limited, root, "limited"), paths)
        finally:
            limited.stop()
        log(
            f"  default limits  {results['default_limits']['files_s']:7.1f} files/s, "
            f"{results['default_limits']['rate_limit_waits']} wait(s)"
        )
    finally:
        net.stop()
    return results
