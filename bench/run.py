"""Run the benchmarks and write the results: ``python -m bench.run`` (``make bench``) or ``--quick``.

The full run: 3 interleaved rounds of 25 MB, 100 MB and 1 GB files through nginx +
curl, rclone crypt and Coffer on SQLite and PostgreSQL; 400 users with 25 MB files;
the control plane; 1,000 files of 10 KB in one upload; the web page beside the CLI (25 MB and 1 GB
through headless chromium); a profile of the slowest Coffer path. It writes
``bench/results/bench.json``, ``chart.png`` and ``profile.txt`` and rewrites the
tables of ``docs/performance.md``. ``--quick`` runs every part at a tiny size in
about a minute and writes under ``bench/results/quick/`` (not committed), so that
``make test`` keeps the harness working. Either exits non-zero if a part failed or
a simulated user saw an error.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import control_plane, load, metrics_overhead, profile, report, small_files, transfer, web
from .ceiling import tools_missing as ceiling_missing
from .datafiles import check_room, label, parse_size
from .peer import tools_missing as peer_missing

HERE = Path(__file__).resolve().parent
PARTS = ("transfers", "load", "control_plane", "small_files", "metrics", "web", "profile")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="every part at a tiny size, about a minute")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    p.add_argument("--sizes", help="file sizes for one client (default 25MB,100MB,1GB; quick 4MB)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 3; quick 1)")
    p.add_argument("--engines", default="sqlite,postgresql", help="server databases to measure")
    p.add_argument(
        "--no-agent", action="store_true", help="leave out the first engine's commands through `coffer agent`"
    )
    p.add_argument("--users", type=int, help="simulated users (default 400; quick 8)")
    p.add_argument("--size", help="each simulated user's file (default 25MB; quick 4MB)")
    p.add_argument(
        "--concurrency",
        type=int,
        help="simulated users active at once (default: every user, all at the same moment); fewer: a rolling load",
    )
    p.add_argument(
        "--in-flight",
        type=int,
        help="each simulated user's chunks at once (default 1 when all are at once, for the simulators' memory; "
        "else the client's)",
    )
    p.add_argument(
        "--fs-threads", type=int, help="the load's fileservers: threads per gunicorn worker (default: the setting's)"
    )
    p.add_argument("--fs-workers", type=int, help="the load's fileservers: gunicorn workers (default: the setting's)")
    p.add_argument(
        "--fs-max-transfers",
        type=int,
        help="the load's fileservers: chunk transfers at once before 429 (default 0, no cap; the setting's own "
        "default is workers × (threads − 1))",
    )
    p.add_argument("--load-engines", help="databases to run the users against (default: --engines)")
    p.add_argument("--cp-threads", type=int, default=16, help="control-plane load: threads in the sender process")
    p.add_argument("--cp-seconds", type=float, help="control-plane load: seconds per endpoint (default 10; quick 2)")
    p.add_argument("--small-files", type=int, help="small files: how many in one upload (default 1000; quick 40)")
    p.add_argument("--small-size", help="small files: the size of each (default 10KB)")
    p.add_argument("--metrics-size", help="metrics on against off: the file moved (default 1GB; quick 4MB)")
    p.add_argument("--metrics-rounds", type=int, help="metrics on against off: interleaved rounds (default 4; quick 1)")
    p.add_argument(
        "--metrics-cp-seconds", type=float, help="metrics on against off: seconds per endpoint (default 3; quick 1)"
    )
    p.add_argument("--web-sizes", help="the web page beside the CLI: file sizes (default 25MB,1GB; quick 4MB)")
    p.add_argument(
        "--metrics-scrape-every",
        type=float,
        default=metrics_overhead.DEPLOYED_PERIOD,
        help="metrics on against off: seconds between scrapes (default %(default)g, the shipped Prometheus config's)",
    )
    p.add_argument(
        "--metrics-scrape",
        choices=metrics_overhead.SCRAPED,
        default="all",
        help="metrics on against off: whose listeners the scraper reads (default all), to tell which side pays",
    )
    p.add_argument(
        "--profile",
        choices=("slowest", "up", "down"),
        default="slowest",
        help="which Coffer path to profile at the largest size (default: the one furthest below the ceiling)",
    )
    p.add_argument("--out", type=Path, help="results directory (default bench/results, quick bench/results/quick)")
    p.add_argument("--docs", type=Path, help="document to update (default docs/performance.md, unless --out is given)")
    p.add_argument("--no-docs", action="store_true", help="leave docs/performance.md alone")
    args = p.parse_args(argv)
    q = args.quick
    args.sizes = [parse_size(s) for s in (args.sizes or ("4MB" if q else "25MB,100MB,1GB")).split(",")]
    args.rounds = args.rounds or (1 if q else 3)
    args.engines = args.engines.split(",")
    args.load_engines = args.load_engines.split(",") if args.load_engines else args.engines
    args.users = args.users or (8 if q else 400)
    args.size = parse_size(args.size or ("4MB" if q else "25MB"))
    args.concurrency = args.concurrency or args.users
    if args.in_flight is None and args.concurrency >= args.users:
        args.in_flight = 1
    args.cp_seconds = args.cp_seconds or (2.0 if q else 10.0)
    args.small_files = args.small_files or (40 if q else 1000)
    args.small_size = parse_size(args.small_size or "10KB")
    args.metrics_size = parse_size(args.metrics_size or ("4MB" if q else "1GB"))
    args.metrics_rounds = args.metrics_rounds or (1 if q else 4)
    args.metrics_cp_seconds = args.metrics_cp_seconds or (1.0 if q else 3.0)
    args.web_sizes = [parse_size(s) for s in (args.web_sizes or ("4MB" if q else "25MB,1GB")).split(",")]
    if args.docs is None and args.out is None and not q:
        args.docs = HERE.parent / "docs" / "performance.md"
    args.out = args.out or (HERE / "results" / "quick" if q else HERE / "results")
    args.parts = [x for x in args.parts.split(",") if x]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        p.error(f"unknown part(s) {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    return args


def _fileserver_env(args: argparse.Namespace) -> dict[str, str]:
    """The fileserver settings the load runs with beyond the defaults (threads, workers)."""
    env = {}
    if args.fs_threads:
        env["COFFER_FS_THREADS"] = str(args.fs_threads)
    if args.fs_workers:
        env["COFFER_FS_WORKERS"] = str(args.fs_workers)
    if args.fs_max_transfers is not None:
        env["COFFER_FS_MAX_TRANSFERS"] = str(args.fs_max_transfers)
    return env


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, {system}, Python {platform.python_version()}"


def _revision() -> str:
    """Name the code measured: the commit, and whether the work tree had changes on top of it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE.parent)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=HERE.parent)
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def _part(name: str, results: dict[str, Any], failures: dict[str, str], step: Callable[[], Any]) -> None:
    log(f"{name} …")
    started = time.monotonic()
    try:
        results[name] = step()
    except Exception as exc:
        traceback.print_exc()
        failures[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
    log(f"{name} done in {time.monotonic() - started:.0f} s")


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    if "transfers" in args.parts:
        _part(
            "transfers",
            results,
            failures,
            lambda: transfer.run(work / "t", args.sizes, args.rounds, args.engines, log, not args.no_agent),
        )
    if "load" in args.parts:
        results["load"] = []
        for engine in args.load_engines:
            one: dict[str, Any] = {}
            _part(
                f"load-{engine}",
                one,
                failures,
                lambda e=engine: load.run(  # type: ignore[misc]
                    work / f"load-{e}",
                    e,
                    args.users,
                    args.size,
                    args.concurrency,
                    log,
                    in_flight=args.in_flight,
                    fileserver_env=_fileserver_env(args),
                ),
            )
            results["load"] += list(one.values())
            shutil.rmtree(work / f"load-{engine}", ignore_errors=True)
    if "control_plane" in args.parts:
        _part(
            "control_plane",
            results,
            failures,
            lambda: control_plane.run(work / "cp", args.engines[0], args.cp_threads, args.cp_seconds, 10**6, log),
        )
    if "small_files" in args.parts:
        _part(
            "small_files",
            results,
            failures,
            lambda: small_files.run(work / "small", args.engines[0], args.small_files, args.small_size, log),
        )
    if "metrics" in args.parts:
        _part(
            "metrics",
            results,
            failures,
            lambda: metrics_overhead.run(
                work / "metrics",
                args.engines[0],
                args.metrics_size,
                args.metrics_rounds,
                min(args.cp_threads, 4) if args.quick else args.cp_threads,
                args.metrics_cp_seconds,
                log,
                args.metrics_scrape,
                args.metrics_scrape_every,
            ),
        )
    if "web" in args.parts and web.tools_missing():
        # Like the web tests: without chromium, Node.js or Playwright the part is left out, and said so.
        results["web_skipped"] = f"needs {', '.join(web.tools_missing())} (`make test-tools web`)"
        log(f"web skipped: {results['web_skipped']}")
    elif "web" in args.parts:
        _part("web", results, failures, lambda: web.run(work / "web", args.web_sizes, args.rounds, log))
    if "profile" in args.parts:
        size, direction = max(args.sizes), "up" if args.profile == "slowest" else args.profile
        if "transfers" in results and args.profile == "slowest":
            size, direction = profile.slowest(results["transfers"], args.engines[0])
        _part("profile", results, failures, lambda: profile.run(work / "profile", args.engines[0], size, direction))
    results["failures"] = failures
    return results


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (and SIGINT, even when started in the background) unwinds, so every service is stopped.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    args = parse_args(argv)
    missing = ceiling_missing() + peer_missing()
    if missing:
        print(
            f"bench: {', '.join(missing)} missing: `make bench-tools` installs them (Debian packages)", file=sys.stderr
        )
        return 2
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="coffer-bench-"))
    try:
        web_room = (2 * args.rounds + 3) * sum(args.web_sizes) if "web" in args.parts else 0
        check_room(
            work, 3 * sum(args.sizes) + 3 * args.metrics_size + args.concurrency * args.size * 3 + web_room + 10**9
        )
        command = "make bench-quick" if args.quick else "make bench"
        meta = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": _machine(),
            "cores": os.cpu_count() or 1,
            "revision": _revision(),
            "command": command,
            "args": sys.argv[1:],
        }
        log(f"results to {args.out}; sizes {', '.join(label(s) for s in args.sizes)}; work in {work}")
        results = {"meta": meta} | run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return write(args, results)


