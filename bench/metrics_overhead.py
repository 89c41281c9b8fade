"""The cost of metrics: one network with every metrics listener on and scraped, one with none, side by side.

Both networks run for the whole part, as in :mod:`bench.coffer_net`; the "on" network
has ``metrics_bind`` set on the server and on each fileserver, and a scraper process
(this module run as ``python -m bench.metrics_overhead scrape PERIOD URL…``) reads every
program's ``/metrics`` every *period* seconds, as Prometheus would: by default at the
interval the shipped Prometheus config scrapes (:data:`DEPLOYED_PERIOD`), and at one
second to see the cost under a far heavier scrape. The scraper is paused
(SIGSTOP) while the "off" network is measured, so that its work lands only on the
side that pays for it. Rounds alternate which network goes first; the figures are
medians of the rounds, with their spread, and the ratio on / off of each:

- a file of *size* up and back down with the ``coffer`` CLI (copy checked by SHA-256);
- the control plane's requests/s (:mod:`bench.control_plane`), after every transfer,
  since its heartbeat load registers fileservers that are not there.

Each step's CPU is counted too (the network's processes, and for a transfer the CLI's
own), because on this shared machine two identical rounds differ by 10-40% in wall-clock
time, which hides a 3% cost, while the CPU an operation takes moves far less with the
load. A transfer's CPU is per 1 GB up and down; the control plane's is per request.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from . import control_plane, procs
from .coffer_net import CofferNet, clean_env
from .datafiles import label, make_file, sha256_of
from .stats import mb_per_s, ratio, summary
from .transfer import CofferTarget

SIDES = ("off", "on")
SCRAPED = ("all", "server", "fileservers")
"""Which listeners of the "on" network the scraper reads: every program's, the server's alone, or the fileservers'."""
TARGET = 0.97
"""Metrics on may cost at most 3% of any figure: throughput on / off at least this, CPU on / off at most its inverse."""
DEPLOYED_PERIOD = 15.0
"""The shipped Prometheus config's ``scrape_interval`` (deploy/monitoring/prometheus.yml; a test keeps them equal)."""
PASSWORD = "metrics-password-1"


@dataclass
class Scraper:
    """The scraper process: reads every URL each second until stopped; pausable."""

    proc: subprocess.Popen[str]

    @classmethod
    def start(cls, urls: list[str], period: float) -> Scraper:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.metrics_overhead", "scrape", str(period), *urls],
            env=clean_env(),
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.PIPE,
            text=True,
        )
        return cls(proc)

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> dict[str, Any]:
        """Stop the scraper and return its counts, with the CPU it used."""
        spent = procs.cpu_seconds([self.proc.pid])
        self.resume()
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        counts: dict[str, Any] = json.loads(out) if out.strip() else {}
        return counts | {"cpu_s": round(spent, 2)}


def scrape(urls: list[str], period: float = 1.0) -> dict[str, Any]:
    """Read each of *urls* every *period* seconds until SIGTERM; return how many scrapes, failures and bytes."""
    counts = {"scrapes": 0, "failures": 0, "bytes": 0, "targets": len(urls)}
    stopping = [False]

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping[0] = True

    signal.signal(signal.SIGTERM, stop)
    with httpx.Client(timeout=5.0, limits=httpx.Limits(keepalive_expiry=1.0)) as client:
        while not stopping[0]:
            started = time.monotonic()
            for url in urls:
                try:
                    answer = client.get(url)
                    ok = answer.status_code == 200 and b"# TYPE" in answer.content
                    counts["bytes"] += len(answer.content)
                except httpx.HTTPError:
                    ok = False
                counts["scrapes" if ok else "failures"] += 1
            time.sleep(max(0.0, period - (time.monotonic() - started)))
    return counts


