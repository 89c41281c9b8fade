"""Chunk PUT and GET throughput of one fileserver against nginx, driven by the same curl.

Rounds interleave the two targets so that both see the same machine weather.
Coffer's side does everything it does in production: ticket check, streaming
SHA-256, fsync and atomic link on PUT, ticket check and streaming on GET. nginx
does none of that (no hash, no fsync): it is the machine's ceiling for moving
bytes over HTTP on loopback.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.ceiling import Nginx
from coffer.devnet.network import Network
from coffer.devnet.raw_chunks import finalize, get_tickets, new_file, put_ticket
from coffer.protocol import routes

CHUNK = 8 * 1024 * 1024


def curl(transfers: list[tuple[str, str, str]], header: str | None, parallel: int) -> float:
    """Run one curl over (method, local file, url) transfers; return the wall time in seconds."""
    args = ["curl", "-sS", "--no-progress-meter", "--fail", "--http1.1"]
    if header:
        args += ["-H", header]
    if parallel > 1:
        args += ["--parallel", "--parallel-max", str(parallel)]
    for method, path, url in transfers:
        args += ["-T", path, "-o", path + ".out", url] if method == "PUT" else ["-o", "/dev/null", url]
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"curl failed with exit code {done.returncode}: {done.stderr.strip()[:500]}")
    return time.perf_counter() - started


def make_chunks(directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True)
    paths = []
    for i in range(count):
        path = directory / f"c{i}"
        path.write_bytes(os.urandom(CHUNK))
        paths.append(path)
    return paths


def coffer_round(net: Network, base: str, chunks: list[Path], parallel: int) -> tuple[float, float]:
    assert net.admin is not None
    blobs = [p.read_bytes() for p in chunks]
    record = new_file(net.admin, blobs)
    ticket, _ = put_ticket(net.admin, record["id"])
    hashes = [hashlib.sha256(b).hexdigest() for b in blobs]
    urls = [base + routes.chunk("default", record["id"], h) for h in hashes]
    up = curl(
        [("PUT", str(p), u) for p, u in zip(chunks, urls, strict=True)], f"Authorization: Ticket {ticket}", parallel
    )
    receipts = [[json.loads(Path(str(p) + ".out").read_text())["receipt"]] for p in chunks]
    finalize(net.admin, record["id"], blobs, receipts)
    tickets = get_tickets(net.admin, record["id"])
    assert len(set(tickets.values())) == 1, "one get ticket covers up to 32 chunks"
    down = curl([("GET", "", u) for u in urls], f"Authorization: Ticket {tickets[hashes[0]]}", parallel)
    return up, down


def nginx_round(base: str, chunks: list[Path], parallel: int, tag: str) -> tuple[float, float]:
    urls = [f"{base}/{tag}/{p.name}" for p in chunks]
    up = curl([("PUT", str(p), u) for p, u in zip(chunks, urls, strict=True)], None, parallel)
    down = curl([("GET", "", u) for u in urls], None, parallel)
    return up, down


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1), "max": round(max(values), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=32, help="8 MiB chunks per run (at most 32)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("nginx") is None or shutil.which("curl") is None:
        print("needs nginx and curl: apt-get install nginx-light curl", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="coffer-bench-"))
    net = Network(root=root / "net", database_url=f"sqlite:///{root / 'net' / 'coffer.db'}")
    (root / "net").mkdir()
    nginx: Nginx | None = None
    mbps: dict[str, list[float]] = {}
    try:
        net.start_server()
        net.bootstrap()
        fs = net.add_fileserver()
        nginx = Nginx.start(root / "nginx")
        nginx_url = nginx.url
        total_mb = args.chunks * CHUNK / 1e6
        for r in range(args.rounds):
            for parallel in (1, 8):
                chunks = make_chunks(root / f"chunks-{r}-{parallel}", args.chunks)
                order = ["nginx", "coffer"] if r % 2 == 0 else ["coffer", "nginx"]
                for target in order:
                    if target == "nginx":
                        up, down = nginx_round(nginx_url, chunks, parallel, f"r{r}p{parallel}")
                    else:
                        up, down = coffer_round(net, fs.url, chunks, parallel)
                    mbps.setdefault(f"{target}_put_x{parallel}", []).append(total_mb / up)
                    mbps.setdefault(f"{target}_get_x{parallel}", []).append(total_mb / down)
                shutil.rmtree(root / f"chunks-{r}-{parallel}")
    finally:
        if nginx is not None:
            nginx.stop()
        net.stop()
        shutil.rmtree(root, ignore_errors=True)
    results = {name: summary(values) for name, values in sorted(mbps.items())}
    ratios = {
        name.removeprefix("coffer_"): round(
            results[name]["median"] / results["nginx_" + name.removeprefix("coffer_")]["median"], 2
        )
        for name in results
        if name.startswith("coffer_")
    }
    report: dict[str, Any] = {
        "benchmark": "chunk_transfer",
        "chunk_bytes": CHUNK,
        "chunks_per_run": args.chunks,
        "rounds": args.rounds,
        "unit": "MB/s",
        "results": results,
        "coffer_over_nginx": ratios,
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
