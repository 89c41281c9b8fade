"""Two (or more) offices on one machine: network namespaces joined to the server's by shaped veth pairs.

Each office is a network namespace with one veth pair to the root namespace,
addressed from a /30 of ``10.213.0.0/16`` that no interface of the machine uses,
and shaped with ``tc tbf`` in both directions (this kernel has no netem: a test that
needs latency adds it with a delaying TCP proxy). The root namespace routes between
the offices, so their fileservers reach each other through it, as two offices reach
each other through their lines. The server runs in the root namespace on the first
office's line address, which every office reaches; each office's fileservers run
inside its namespace (``ip netns exec``), and a ``coffer`` command run there is a
person in that office. The bytes an office's line carried are the counters of its
root-side veth end.

Everything made here is removed by :meth:`Offices.remove`, which goes on past a
step that fails; names carry a random tag so several runs can stand side by side.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .network import Fileserver, Network
from .procs import free_port

RANGE = ipaddress.IPv4Network("10.213.0.0/16")
"""Where each office's /30 is taken from: private, and clear of the usual home and cloud ranges."""
RATE = "50mbit"
BURST = "64kb"
QUEUE = "200ms"
TWO_OFFICES = {
    "shards": [{"name": "shared"}],
    "clusters": [
        {"name": "office-a", "shards": [{"name": "shared", "read": True, "write": True}]},
        {"name": "office-b", "shards": [{"name": "shared", "read": True, "write": True}]},
    ],
}
"""shard-config/two-offices.toml: both offices read and write one shard."""
FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
SAVED = Path(tempfile.gettempdir()) / "coffer-offices-ip-forward"
"""The machine's own ``ip_forward``, kept while any office run routes (see :class:`Forwarding`)."""
PREFIX = "coffer-"
"""Every namespace made here is named ``coffer-<tag>-<office>``: how one run sees that another still routes."""


class OfficesUnavailable(RuntimeError):
    """This machine or user cannot make network namespaces (not root, no ``ip``, no veth)."""


def run(*args: str) -> str:
    """Run one ``ip``/``tc`` command; raise with its own words when it fails."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def unavailable() -> str | None:
    """Say why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"the {tool!r} command (iproute2) is not installed"
    probe = f"coffer_probe_{secrets.token_hex(3)}"  # not PREFIX: no run may take it for an office of another
    try:
        run("ip", "netns", "add", probe)
    except RuntimeError as exc:
        return f"network namespaces cannot be made here: {exc}"
    run("ip", "netns", "del", probe)
    return None


def free_subnets(count: int) -> list[ipaddress.IPv4Network]:
    """Return *count* /30s of :data:`RANGE` that no address or route of the root namespace touches."""
    used: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [
        ipaddress.ip_interface(word).network for word in run("ip", "-4", "-o", "addr").split() if "/" in word
    ]
    used += [ipaddress.ip_network(line.split()[0]) for line in run("ip", "-4", "route").splitlines() if "/" in line]
    start = secrets.randbelow(1 << 12)
    subnets = list(RANGE.subnets(new_prefix=30))
    picked: list[ipaddress.IPv4Network] = []
    for n in range(len(subnets)):
        candidate = subnets[(start + n) % len(subnets)]
        if not any(candidate.overlaps(u) for u in used):
            picked.append(candidate)
            if len(picked) == count:
                return picked
    raise RuntimeError(f"no free /30 left in {RANGE}")


@dataclass
class Office:
    """One office: its namespace, its line (a veth pair, shaped both ways) and the two ends' addresses."""

    cluster: str
    netns: str
    host_dev: str
    """The root namespace's end of the line: its counters are what the line carried."""
    office_dev: str
    subnet: ipaddress.IPv4Network

    @property
    def host_ip(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def office_ip(self) -> str:
        return str(self.subnet.network_address + 2)

    @property
    def within(self) -> tuple[str, ...]:
        """The words that run a command inside this office."""
        return ("ip", "netns", "exec", self.netns)

    def make(self, rate: str) -> None:
        run("ip", "netns", "add", self.netns)
        run("ip", "link", "add", self.host_dev, "type", "veth", "peer", "name", self.office_dev)
        run("ip", "link", "set", self.office_dev, "netns", self.netns)
        run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_dev)
        run("ip", "link", "set", self.host_dev, "up")
        inside = ("ip", "-n", self.netns)
        run(*inside, "addr", "add", f"{self.office_ip}/30", "dev", self.office_dev)
        run(*inside, "link", "set", self.office_dev, "up")
        run(*inside, "link", "set", "lo", "up")
        run(*inside, "route", "add", "default", "via", self.host_ip)
        shape = ("root", "tbf", "rate", rate, "burst", BURST, "latency", QUEUE)
        run("tc", "qdisc", "add", "dev", self.host_dev, *shape)
        run(*self.within, "tc", "qdisc", "add", "dev", self.office_dev, *shape)

    def remove(self) -> list[str]:
        """Remove the line and the namespace; return what could not be removed (nothing, normally)."""
        left: list[str] = []
        for args in (("ip", "link", "del", self.host_dev), ("ip", "netns", "del", self.netns)):
            try:
                run(*args)
            except RuntimeError as exc:
                if "Cannot find" not in str(exc) and "No such file" not in str(exc):
                    left.append(str(exc))
        return left

    def line_bytes(self) -> int:
        """Return the bytes the line carried so far, both ways."""
        stats = Path("/sys/class/net") / self.host_dev / "statistics"
        return sum(int((stats / f"{way}_bytes").read_text()) for way in ("rx", "tx"))

    def cut(self) -> None:
        """Cut the line (its root-side end down): nothing reaches the office or leaves it."""
        run("ip", "link", "set", self.host_dev, "down")

    def restore(self) -> None:
        """Put the line back up (the address and the office's route come back with it)."""
        run("ip", "link", "set", self.host_dev, "up")


