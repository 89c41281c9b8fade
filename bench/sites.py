"""Two offices behind 50 Mbit/s lines: how soon a file reaches the other office, and what its reads cost the line.

One network (:class:`coffer.devnet.offices.Offices`, run as root): the server in the
root namespace on SQLite, one fileserver in each of two offices (network namespaces
joined by veth lines shaped with ``tc tbf`` to ``--rate``), both linked to one shard
with read and write (shard-config/two-offices.toml). A person in each office runs the
installed ``coffer`` command inside it, with ``COFFER_SITE`` set to their office.
Measured:

- ``sync``: for each of ``--files`` files of ``--size``, from ``coffer upload``
  returning in office A until the server lists office B's own fileserver beside every
  chunk of the file (the copy on B's disk and its receipt reported: a reader in B is
  then sent to B's copy; polled every 50 ms), against ``link``: the time the same
  bytes take from A to B with one plain TCP stream (across both lines, as A's
  fileserver copying to B's does);
- ``reads``: one more file uploaded in A and read ``--reads`` times in B; the bytes
  that crossed B's line (both ways, its veth counters) from before the upload to
  after the last read, per byte of the file (target: one copy plus under 1%), beside
  what the plain TCP stream of the same bytes put on the line (its headers and acks).

Prints JSON; docs/performance.md quotes it. Run as root with
``.venv/bin/python -m bench.sites --size 25MB --files 5 --reads 20``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from coffer.client.cli.lifecycle import parse_size
from coffer.client.coffer import Coffer
from coffer.devnet.offices import RATE, TWO_OFFICES, Offices, unavailable
from coffer.fileserver.settings import FileserverSettings
from coffer.server.settings import ServerSettings

from .coffer_net import UNCAPPED, UNTHROTTLED, _known
from .stats import percentile

PASSWORD = "sites-bench-password"
SHARD = "shared"
A, B = "office-a", "office-b"
RECEIVE = """
import socket, sys
with socket.create_server((sys.argv[1], 0)) as s:
    print(s.getsockname()[1], flush=True)
    c, _ = s.accept()
    n = 0
    while (got := c.recv(1 << 20)):
        n += len(got)
    c.sendall(b"k")
    print(n, flush=True)
"""
SEND = """
import socket, sys, time
size, block = int(sys.argv[3]), b"x" * (1 << 20)
with socket.create_connection((sys.argv[1], int(sys.argv[2]))) as c:
    began = time.perf_counter()
    for sent in range(0, size, len(block)):
        c.sendall(block[: min(len(block), size - sent)])
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
    print(time.perf_counter() - began)
"""


def line_seconds(net: Offices, size: int) -> tuple[float, int]:
    """Return how long *size* bytes take from office A to office B over one plain TCP stream, and B's line bytes."""
    a, b = net.office(A), net.office(B)
    receiver = subprocess.Popen(
        [*b.within, sys.executable, "-c", RECEIVE, b.office_ip], stdout=subprocess.PIPE, text=True
    )
    try:
        assert receiver.stdout is not None
        port = receiver.stdout.readline().strip()
        sender = [*a.within, sys.executable, "-c", SEND, b.office_ip, port, str(size)]
        before = b.line_bytes()
        seconds = float(subprocess.run(sender, capture_output=True, text=True, check=True, timeout=600).stdout)
        assert int(receiver.stdout.readline()) == size
        return seconds, b.line_bytes() - before
    finally:
        receiver.kill()
        receiver.wait()


def coffer_ok(net: Offices, office: str, config: Path, *args: str, stdin: str | None = None) -> str:
    done = net.coffer_in(office, config, *args, stdin=stdin, COFFER_SITE=office)
    if done.returncode != 0:
        raise RuntimeError(f"coffer {args[0]} in {office} failed: {done.stderr.strip()}")
    return done.stdout


def upload(net: Offices, config: Path, source: Path) -> str:
    """Upload *source* in office A; return its id once the command returned."""
    answer = json.loads(coffer_ok(net, A, config, "upload", str(source), "--shard", SHARD, "--quiet", "--json"))
    return str(answer[0]["file_id"])


