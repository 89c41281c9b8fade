"""A whole file up and down with `coffer`, next to curl moving the same bytes to one fileserver unencrypted.

Coffer: `coffer upload` and `coffer download -o` (the CLI as a user runs it, a
cached session, two fileservers on local disk). Baseline: curl PUTs the file's
bytes as 8 MiB chunks to one fileserver (8 in parallel, the client's default),
and GETs them back into files on the same disk; no encryption, no client-side
hashing, one fileserver. Rounds interleave the two so both see the same
machine weather; the result is medians, min-max and the Coffer/curl ratios.
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

from bench.chunk_transfer import CHUNK, curl
from tests.integration.network import Network, clean_env, coffer
from tests.integration.transfer import finalize, get_tickets, put_ticket

PASSWORD = "bench-password-1"


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for _ in range(size // CHUNK):
            f.write(os.urandom(CHUNK))
        f.write(os.urandom(size % CHUNK))


def split(path: Path, into: Path) -> list[Path]:
    into.mkdir()
    parts: list[Path] = []
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            part = into / f"p{len(parts):05d}"
            part.write_bytes(block)
            parts.append(part)
    return parts


def clear_chunks(net: Network) -> None:
    """Delete the stored chunks between rounds (the fan-out directories only: the backend keeps its root)."""
    for fs in net.fileservers:
        for fan_out in (fs.data_dir / "chunks" / "default").glob("[0-9a-f][0-9a-f]"):
            shutil.rmtree(fan_out)


def coffer_round(env: dict[str, str], source: Path, work: Path) -> tuple[float, float]:
    started = time.perf_counter()
    done = subprocess.run(coffer("upload", "--quiet", str(source)), env=env, capture_output=True, text=True, check=True)
    up = time.perf_counter() - started
    file_id = done.stdout.split()[-1]
    target = work / "coffer-copy"
    started = time.perf_counter()
    subprocess.run(coffer("download", "--quiet", file_id, "-o", str(target)), env=env, check=True, capture_output=True)
    down = time.perf_counter() - started
    target.unlink()
    subprocess.run(coffer("rm", file_id), env=env, check=True, capture_output=True)
    return up, down


def curl_round(net: Network, parts: list[Path], work: Path) -> tuple[float, float]:
    assert net.admin is not None
    fs = net.fileservers[0]
    hashes = [hashlib.sha256(p.read_bytes()).hexdigest() for p in parts]
    sizes = [p.stat().st_size for p in parts]
    record = net.admin.request(
        "POST",
        "/api/files",
        {"shard": "default", "size": sum(sizes), "chunk_count": len(parts), "chunk_size": CHUNK, "metadata": "AA"},
    )
    ticket, _ = put_ticket(net.admin, record["id"])
    urls = [f"{fs.url}/api/chunks/default/{record['id']}/{h}" for h in hashes]
    up = curl([("PUT", str(p), u) for p, u in zip(parts, urls, strict=True)], f"Authorization: Ticket {ticket}", 8)
    receipts = [[json.loads(Path(str(p) + ".out").read_text())["receipt"]] for p in parts]
    finalize(net.admin, record["id"], [p.read_bytes() for p in parts], receipts)
    tickets = get_tickets(net.admin, record["id"])
    out = work / "curl-copy"
    out.mkdir()
    started = time.perf_counter()
    for ticket_text in sorted(set(tickets.values())):
        group = [(h, u) for h, u in zip(hashes, urls, strict=True) if tickets[h] == ticket_text]
        args = ["curl", "-sS", "--no-progress-meter", "--fail", "--http1.1", "--parallel", "--parallel-max", "8"]
        args += ["-H", f"Authorization: Ticket {ticket_text}"]
        for h, u in group:
            args += ["-o", str(out / h), u]
        subprocess.run(args, check=True)
    down = time.perf_counter() - started
    shutil.rmtree(out)
    return up, down


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1), "max": round(max(values), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1000, help="file size in MB (default 1000)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="coffer-bench-"))
    (root / "net").mkdir()
    net = Network(root=root / "net", database_url=f"sqlite:///{root / 'net' / 'coffer.db'}")
    mbps: dict[str, list[float]] = {}
    size = args.size_mb * 1_000_000
    try:
        net.start_server()
        net.bootstrap()
        net.add_fileserver()
        net.add_fileserver()
        net.create_user("bench", PASSWORD)
        env = clean_env(COFFER_CONFIG_DIR=str(root / "config"), COFFER_SERVER=net.url)
        subprocess.run(
            coffer("login", "bench", "--password-stdin"), env=env, input=PASSWORD + "\n", text=True, check=True
        )
        source = root / "source.bin"
        make_file(source, size)
        parts = split(source, root / "parts")
        for r in range(args.rounds):
            for who in ("coffer", "curl") if r % 2 == 0 else ("curl", "coffer"):
                up, down = coffer_round(env, source, root) if who == "coffer" else curl_round(net, parts, root)
                mbps.setdefault(f"{who}_up", []).append(size / up / 1e6)
                mbps.setdefault(f"{who}_down", []).append(size / down / 1e6)
                clear_chunks(net)
    finally:
        net.stop()
        shutil.rmtree(root, ignore_errors=True)
    results = {name: summary(values) for name, values in sorted(mbps.items())}
    report: dict[str, Any] = {
        "benchmark": "file_transfer",
        "file_bytes": size,
        "rounds": args.rounds,
        "unit": "MB/s",
        "results": results,
        "coffer_over_curl": {
            d: round(results[f"coffer_{d}"]["median"] / results[f"curl_{d}"]["median"], 2) for d in ("up", "down")
        },
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
