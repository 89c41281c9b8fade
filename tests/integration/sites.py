"""Offices for the tests: :mod:`coffer.devnet.offices` with the tests' fast heartbeats, or a clear skip.

Where network namespaces cannot be made (not root, no iproute2), a test that needs
offices is skipped saying why, and fails instead when ``CI`` is set: a CI run that
quietly skipped them would claim what it never showed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from coffer.client.coffer import Coffer
from coffer.devnet.offices import TWO_OFFICES, Offices, unavailable

from .network import ADMIN_PASSWORD, FAST_FILESERVER, FAST_SERVER

__all__ = ["ONE_WAY", "TWO_OFFICES", "held_in", "offices_with_user", "require_offices", "start_offices"]

ONE_WAY = {
    "shards": [{"name": "hq-files"}, {"name": "branch-files"}],
    "clusters": [
        {"name": "hq", "shards": [{"name": "hq-files", "read": True, "write": True}]},
        {
            "name": "branch",
            "shards": [{"name": "branch-files", "read": True, "write": True}, {"name": "hq-files", "read": True}],
        },
    ],
}
"""shard-config/office-per-shard.toml with one of its two links: the branch reads head office's shard, not back."""


def require_offices() -> None:
    """Skip (or, under CI, fail) saying why when network namespaces cannot be made here."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the two-office tests cannot run: {reason}")
    pytest.skip(f"the two-office tests need network namespaces: {reason}")


def start_offices(root: Path, topology: dict[str, Any], per_office: int = 1, **extra: Any) -> Offices:
    """Make one office per cluster of *topology*, start the server and *per_office* fileservers in each."""
    require_offices()
    clusters = [str(c["name"]) for c in topology["clusters"]]
    net = Offices.launch(
        root,
        0,
        clusters=clusters,
        topology=topology,
        admin_password=ADMIN_PASSWORD,
        server_extra=FAST_SERVER | extra.pop("server_extra", {}),
        fileserver_extra=FAST_FILESERVER | extra.pop("fileserver_extra", {}),
        **extra,
    )
    try:
        for cluster in clusters:
            for _ in range(per_office):
                net.add_office_fileserver(cluster)
    except BaseException:
        net.stop()
        raise
    return net


@contextmanager
def offices_with_user(
    root: Path, topology: dict[str, Any], name: str, password: str
) -> Iterator[tuple[Offices, Coffer]]:
    """Offices as :func:`start_offices` makes them, with user *name*, and that user's library client at the server.

    The client runs in the root namespace: the tests read through it what the server records.
    """
    net = start_offices(root / "net", topology)
    try:
        net.create_user(name, password)
        with Coffer.login(net.url, name, password, config_dir=root / f"{name}-root") as coffer:
            yield net, coffer
    finally:
        net.stop()


def fileserver_ids(net: Offices, office: str) -> set[str]:
    """Return the ids of the fileservers running in *office*."""
    return {net.fileserver_id(fs) for fs in net.fileservers if fs.host == net.office(office).office_ip}


def held_in(net: Offices, coffer: Coffer, file_id: str, office: str) -> bool:
    """Say whether the server records a copy of every chunk of *file_id* on a fileserver of *office*."""
    ids = fileserver_ids(net, office)
    return all(ids & set(c["fileservers"]) for c in coffer.api.get_file(file_id).to_json()["chunks"])
