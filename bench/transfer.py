"""One client moving one file: the ceiling, the peer and Coffer, side by side in interleaved rounds.

For each round, each file size and each target (nginx+curl, rclone crypt, Coffer
on SQLite, Coffer on PostgreSQL, in an order that rotates every round so that no
target always goes first), the file goes up and comes back down into a file on
the same disk; the copy is checked against the source's SHA-256 before its time
counts. Each step records the client's peak RSS (wait4), and for Coffer each
fileserver's peak during that step (VmHWM, reset before it).
"""

from __future__ import annotations

import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import procs
from .ceiling import Nginx, crypto_cost, sha256_rate
from .coffer_net import CofferNet, coffer_command
from .datafiles import label, make_file, sha256_of
from .peer import Rclone
from .procs import Measured, Service
from .stats import mb_per_s, ratio, summary

CEILING = "nginx"
PEER = "rclone"
PASSWORD = "bench-password-1"


@dataclass
class Run:
    round: int
    size: int
    target: str
    direction: str
    seconds: float
    client_peak_rss_mib: float
    fileserver_peak_rss_mib: list[float]
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    """CPU time of the serving side during the step: nginx, rclone serve, or the Coffer server and fileservers."""

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "size": self.size,
            "target": self.target,
            "direction": self.direction,
            "seconds": round(self.seconds, 3),
            "mb_s": round(mb_per_s(self.size, self.seconds), 1),
            "client_peak_rss_mib": round(self.client_peak_rss_mib, 1),
            "fileserver_peak_rss_mib": [round(p, 1) for p in self.fileserver_peak_rss_mib],
            "client_cpu_s": round(self.client_cpu_s, 2),
            "server_cpu_s": round(self.server_cpu_s, 2),
        }


@dataclass
class CofferTarget:
    """A network and a CLI session on it; with *agent*, the session's commands go through ``coffer agent``."""

    net: CofferNet
    env: dict[str, str]
    agent: Service | None = None

    @property
    def agent_pid(self) -> int | None:
        return None if self.agent is None else self.agent.pid

    @classmethod
    def start(cls, root: Path, engine: str) -> CofferTarget:
        net = CofferNet.start(root / f"coffer-{engine}", engine)
        try:
            net.create_user("bench", PASSWORD)
            env = net.login_cli("bench", PASSWORD, root / f"coffer-{engine}" / "cli")
        except BaseException:
            net.stop()
            raise
        return cls(net, env)

    def with_agent(self, root: Path) -> CofferTarget:
        """Return a target on the same network whose own session runs its commands through ``coffer agent run``."""
        env = self.net.login_cli("bench", PASSWORD, root / "cli-agent")
        agent = Service("coffer-agent", coffer_command("agent", "run"), root / "cli-agent" / "agent.log", env).start()
        try:
            status = coffer_command("agent", "status")
            agent.wait_ready(lambda: subprocess.run(status, env=env, capture_output=True).returncode == 0)
        except BaseException:
            agent.stop()
            raise
        return CofferTarget(self.net, env, agent)

    def stop_agent(self) -> None:
        if self.agent is not None:
            self.agent.stop()

    def _fileserver_pids(self) -> list[list[int]]:
        return [procs.tree(fs.proc.pid) for fs in self.net.fileservers]

    def measured(self, step: Callable[[], Measured]) -> tuple[Measured, list[float]]:
        """Run *step* with every fileserver's peak reset before it; return it and each fileserver's peak.

        Through an agent, the client's CPU time is the command's plus that of the fork
        that ran it (the agent has reaped it by the time the command exits); its peak
        RSS is the command's alone, the fork's is not sampled.
        """
        trees = self._fileserver_pids()
        procs.reset_peaks([pid for t in trees for pid in t])
        forks_before = procs.reaped_cpu_seconds(self.agent_pid) if self.agent_pid else 0.0
        done = step()
        if self.agent_pid:
            done.cpu_seconds += procs.reaped_cpu_seconds(self.agent_pid) - forks_before
        return done, [max(procs.peak_rss_mib(pid) for pid in t) for t in trees]

    def upload(self, source: Path) -> tuple[Measured, list[float], str]:
        done, peaks = self.measured(
            lambda: procs.run_measured(coffer_command("upload", "--quiet", str(source)), env=self.env)
        )
        return done, peaks, done.stdout.split()[-1]

    def download(self, file_id: str, dest: Path) -> tuple[Measured, list[float]]:
        return self.measured(
            lambda: procs.run_measured(coffer_command("download", "--quiet", file_id, "-o", str(dest)), env=self.env)
        )

    def remove(self, file_id: str) -> None:
        procs.run_measured(coffer_command("rm", file_id), env=self.env)


