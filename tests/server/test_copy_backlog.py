"""The copy backlog: what planning reads instead of every chunk holds what lacks a copy, and settles back to empty."""

from __future__ import annotations

import copy
from typing import Any

from .conftest import Harness
from .test_sites import SITES, Net


def backlog(n: Net) -> set[tuple[str, str]]:
    with n.h.db.transaction(readonly=True) as tx:
        return {(r["file_id"], r["hash"]) for r in tx.all("SELECT file_id, hash FROM copy_backlog")}


def chunks_of(n: Net, *file_ids: str) -> set[tuple[str, str]]:
    with n.h.db.transaction(readonly=True) as tx:
        marks = ",".join("?" * len(file_ids))
        return {
            (r["file_id"], r["hash"])
            for r in tx.all(f"SELECT file_id, hash FROM chunks WHERE file_id IN ({marks})", file_ids)
        }


def test_the_backlog_is_empty_once_every_site_holds_every_chunk_and_a_settled_upload_never_stays(
    harness: Harness,
) -> None:
    n = Net(harness)
    a1, b1 = n.fileserver("a"), n.fileserver("b")
    shared = [n.upload("shared", [a1]) for _ in range(3)]
    onprem = n.upload("onprem", [a1])  # one site, one copy: settled as it completes
    n.beat(a1)
    assert backlog(n) == chunks_of(n, *shared)
    given = n.orders(b1)
    assert {o.file for o in given} == set(shared)
    n.copied(b1, given)
    assert backlog(n) == set()
    assert n.orders(a1) == n.orders(b1) == []
    assert n.holders(onprem) == [{a1.id}] * 2


def test_a_lost_copy_puts_its_chunks_back_and_a_fileserver_back_from_beyond_the_grace_takes_them_out(
    harness: Harness,
) -> None:
    n = Net(harness)
    a1, b1, b2 = n.fileserver("a"), n.fileserver("b"), n.fileserver("b")
    file_id = n.upload("shared", [a1, b1])
    n.beat(b2)
    assert backlog(n) == set()
    chunk = sorted(chunks_of(n, file_id))[0][1]
    given = n.orders(b1, corrupt=[{"shard": "shared", "file": file_id, "chunk": chunk}])
    assert [(o.file, o.chunk, o.source) for o in given] == [(file_id, chunk, a1.id)]
    assert backlog(n) == {(file_id, chunk)}
    n.copied(b1, given)
    assert backlog(n) == set()
    n.h.clock.now += n.h.settings.repair_grace + 1  # a1 and b1 fall silent past the grace: no site holds a copy
    n.beat(b2)
    assert backlog(n) == chunks_of(n, file_id)
    n.beat(a1)  # back: their copies count again
    n.beat(b1)
    n.beat(b2)
    assert backlog(n) == set()


def test_a_topology_change_rebuilds_the_backlog_at_the_next_beat(harness: Harness) -> None:
    n = Net(harness)
    a1, b1 = n.fileserver("a"), n.fileserver("b")
    file_id = n.upload("shared", [a1, b1])
    n.beat(a1)
    assert backlog(n) == set()
    more: dict[str, Any] = copy.deepcopy(SITES)
    more["shards"][0]["copies"] = 3  # shared: a third copy wanted
    assert n.h.apply(n.admin, more).status_code == 200
    n.beat(a1)
    assert backlog(n) == chunks_of(n, file_id)