def _start(root: Path, engine: str, side: str) -> CofferTarget:
    net = CofferNet.start(root / f"metrics-{side}", engine, metrics=side == "on")
    try:
        net.create_user("bench", PASSWORD)
        env = net.login_cli("bench", PASSWORD, root / f"metrics-{side}" / "cli")
    except BaseException:
        net.stop()
        raise
    return CofferTarget(net, env)


def _transfer(target: CofferTarget, source: Path, digest: str, copy: Path) -> tuple[dict[str, float], float]:
    """Move *source* up and back down with the CLI; return the MB/s each way and the CLI's CPU seconds for both."""
    up, _, file_id = target.upload(source)
    down, _ = target.download(file_id, copy)
    if sha256_of(copy) != digest:
        raise RuntimeError("the downloaded copy differs from the source")
    copy.unlink()
    target.remove(file_id)
    size = source.stat().st_size
    return {"up": mb_per_s(size, up.seconds), "down": mb_per_s(size, down.seconds)}, up.cpu_seconds + down.cpu_seconds


def scraped_urls(urls: list[str], scraped: str) -> list[str]:
    """Pick the listeners *scraped* names from a network's metrics URLs (the server's first, then each fileserver's).

    Scraping one side only tells which side pays: a listener nobody reads costs nothing but its idle thread.
    """
    if scraped not in SCRAPED:
        raise ValueError(f"scraped must be one of {', '.join(SCRAPED)}, not {scraped!r}")
    return {"all": urls, "server": urls[:1], "fileservers": urls[1:]}[scraped]


def _order(r: int) -> tuple[str, ...]:
    return SIDES if r % 2 == 0 else SIDES[::-1]


def run(
    root: Path,
    engine: str,
    size: int,
    rounds: int,
    threads: int,
    cp_seconds: float,
    log: Callable[[str], None],
    scraped: str = "all",
    period: float = DEPLOYED_PERIOD,
) -> dict[str, Any]:
    """Measure transfers, then the control plane, on both networks, *rounds* times interleaved.

    *scraped* (:data:`SCRAPED`) says whose listeners the scraper reads on the "on" network, every *period* seconds.
    """
    root.mkdir(parents=True, exist_ok=True)
    source = root / "source"
    digest = make_file(source, size)
    targets: dict[str, CofferTarget] = {}
    scraper: Scraper | None = None
    figures: dict[str, dict[str, list[float]]] = {side: {} for side in SIDES}

    cpu: dict[str, dict[str, list[float]]] = {side: {} for side in SIDES}
    scraping = [0.0]

    def measured(
        side: str, step: Callable[[], tuple[dict[str, float], float]], per: Callable[[float], float] | None = None
    ) -> dict[str, float]:
        """Run *step*, the scraper running only for "on"; record its figures and the CPU spent.

        *step* returns its figures and the CPU its own client processes spent, added to the network's; *per*
        turns a figure into what the CPU is divided by (a control-plane step's thousands of requests).
        """
        assert scraper is not None
        serving = [pid for top in targets[side].net.roots().values() for pid in procs.tree(top)]
        before, started = procs.cpu_seconds(serving), time.monotonic()
        if side == "on":
            scraper.resume()
        try:
            got, client_cpu = step()
        finally:
            if side == "on":
                scraper.pause()
                scraping[0] += time.monotonic() - started
        spent = procs.cpu_seconds(serving) - before + client_cpu
        for key, value in got.items():
            figures[side].setdefault(key, []).append(value)
            cpu[side].setdefault(key, []).append(spent / (per(value) if per else 1.0))
        return got

    try:
        with ThreadPoolExecutor(len(SIDES)) as pool:  # the two start-ups mostly wait: overlap them
            starting = {side: pool.submit(_start, root, engine, side) for side in SIDES}
            for side, future in starting.items():
                targets[side] = future.result()
        scraper = Scraper.start(scraped_urls(targets["on"].net.metrics_urls, scraped), period)
        time.sleep(1.5)
        scraper.pause()
        for r in range(rounds):
            for side in _order(r):
                got = measured(side, lambda s=side: _transfer(targets[s], source, digest, root / "copy"))  # type: ignore[misc]
                log(f"  round {r + 1} metrics {side:<3} {label(size)} up {got['up']:7.1f} down {got['down']:7.1f} MB/s")
        prepared = {side: control_plane.prepare(targets[side].net, threads) for side in SIDES}
        for r in range(rounds):
            for endpoint in control_plane.ENDPOINTS:
                for side in _order(r):

                    def step(s: str = side, e: str = endpoint) -> tuple[dict[str, float], float]:
                        got = control_plane.load(
                            targets[s].net, root / f"cp-{s}", e, threads, cp_seconds, 10**6, prepared[s]
                        )
                        if got["errors"]:
                            raise RuntimeError(f"{e} on metrics {s}: {got['errors']} errors {got['statuses']}")
                        return {e: float(got["req_s"])}, 0.0  # the load's sender is not the network's cost

                    got = measured(side, step, lambda req_s: max(req_s * cp_seconds, 1.0) / 1000)
                    log(f"  round {r + 1} metrics {side:<3} {endpoint:<12} {got[endpoint]:8.1f} req/s")
    finally:
        counts = scraper.stop() if scraper is not None else {}
        for target in targets.values():
            target.net.stop()
        source.unlink(missing_ok=True)
    if not counts.get("scrapes") or counts.get("failures"):
        raise RuntimeError(f"the scraper did not read every program's metrics: {counts}")
    counts["seconds"] = round(scraping[0], 1)
    counts["scraped"] = scraped
    counts["period_s"] = period
    return summarize(figures, size, rounds, threads, cp_seconds, engine, cpu) | {"scraper": counts}