@dataclass
class Targets:
    nginx: Nginx
    rclone: Rclone
    coffer: dict[str, CofferTarget]

    @classmethod
    def start(cls, root: Path, engines: list[str], agent: bool = True) -> Targets:
        """Start every target; with *agent*, also the first engine's network through ``coffer agent``."""
        started: list[Any] = []
        coffer: dict[str, CofferTarget] = {}
        try:
            started.append(Nginx.start(root / "nginx"))
            started.append(Rclone.start(root / "rclone"))
            for engine in engines:
                coffer[engine] = CofferTarget.start(root, engine)
                started.append(coffer[engine].net)
            if agent and engines:
                coffer[f"{engines[0]}-agent"] = coffer[engines[0]].with_agent(root / f"coffer-{engines[0]}")
        except BaseException:
            for target in coffer.values():
                target.stop_agent()
            for thing in reversed(started):
                thing.stop()
            raise
        return cls(started[0], started[1], coffer)

    def names(self) -> list[str]:
        return [CEILING, PEER, *(f"coffer-{e}" for e in self.coffer)]

    def stop(self) -> None:
        for target in self.coffer.values():
            target.stop_agent()
        for target in self.coffer.values():
            if target.agent_pid is None:
                target.net.stop()
        self.rclone.stop()
        self.nginx.stop()


def _check(copy: Path, expected: str, what: str) -> None:
    if sha256_of(copy) != expected:
        raise RuntimeError(f"{what}: the downloaded copy differs from the source")
    copy.unlink()


def _serving_pids(targets: Targets, name: str) -> list[int]:
    if name == CEILING:
        return procs.tree(targets.nginx.service.pid)
    if name == PEER:
        return procs.tree(targets.rclone.service.pid)
    return [pid for top in targets.coffer[name.removeprefix("coffer-")].net.roots().values() for pid in procs.tree(top)]


def one_target(targets: Targets, name: str, r: int, source: Path, digest: str, work: Path) -> list[Run]:
    """Move *source* up and back down with one target; return the two runs."""
    size = source.stat().st_size
    copy = work / "copy"
    serving = _serving_pids(targets, name)
    steps: list[tuple[Measured, list[float], float]] = []

    def step(do: Callable[[], tuple[Measured, list[float]]]) -> None:
        before = procs.cpu_seconds(serving)
        done, peaks = do()
        steps.append((done, peaks, procs.cpu_seconds(serving) - before))

    if name == CEILING:
        step(lambda: (targets.nginx.put(source, source.name), []))
        step(lambda: (targets.nginx.get(source.name, copy), []))
        targets.nginx.forget(source.name)
    elif name == PEER:
        step(lambda: (targets.rclone.upload(source, source.name), []))
        step(lambda: (targets.rclone.download(source.name, copy), []))
        targets.rclone.forget(source.name)
    else:
        target = targets.coffer[name.removeprefix("coffer-")]
        file_id: list[str] = []

        def up() -> tuple[Measured, list[float]]:
            done, peaks, new_id = target.upload(source)
            file_id.append(new_id)
            return done, peaks

        step(up)
        step(lambda: target.download(file_id[0], copy))
        target.remove(file_id[0])
    _check(copy, digest, name)
    return [
        Run(r, size, name, d, m.seconds, m.peak_rss_mib, peaks, m.cpu_seconds, cpu)
        for d, (m, peaks, cpu) in zip(("up", "down"), steps, strict=True)
    ]