def until_in_b(net: Offices, coffer: Coffer, file_id: str, timeout: float = 600) -> float:
    """Wait until the server lists a fileserver of office B beside every chunk of *file_id*; return when.

    That is when a reader in B is sent to B's own copy of each chunk: the chunk is on B's disk
    (written by rename) and the copy's signed receipt reached the server. Polled every 50 ms.
    """
    in_b = {net.fileserver_id(fs) for fs in net.fileservers if fs.host == net.office(B).office_ip}
    deadline = time.monotonic() + timeout
    while not all(in_b & set(c["fileservers"]) for c in coffer.api.get_file(file_id).to_json()["chunks"]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"file {file_id} did not reach office B within {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic()


def write_source(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        for _ in range(0, size, 1 << 20):
            f.write(os.urandom(min(1 << 20, size - f.tell())))
    return path


def measure(net: Offices, root: Path, size: int, files: int, reads: int) -> dict[str, Any]:
    net.create_user("bench", PASSWORD)
    with Coffer.login(net.url, "bench", PASSWORD, config_dir=root / "config-root") as coffer:
        return measure_as(net, coffer, root, size, files, reads)


def measure_as(net: Offices, coffer: Coffer, root: Path, size: int, files: int, reads: int) -> dict[str, Any]:
    configs = {office: root / f"config-{office}" for office in (A, B)}
    for office, config in configs.items():
        coffer_ok(net, office, config, "login", "bench", "--password-stdin", stdin=PASSWORD + "\n")
    lags, links, wire = [], [], []
    for n in range(files):
        source = write_source(root / f"file-{n}.bin", size)
        file_id = upload(net, configs[A], source)
        returned = time.monotonic()
        lags.append(until_in_b(net, coffer, file_id) - returned)
        seconds, crossed = line_seconds(net, size)
        links.append(seconds)
        wire.append(crossed)
        source.unlink()
    source = write_source(root / "read.bin", size)
    line = net.office(B)
    before = line.line_bytes()
    file_id = upload(net, configs[A], source)
    until_in_b(net, coffer, file_id)
    synced = line.line_bytes()
    for n in range(reads):
        coffer_ok(net, B, configs[B], "download", file_id, "-o", str(root / f"read-{n}.bin"), "--quiet")
        (root / f"read-{n}.bin").unlink()
    after = line.line_bytes()
    ordered = sorted(lags)
    link = statistics.median(links)
    return {
        "size": size,
        "files": files,
        "rate": net.rate,
        "sync_seconds": {
            "p50": round(percentile(ordered, 50), 2),
            "p95": round(percentile(ordered, 95), 2),
            "all": [round(x, 2) for x in lags],
        },
        "link_seconds": {"median": round(link, 2), "all": [round(x, 2) for x in links]},
        "sync_over_link": {
            "p50": round(percentile(ordered, 50) / link, 2),
            "p95": round(percentile(ordered, 95) / link, 2),
        },
        "reads": {
            "n": reads,
            "line_bytes_total": after - before,
            "line_bytes_copy": synced - before,
            "line_bytes_reads": after - synced,
            "per_file_byte": round((after - before) / size, 4),
            "plain_tcp_per_byte": round(statistics.median(wire) / size, 4),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=25 * 10**6, help="file size (default 25MB)")
    parser.add_argument("--files", type=int, default=5, help="files whose sync time is measured (default 5)")
    parser.add_argument("--reads", type=int, default=20, help="reads in office B of one file (default 20)")
    parser.add_argument("--rate", default=RATE, help=f"each line's rate, as tc says it (default {RATE})")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="fileservers' heartbeat interval, s (default 1)")
    args = parser.parse_args()
    reason = unavailable()
    if reason is not None:
        print(f"bench.sites needs network namespaces: {reason}", file=sys.stderr)
        return 2
    beat = {"COFFER_HEARTBEAT_INTERVAL": str(args.heartbeat), "COFFER_LEASE_SECONDS": str(max(30, 3 * args.heartbeat))}
    with tempfile.TemporaryDirectory(prefix="coffer-sites-bench-") as tmp:
        root = Path(tmp)
        net = Offices.launch(
            root / "net",
            0,
            clusters=[A, B],
            topology=TWO_OFFICES,
            rate=args.rate,
            installed_cli=True,
            server_extra=_known(ServerSettings, "COFFER_", UNTHROTTLED) | beat,
            fileserver_extra=_known(FileserverSettings, "COFFER_FS_", UNCAPPED)
            | {"COFFER_FS_HEARTBEAT_INTERVAL": str(args.heartbeat)},
        )
        try:
            for office in (A, B):
                net.add_office_fileserver(office)
            result = measure(net, root, args.size, args.files, args.reads)
        finally:
            net.stop()
    result["heartbeat_seconds"] = args.heartbeat
    result["link_theoretical_seconds"] = round(args.size * 8 / parse_rate(args.rate), 2)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


def parse_rate(rate: str) -> float:
    """Return a tc rate (``50mbit``, ``1gbit``, ``800kbit``) in bits per second."""
    units = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "bit": 1.0}
    for unit, factor in units.items():
        if rate.endswith(unit):
            return float(rate.removesuffix(unit)) * factor
    return math.nan


if __name__ == "__main__":
    sys.exit(main())
