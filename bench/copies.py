"""Where a chunk's second copy costs less: sent twice by the client, or copied by a fileserver (repair).

One network on SQLite: a server and three fileservers on local disk, shard ``default``
at ``copies = 2`` (short heartbeats and repair grace, rate limits lifted). Measured:

- ``upload``: the same file uploaded with one copy (a shard at 1) and with two (the
  client sends each chunk twice), rounds interleaved, plaintext MB/s of the whole upload;
- ``repair``: one fileserver SIGKILLed after files at two copies were stored; from the
  moment the grace ends until ``coffer admin shards`` shows no chunk below its count,
  the bytes the survivors copied from each other per second (each copy fetched with a
  copy ticket, verified and fsynced, one chunk at a time per fileserver).

Prints JSON; docs/copies.md and docs/performance.md quote it. Run with
``.venv/bin/python -m bench.copies --size 100MB --rounds 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from coffer.client.cli.lifecycle import parse_size
from coffer.client.coffer import Coffer
from coffer.devnet.network import Network
from coffer.fileserver.settings import FileserverSettings
from coffer.server.settings import ServerSettings

from .coffer_net import UNCAPPED, UNTHROTTLED, _known

PASSWORD = "copies-bench-password"
GRACE = 4.0
TOPOLOGY = {
    "shards": [{"name": "default", "copies": 2}, {"name": "single", "copies": 1}],
    "clusters": [
        {
            "name": "local",
            "shards": [
                {"name": "default", "read": True, "write": True},
                {"name": "single", "read": True, "write": True},
            ],
        }
    ],
}
FAST = {
    "COFFER_LEASE_SECONDS": "3",
    "COFFER_HEARTBEAT_INTERVAL": "0.5",
    "COFFER_REPAIR_GRACE": str(GRACE),
    "COFFER_REPAIR_BATCH": "32",
}


def upload_rates(coffer: Coffer, source: Path, size: int, rounds: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"one_copy": [], "two_copies": []}
    for r in range(rounds):
        order = [("single", "one_copy"), ("default", "two_copies")]
        for shard, name in order if r % 2 == 0 else order[::-1]:
            started = time.monotonic()
            result = coffer.upload(source, shard=shard)
            rates[name].append(size / (time.monotonic() - started) / 1e6)
            coffer.remove(result.file_id)
    return rates


def below(net: Network) -> int:
    assert net.admin is not None
    return next(s.below_copies for s in net.admin.admin_shards() if s.name == "default")


def repair_rate(net: Network, coffer: Coffer, source: Path, files: int) -> dict[str, Any]:
    ids = [coffer.upload(source, shard="default").file_id for _ in range(files)]
    victim = net.fileservers[2]
    victim_id = net.fileserver_id(victim)
    lost = sum(
        c["size"] for f in ids for c in coffer.api.get_file(f).to_json()["chunks"] if victim_id in c["fileservers"]
    )
    victim.proc.kill(signal.SIGKILL)
    killed = time.monotonic()
    while below(net) == 0:
        time.sleep(0.05)
    counted = time.monotonic()
    while below(net) > 0:
        time.sleep(0.05)
    done = time.monotonic()
    net.start_fileserver(victim)
    for f in ids:
        coffer.remove(f)
    seconds = done - counted
    return {
        "bytes_copied": lost,
        "seconds_after_grace": round(seconds, 2),
        "mb_per_s": round(lost / seconds / 1e6, 1),
        "grace_seconds": round(counted - killed, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=100 * 10**6, help="file size (default 100MB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repair-files", type=int, default=3, help="files at two copies before the kill")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coffer-copies-bench-") as tmp:
        root = Path(tmp)
        source = root / "source.bin"
        with open(source, "wb") as f:
            for _ in range(0, args.size, 1 << 20):
                f.write(os.urandom(min(1 << 20, args.size - f.tell())))
        net = Network.launch(
            root / "net",
            3,
            topology=TOPOLOGY,
            server_extra=_known(ServerSettings, "COFFER_", UNTHROTTLED) | FAST,
            fileserver_extra=_known(FileserverSettings, "COFFER_FS_", UNCAPPED)
            | {"COFFER_FS_HEARTBEAT_INTERVAL": "0.5"},
        )
        try:
            net.create_user("bench", PASSWORD)
            with Coffer.login(net.url, "bench", PASSWORD, config_dir=root / "config") as coffer:
                rates = upload_rates(coffer, source, args.size, args.rounds)
                repair = repair_rate(net, coffer, source, args.repair_files)
        finally:
            net.stop()
    result = {
        "size": args.size,
        "rounds": args.rounds,
        "upload_mb_per_s": {
            k: {"median": round(statistics.median(v), 1), "all": [round(x, 1) for x in v]} for k, v in rates.items()
        },
        "repair": repair,
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