def run(
    root: Path, sizes: list[int], rounds: int, engines: list[str], log: Callable[[str], None], agent: bool = True
) -> dict[str, Any]:
    """Measure every target at every size, *rounds* times interleaved; return the section of the report."""
    runs: list[Run] = []
    crypto: dict[int, list[dict[str, float]]] = {}
    hash_rates: list[float] = []
    root.mkdir(parents=True, exist_ok=True)
    sources = {size: root / f"source-{size}" for size in sizes}
    digests = {size: make_file(path, size) for size, path in sources.items()}
    targets = Targets.start(root, engines, agent)
    try:
        names = targets.names()
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for size in sizes:
                for name in order:
                    for done in one_target(targets, name, r, sources[size], digests[size], root):
                        runs.append(done)
                        log(
                            f"  round {r + 1} {label(size):>7} {name:<18} {done.direction:<4} "
                            f"{mb_per_s(size, done.seconds):7.1f} MB/s  client {done.client_peak_rss_mib:6.1f} MiB"
                        )
                crypto.setdefault(size, []).append(crypto_cost(sources[size]))
            hash_rates.append(sha256_rate())
    finally:
        targets.stop()
        for path in sources.values():
            path.unlink(missing_ok=True)
    return summarize(runs, crypto, sizes, rounds, names) | {"sha256_mb_s": round(statistics.median(hash_rates), 1)}


def summarize(
    runs: list[Run], crypto: dict[int, list[dict[str, float]]], sizes: list[int], rounds: int, names: list[str]
) -> dict[str, Any]:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for name in names:
        for size in sizes:
            for direction in ("up", "down"):
                mine = [x for x in runs if x.target == name and x.size == size and x.direction == direction]
                cell = summary([mb_per_s(size, x.seconds) for x in mine])
                cell["client_peak_rss_mib"] = max((x.client_peak_rss_mib for x in mine), default=0.0)
                gigabytes = size / 1e9
                cell["client_cpu_s_per_gb"] = round(statistics.median(x.client_cpu_s for x in mine) / gigabytes, 2)
                cell["server_cpu_s_per_gb"] = round(statistics.median(x.server_cpu_s for x in mine) / gigabytes, 2)
                fs_peaks = [max(x.fileserver_peak_rss_mib) for x in mine if x.fileserver_peak_rss_mib]
                if fs_peaks:
                    cell["fileserver_peak_rss_mib"] = max(fs_peaks)
                table.setdefault(name, {}).setdefault(label(size), {})[direction] = cell
    ratios: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for name in names:
        if not name.startswith("coffer-"):
            continue
        for size in sizes:
            for direction in ("up", "down"):
                mine = table[name][label(size)][direction]["median"]
                ratios.setdefault(name, {}).setdefault(label(size), {})[direction] = {
                    "vs_ceiling": ratio(mine, table[CEILING][label(size)][direction]["median"]),
                    "vs_rclone": ratio(mine, table[PEER][label(size)][direction]["median"]),
                }
    crypto_table = {
        label(size): {
            direction: round(statistics.median(mb_per_s(size, c[f"{direction}_s"]) for c in costs), 1)
            for direction in ("up", "down")
        }
        for size, costs in crypto.items()
    }
    return {
        "sizes": sizes,
        "rounds": rounds,
        "unit": "MB/s (10^6 bytes of the file per second of the whole command)",
        "mb_s": table,
        "ratios": ratios,
        "crypto_one_thread_mb_s": crypto_table,
        "runs": [x.to_json() for x in runs],
    }
