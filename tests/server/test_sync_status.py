"""Sync status and verify on the server: the backlog and lag per site, and MISSING, EXTRA and CORRUPT per chunk."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol.copies import CopyFailure
from coffer.protocol.messages import ReconcileQuery
from coffer.server.domain import sync_status
from coffer.server.metrics import DatabaseCollector

from .conftest import Harness
from .test_sites import CHUNK, Net


@pytest.fixture
def net(harness: Harness) -> Net:
    return Net(harness)


def status(n: Net) -> dict[tuple[str, str], dict[str, Any]]:
    rows = n.h.call("GET", "/api/admin/sync", token=n.admin).json
    return {(r["shard"], r["site"]): r for r in rows}


def verify(n: Net, shard: str) -> dict[str, Any]:
    answer = n.h.call("GET", f"/api/admin/verify/{shard}", token=n.admin)
    assert answer.status_code == 200, answer.json
    return dict(answer.json)


def test_the_backlog_and_lag_of_a_site_fall_to_zero_as_its_copies_arrive_and_the_rate_counts_them(net: Net) -> None:
    a1, b1 = net.fileserver("a"), net.fileserver("b")
    net.upload("shared", [a1], chunks=2)
    net.h.clock.now += 7
    before = status(net)
    assert (before["shared", "b"]["backlog_chunks"], before["shared", "b"]["backlog_bytes"]) == (2, 2 * CHUNK)
    assert before["shared", "b"]["lag_seconds"] == 7.0
    assert before["shared", "a"]["backlog_chunks"] == 0
    assert verify(net, "shared")["clean"] is False
    net.beat(a1)
    net.copied(b1, net.orders(b1))
    after = status(net)["shared", "b"]
    assert (after["backlog_chunks"], after["lag_seconds"], after["errors"]) == (0, 0.0, 0)
    assert after["bytes_per_s"] == round(2 * CHUNK / 300, 1)
    result = verify(net, "shared")
    assert (result["clean"], result["chunks"], result["entries"]) == (True, 2, [])


def test_a_site_that_only_reads_a_shard_has_a_backlog_and_an_unlinked_site_none(net: Net) -> None:
    a1 = net.fileserver("a")
    net.upload("owned", [a1], chunks=1)
    net.upload("onprem", [a1], chunks=1)
    rows = status(net)
    assert rows["owned", "b"]["backlog_chunks"] == 1 and not rows["owned", "b"]["write"]
    assert ("onprem", "b") not in rows
    sites = {s["site"]: s for s in verify(net, "owned")["sites"]}
    assert (sites["b"]["missing"], sites["a"]["missing"]) == (1, 0)
    assert verify(net, "onprem")["clean"] is True


def test_a_copy_a_fileservers_listing_lacks_is_missing_and_one_its_scrub_found_bad_is_corrupt(net: Net) -> None:
    a1, b1 = net.fileserver("a"), net.fileserver("b")
    file_id = net.upload("shared", [a1], chunks=2)
    given = net.orders(b1)
    net.copied(b1, given)
    assert verify(net, "shared")["clean"] is True
    net.h.clock.now += 61  # the copies are older than a listing's run
    net.beat(a1)
    kept, lost = sorted(o.chunk for o in given)
    query = ReconcileQuery("shared", [file_id], {file_id: [kept]}).to_json()
    assert (
        net.h.call("POST", "/api/fileservers/reconcile", b1.signed("reconcile", query, net.h.clock())).status_code
        == 200
    )
    again = net.orders(b1, corrupt=[{"shard": "shared", "file": file_id, "chunk": kept}])
    assert sorted(o.chunk for o in again) == [kept, lost]  # the site is copied to again, from a
    result = verify(net, "shared")
    assert result["clean"] is False
    assert {(e["site"], e["chunk"], e["status"]) for e in result["entries"]} == {
        ("b", lost, "MISSING"),
        ("b", kept, "CORRUPT"),
    }
    row = status(net)["shared", "b"]
    assert row["backlog_chunks"] == 2
    net.copied(b1, again)
    assert verify(net, "shared")["clean"] is True


def test_a_source_reported_corrupt_by_a_copier_is_corrupt_at_its_site_and_failed_copies_are_errors(net: Net) -> None:
    a1, b1 = net.fileserver("a"), net.fileserver("b")
    net.upload("shared", [a1], chunks=1)
    (order,) = net.orders(b1)
    net.beat(b1, copy_failed=[CopyFailure(order.file, order.chunk, a1.id, "corrupt").to_json()])
    entries = {(e["site"], e["status"], e["fileserver"]) for e in verify(net, "shared")["entries"]}
    assert entries == {("a", "CORRUPT", a1.id), ("b", "MISSING", "")}
    row = status(net)["shared", "b"]
    assert row["errors"] == 1 and row["recent_errors"][0]["given_up"]  # a was the only source
    net.h.clock.now += 86401  # a's scrub kept its copy all day: it was whole after all
    net.beat(a1)
    net.admin = net.h.login("root")
    assert {e["site"] for e in verify(net, "shared")["entries"]} == {"b"}


def test_a_deleted_files_copies_are_extra_until_purged_and_an_unknown_shard_is_404(net: Net) -> None:
    a1 = net.fileserver("a")
    file_id = net.upload("onprem", [a1], chunks=1)
    assert net.h.call("DELETE", f"/api/files/{file_id}", token=net.user).status_code == 204
    result = verify(net, "onprem")
    assert [(e["status"], e["file"], e["chunk"]) for e in result["entries"]] == [("EXTRA", file_id, "")]
    net.beat(a1, purged=[{"shard": "onprem", "file": file_id}])
    assert verify(net, "onprem")["clean"] is True
    missing = net.h.call("GET", "/api/admin/verify/nowhere", token=net.admin)
    assert (missing.status_code, missing.json["error"]) == (404, "shard_not_found")
    assert net.h.call("GET", "/api/admin/sync", token=net.user).status_code == 403


def test_the_metrics_give_the_backlog_lag_and_rate_per_shard_and_site_with_no_user_data_in_labels(net: Net) -> None:
    a1 = net.fileserver("a")
    file_id = net.upload("shared", [a1], chunks=2)
    net.h.clock.now += 30
    collector = DatabaseCollector(
        net.h.db,
        net.h.settings.lease_seconds,
        net.h.clock,
        sites=lambda now: sync_status.status(net.h.db, now, net.h.settings.repair_grace),
    )
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for m in collector.collect() for s in m.samples}
    b = (("shard", "shared"), ("site", "b"))
    assert samples["coffer_sync_backlog_chunks", b] == 2
    assert samples["coffer_sync_backlog_bytes", b] == 2 * CHUNK
    assert samples["coffer_sync_lag_seconds", b] == 30
    assert samples["coffer_sync_copy_bytes_per_second", b] == 0
    assert samples["coffer_shard_below_copies", (("shard", "shared"),)] == 0
    labels = {v for (_, pairs) in samples for _, v in pairs}
    assert file_id not in labels and "alice" not in labels