def summarize(
    figures: dict[str, dict[str, list[float]]],
    size: int,
    rounds: int,
    threads: int,
    cp_seconds: float,
    engine: str,
    cpu: dict[str, dict[str, list[float]]] | None = None,
) -> dict[str, Any]:
    """Medians with their spread per side, the ratio on / off of each figure, and whether it is within 3%.

    With *cpu* (per step: seconds per transfer, ms per control-plane request), also the CPU's medians and the
    median of each round's CPU on / off, which must stay at or under ``1 / TARGET``.
    """
    measures: dict[str, Any] = {}
    for key in figures["off"]:
        off, on = summary(figures["off"][key]), summary(figures["on"][key])
        per_round = [ratio(b, a) for a, b in zip(figures["off"][key], figures["on"][key], strict=True)]
        measures[key] = {
            "unit": "req/s" if key in control_plane.ENDPOINTS else "MB/s",
            "off": off,
            "on": on,
            "ratio": round(on["median"] / off["median"], 3) if off["median"] else 0.0,
            "round_ratios": per_round,
            "met": bool(off["median"]) and on["median"] / off["median"] >= TARGET,
        }
        if cpu:
            cpu_rounds = [round(b / a, 3) if a else 0.0 for a, b in zip(cpu["off"][key], cpu["on"][key], strict=True)]
            cpu_ratio = round(statistics.median(cpu_rounds), 3)
            measures[key]["cpu"] = {
                "unit": "ms/request" if key in control_plane.ENDPOINTS else "s/transfer",
                **{side: round(statistics.median(cpu[side][key]), 3) for side in SIDES},
                "ratio": cpu_ratio,
                "round_ratios": cpu_rounds,
                "met": 0 < cpu_ratio <= round(1 / TARGET, 3),
            }
    return {
        "engine": engine,
        "size": size,
        "rounds": rounds,
        "threads": threads,
        "cp_seconds": cp_seconds,
        "target_ratio": TARGET,
        "measures": measures,
    }


def main(argv: list[str]) -> int:
    if argv[:1] != ["scrape"] or len(argv) < 3:
        print("usage: python -m bench.metrics_overhead scrape PERIOD URL...", file=sys.stderr)
        return 2
    json.dump(scrape(argv[2:], float(argv[1])), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
