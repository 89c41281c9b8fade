"""Chunk PUT and GET through each storage backend, in one run: local disk next to the three emulators.

The emulators (moto's S3 server, gcp-storage-emulator, Azurite) stand in for
the cloud services, so their figures bound the backend code's overhead, not
what S3, GCS or Azure would give: each emulator is a single process on this
machine. The local disk is the ceiling the others are read against.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coffer.devnet.emulators.azure import AzureEmulator, make_azure_store
from coffer.devnet.emulators.gcs import GcsEmulator, make_gcs_store
from coffer.devnet.emulators.process import Store
from coffer.devnet.emulators.s3 import MotoEmulator, make_s3_store
from coffer.fileserver.storage.local import LocalBackend
from coffer.protocol.ids import chunk_name, new_id

CHUNK = 8 * 1024 * 1024


def run(store: Store, blobs: list[tuple[str, bytes]]) -> tuple[float, float]:
    """Return (PUT, GET) MB/s for storing then reading every blob once, sequentially."""
    started = time.perf_counter()
    for name, data in blobs:
        store.backend.put(name, io.BytesIO(data), len(data))
    put = time.perf_counter() - started
    started = time.perf_counter()
    for name, data in blobs:
        with store.backend.open(name) as stream:
            assert sum(len(block) for block in stream) == len(data)
    get = time.perf_counter() - started
    total = sum(len(d) for _, d in blobs) / 1e6
    return total / put, total / get


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="coffer-bench-"))
    s3, gcs, azure = MotoEmulator(), GcsEmulator(), AzureEmulator()
    emulators: list[Any] = [s3, gcs, azure]
    makers: dict[str, Callable[[Path], Store]] = {
        "local": lambda p: Store(LocalBackend(p / "chunks"), lambda: []),
        "s3": lambda p: make_s3_store(s3, p, part_size=CHUNK),
        "gcs": lambda p: make_gcs_store(gcs, p),
        "azure": lambda p: make_azure_store(azure, p),
    }
    figures: dict[str, list[float]] = {}
    try:
        for emulator in emulators:
            emulator.start()
        for r in range(args.rounds):
            blobs = []
            for _ in range(args.chunks):
                data = os.urandom(CHUNK)
                blobs.append((chunk_name(new_id(), hashlib.sha256(data).hexdigest()), data))
            for kind, make in makers.items():
                put, get = run(make(root / f"{kind}-{r}"), blobs)
                figures.setdefault(f"{kind}_put", []).append(put)
                figures.setdefault(f"{kind}_get", []).append(get)
    finally:
        for emulator in emulators:
            emulator.stop()
    results = {
        k: {"median": round(statistics.median(v), 1), "min": round(min(v), 1), "max": round(max(v), 1)}
        for k, v in sorted(figures.items())
    }
    ratios = {
        f"{kind}_{d}_over_local": round(results[f"{kind}_{d}"]["median"] / results[f"local_{d}"]["median"], 2)
        for kind in ("s3", "gcs", "azure")
        for d in ("put", "get")
    }
    json.dump(
        {
            "benchmark": "backend_transfer",
            "chunk_bytes": CHUNK,
            "chunks_per_run": args.chunks,
            "rounds": args.rounds,
            "unit": "MB/s",
            "results": results,
            "ratios": ratios,
        },
        sys.stdout,
        indent=2,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
