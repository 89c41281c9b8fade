"""Files per second of one ``coffer upload`` of many small files, and what bounds it.

Three measurements on the same network (:mod:`bench.coffer_net`, one engine):

- ``unthrottled``: rate limits lifted, as every other part runs: the client's and the
  servers' own pace;
- ``default_limits``: the same upload against a second server with the production rate
  limits (1,800 requests a minute per user): a bulk upload meets them and waits;
- ``profile``: the unthrottled upload again under cProfile, which sees the main thread
  (server calls, state files, waiting for chunk sends), split into where the time goes.

Each file costs three server requests (create the record, a put ticket, finalize) and
one chunk PUT to a fileserver; the figures say which of these, the per-user limit, or
the process start bounds the rate.
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

PASSWORD = "small-files-password"
CATEGORIES = {
    "server_requests": ("client/api.py", "request"),
    "resume_state_files": ("client/resume.py", "save"),
    "waiting_for_chunk_puts": ("concurrent/futures/_base.py", "wait"),
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


def upload_all(env: dict[str, str], paths: list[Path], argv: list[str] | None = None) -> dict[str, Any]:
    """Upload *paths* in one command; return files/s and the waits the client announced."""
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
        results["unthrottled"] = upload_all(env, paths)
        log(f"  unthrottled     {results['unthrottled']['files_s']:7.1f} files/s")
        stats_file = root / "upload.prof"
        argv = [sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "coffer", "upload", "--quiet"]
        profiled = upload_all(env, paths, argv + list(map(str, paths)))
        results["profile"] = {"seconds": profiled["seconds"], "shares": profile_shares(stats_file, profiled["seconds"])}
        results["requests_per_file"] = 3
        limited = CofferNet.start(root / "limited", engine, fileservers=1, throttled=True)
        try:
            results["default_limits"] = upload_all(_user(limited, root, "limited"), paths)
        finally:
            limited.stop()
        log(
            f"  default limits  {results['default_limits']['files_s']:7.1f} files/s, "
            f"{results['default_limits']['rate_limit_waits']} wait(s)"
        )
    finally:
        net.stop()
    return results