@dataclass
class Forwarding:
    """Routing between the offices in the root namespace, put back as it was when the last office run ends.

    Several runs (pytest workers, a benchmark) may overlap: the first to turn routing on keeps the
    machine's own value in :data:`SAVED`, and the last to end, finding no other run's office,
    puts that value back.
    """

    def enable(self) -> None:
        current = FORWARD.read_text().strip()
        if not SAVED.exists():
            SAVED.write_text(current + "\n")
        if current != "1":
            FORWARD.write_text("1\n")

    def restore(self, own: set[str]) -> None:
        """Put the machine's value back unless namespaces of another run (not in *own*) still route through here."""
        others = [line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip()]
        if any(name.startswith(PREFIX) and name not in own for name in others) or not SAVED.exists():
            return
        FORWARD.write_text(SAVED.read_text())
        SAVED.unlink(missing_ok=True)


@dataclass
class Offices(Network):
    """A :class:`Network` whose server every office reaches, and whose fileservers run in offices.

    One office per name in ``clusters``, made as the server starts (it listens on the first
    office's line address): ``Offices.launch(root, 0, clusters=[...], topology=...)``.
    """

    clusters: list[str] = field(default_factory=list)
    rate: str = RATE
    offices: dict[str, Office] = field(default_factory=dict)
    forwarding: Forwarding = field(default_factory=Forwarding)

    def start_server(self, timeout: float = 60) -> None:
        """Make the offices first: the server listens on the first office's line address."""
        if not self.offices:
            self.make()
        super().start_server(timeout)

    def make(self) -> None:
        tag = secrets.token_hex(2)
        for n, (cluster, subnet) in enumerate(zip(self.clusters, free_subnets(len(self.clusters)), strict=True)):
            office = Office(cluster, f"{PREFIX}{tag}-{n}", f"cf{tag}h{n}", f"cf{tag}o{n}", subnet)
            self.offices[cluster] = office
            office.make(self.rate)
        self.forwarding.enable()
        self.host = next(iter(self.offices.values())).host_ip

    def office(self, cluster: str) -> Office:
        return self.offices[cluster]

    def add_office_fileserver(self, cluster: str, env: dict[str, str] | None = None) -> Fileserver:
        """Start a fileserver of *cluster* inside its office, from that cluster's exported config; wait until live."""
        office = self.offices[cluster]
        config = self.root / f"cluster-{cluster}.toml"
        if not config.exists():
            assert self.admin is not None
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.admin.cluster_config(cluster).toml)
        fs = self._spawn_fileserver(free_port(), config=config, env=env, host=office.office_ip, within=office.within)
        self.wait_fileserver(fs)
        return fs

    def coffer_in(
        self, cluster: str, config_dir: Path, *args: str, stdin: str | None = None, timeout: float = 300, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``coffer ARGS`` as a person in *cluster*'s office whose session lives in *config_dir*."""
        return subprocess.run(
            [*self.offices[cluster].within, *self.command(*args)],
            env=self.cli_env(config_dir, **env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self) -> None:
        """Stop every process, then remove every office (each step tried even when one before it failed)."""
        try:
            super().stop()
        finally:
            self.remove()

    def remove(self) -> None:
        left: list[str] = []
        for office in self.offices.values():
            left += office.remove()
        self.forwarding.restore({o.netns for o in self.offices.values()})
        if left:
            raise RuntimeError("offices not wholly removed: " + "; ".join(left))
