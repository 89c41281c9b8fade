"""Plan the changes that bring the shards and clusters in the database to a declared state.

Pure: it compares two descriptions and lists what to create, update and (only
when pruning) remove, so ``coffer admin apply`` is idempotent and ``--dry-run``
shows exactly what a real run would do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from coffer.protocol.ids import check_name

from ..errors import BadRequest

DEFAULT_COPIES = 1
MAX_COPIES = 8
"""The most copies a shard may ask for: a finalize carries one receipt per chunk and copy."""


@dataclass(frozen=True)
class Link:
    read: bool
    write: bool
    bandwidth: int = 0
    """Bytes per second the cluster's fileservers may fetch copying this shard's chunks; 0: no cap."""


BIT_UNITS = {"kbit/s": 1_000, "mbit/s": 1_000_000, "gbit/s": 1_000_000_000}
MAX_BANDWIDTH = 100 * 10**9
"""The largest cap taken, 100 Gbit/s: beyond it a cap means nothing."""


def parse_bandwidth(value: object, where: str) -> int:
    """Read a link's ``bandwidth``, a line's rate in bits as lines are sold ("40 Mbit/s"), as bytes per second.

    One form only, so that no one wonders whether ``40`` meant bytes or bits: a number,
    a space, and ``kbit/s``, ``Mbit/s`` or ``Gbit/s``.
    """
    problem = f"{where}: 'bandwidth' must be a rate such as \"40 Mbit/s\" (kbit/s, Mbit/s or Gbit/s), above 0"
    if not isinstance(value, str) or len(value) > 40:
        raise BadRequest(problem, code="invalid_config")
    number, _, unit = value.strip().partition(" ")
    scale = BIT_UNITS.get(unit.strip().lower())
    try:
        figure = float(number)
    except ValueError:
        figure = 0.0
    if scale is None or not 0 < figure or figure * scale > MAX_BANDWIDTH * 8:
        raise BadRequest(problem, code="invalid_config")
    return max(1, int(figure * scale / 8))


@dataclass
class Topology:
    """Shards (name → description, name → copy count) and clusters (name → shard name → link flags)."""

    shards: dict[str, str] = field(default_factory=dict)
    clusters: dict[str, dict[str, Link]] = field(default_factory=dict)
    copies: dict[str, int] = field(default_factory=dict)
    """Fileservers each chunk of the shard is kept on; a shard left out has 1."""

    def copies_of(self, shard: str) -> int:
        return self.copies.get(shard, DEFAULT_COPIES)


@dataclass(frozen=True)
class Change:
    action: Literal["create", "update", "remove"]
    kind: Literal["shard", "cluster", "link"]
    name: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "name": self.name} | self.detail


def _flag(item: dict[str, Any], key: str, where: str) -> bool:
    value = item.get(key, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{where}: '{key}' must be true or false", code="invalid_config")
    return value


def _copies(item: dict[str, Any], shard: str) -> int:
    value = item.get("copies", DEFAULT_COPIES)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_COPIES:
        raise BadRequest(
            f"shard {shard}: 'copies' must be a whole number from 1 to {MAX_COPIES} (2 or more is recommended)",
            code="invalid_config",
        )
    return value


def parse(config: object, known_shards: set[str]) -> Topology:
    """Read a declarative config (the parsed TOML); links may name shards that already exist."""
    if not isinstance(config, dict):
        raise BadRequest("the config must be a table", code="invalid_config")
    unknown = set(config) - {"shards", "clusters"}
    if unknown:
        raise BadRequest(f"unknown section(s) {', '.join(sorted(unknown))}", code="invalid_config")
    wanted = Topology()
    for item in config.get("shards", []):
        if not isinstance(item, dict):
            raise BadRequest("each [[shards]] entry must be a table", code="invalid_config")
        name = check_name(item.get("name"), "shard")
        description = item.get("description", "")
        if not isinstance(description, str) or len(description) > 1000:
            raise BadRequest(f"shard {name}: description must be text of at most 1000 characters")
        if name in wanted.shards:
            raise BadRequest(f"shard {name} is declared twice", code="invalid_config")
        wanted.shards[name] = description
        wanted.copies[name] = _copies(item, name)
    for item in config.get("clusters", []):
        if not isinstance(item, dict):
            raise BadRequest("each [[clusters]] entry must be a table", code="invalid_config")
        name = check_name(item.get("name"), "cluster")
        if name in wanted.clusters:
            raise BadRequest(f"cluster {name} is declared twice", code="invalid_config")
        links: dict[str, Link] = {}
        for link in item.get("shards", []):
            if not isinstance(link, dict):
                raise BadRequest(f"cluster {name}: each shard link must be a table", code="invalid_config")
            shard = check_name(link.get("name"), "shard")
            if shard not in wanted.shards and shard not in known_shards:
                raise BadRequest(f"cluster {name} links to shard {shard}, which is not declared", code="invalid_config")
            where = f"cluster {name}, shard {shard}"
            bandwidth = parse_bandwidth(link["bandwidth"], where) if "bandwidth" in link else 0
            links[shard] = Link(_flag(link, "read", where), _flag(link, "write", where), bandwidth)
        wanted.clusters[name] = links
    return wanted


def plan(current: Topology, wanted: Topology, *, prune: bool) -> list[Change]:
    """List the changes, creations first and removals last, in a stable order."""
    changes: list[Change] = []
    for name, description in sorted(wanted.shards.items()):
        detail: dict[str, Any] = {"description": description, "copies": wanted.copies_of(name)}
        if name not in current.shards:
            changes.append(Change("create", "shard", name, detail))
        elif (current.shards[name], current.copies_of(name)) != (description, wanted.copies_of(name)):
            changes.append(Change("update", "shard", name, detail))
    for name, links in sorted(wanted.clusters.items()):
        have = current.clusters.get(name)
        if have is None:
            changes.append(Change("create", "cluster", name))
            have = {}
        for shard, link in sorted(links.items()):
            detail = {"cluster": name, "shard": shard, "read": link.read, "write": link.write}
            if link.bandwidth:
                detail |= {"bandwidth": link.bandwidth}
            if shard not in have:
                changes.append(Change("create", "link", f"{name}/{shard}", detail))
            elif have[shard] != link:
                changes.append(Change("update", "link", f"{name}/{shard}", detail))
        if prune:
            for shard in sorted(set(have) - set(links)):
                changes.append(Change("remove", "link", f"{name}/{shard}", {"cluster": name, "shard": shard}))
    if prune:
        for name in sorted(set(current.clusters) - set(wanted.clusters)):
            changes.append(Change("remove", "cluster", name))
        for name in sorted(set(current.shards) - set(wanted.shards)):
            changes.append(Change("remove", "shard", name))
    return changes