def compile_bytecode() -> None:
    """Compile the project's modules, as installing a package does, so no measured command compiles its own.

    An editable install leaves that to the first import, and with PYTHONDONTWRITEBYTECODE
    set every `coffer` command compiled its modules again: some 40 ms a command.
    """
    for package in ("protocol", "client", "server", "fileserver"):
        compileall.compile_dir(HERE.parent / package, quiet=1)


def write(args: argparse.Namespace, results: dict[str, Any]) -> int:
    """Write the JSON, profile, chart and tables; return the exit code."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if "profile" in results:
        (out / "profile.txt").write_text(results["profile"].pop("text"))
        text = out / "profile.txt"
        inside = text.resolve().is_relative_to(HERE.parent)
        results["profile"]["file"] = str(text.resolve().relative_to(HERE.parent) if inside else text)
    (out / "bench.json").write_text(json.dumps(results, indent=1) + "\n")
    failures: dict[str, str] = results["failures"]
    try:
        if "transfers" in results:
            report.chart(results, out / "chart.png")
        section = report.tables(results)
        (out / "table.md").write_text(section)
        if args.docs is not None and not args.no_docs:
            report.rewrite_docs(args.docs, section)
    except Exception as exc:
        traceback.print_exc()
        failures["report"] = f"{type(exc).__name__}: {exc}"
    errors = sum(x["errors"] for x in results.get("load", []))
    docs = args.docs is not None and not args.no_docs
    log(f"wrote {out}/bench.json, chart.png, table.md" + (f" and {args.docs}" if docs else ""))
    if failures or errors:
        log(f"FAILED: {failures or ''} {f'{errors} simulated users saw errors' if errors else ''}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
