"""Two server instances behind nginx on one PostgreSQL database, limits in Redis: the production layout, for real.

nginx runs the deploy config (``deploy/nginx/coffer.conf``) with both instances in
its upstream; fileservers register and heartbeat through it and are published
through it. One instance SIGKILLed mid-transfer costs no transfer; the retention
sweep acts once across the instances; a login limit reached on one holds on the other.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from coffer.client.coffer import Coffer
from coffer.devnet.procs import wait_until
from coffer.protocol import routes
from coffer.protocol.encoding import b64encode
from tests import postgres
from tests.redis_server import redis_space

from .scaled import ScaledNetwork, launch

USER, PASSWORD = "nell", "nell-integration-pw"
MiB = 1 << 20
FREE_FAILURES = 2

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, pg_databases: postgres.PostgresDatabases) -> Iterator[ScaledNetwork]:
    with redis_space() as space:
        extra = {
            "COFFER_REDIS_URL": space.url,
            "COFFER_REDIS_PREFIX": space.prefix,
            "COFFER_TRUSTED_PROXIES": "127.0.0.1",
            "COFFER_LIFECYCLE_INTERVAL": "1",
            "COFFER_LOGIN_FREE_FAILURES": str(FREE_FAILURES),
            "COFFER_LOGIN_LOCK_FAILURES": "10",
        }
        network = launch(tmp_path_factory.mktemp("scaled-out"), pg_databases.create(), extra)
        try:
            network.create_user(USER, PASSWORD)
            yield network
        finally:
            network.stop()


@pytest.fixture(scope="module")
def coffer(net: ScaledNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coffer]:
    with Coffer.login(net.url, USER, PASSWORD, config_dir=tmp_path_factory.mktemp("nell")) as c:
        yield c


def random_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def requests_logged(log: Path) -> int:
    return sum(1 for line in log.read_text(errors="replace").splitlines() if "request" in line and "route=" in line)


def test_fileservers_register_and_heartbeat_through_nginx(net: ScaledNetwork) -> None:
    listing = net.listing()
    assert sorted(s["url"] for s in listing if s["live"]) == sorted(net.public_url(fs) for fs in net.fileservers)
    access = (net.root / "nginx" / "access.log").read_text()
    for route in (routes.REGISTER, routes.HEARTBEAT):
        assert f'"POST {route} HTTP/1.1" 200' in access, f"{route} passes through nginx"


def test_uploads_and_downloads_through_nginx_use_both_instances(
    net: ScaledNetwork, coffer: Coffer, tmp_path: Path
) -> None:
    for n in range(3):
        digest = random_file(tmp_path / f"in-{n}", 2 * MiB + n)
        file_id = coffer.upload(tmp_path / f"in-{n}", chunk_size=MiB).file_id
        coffer.download(file_id, tmp_path / f"out-{n}")
        assert sha256_of(tmp_path / f"out-{n}") == digest
    served = [requests_logged(s.log) for s in net.instances]
    assert all(count > 0 for count in served), f"nginx spreads requests over both instances: {served}"


def test_a_login_limit_reached_on_one_instance_holds_on_the_other(net: ScaledNetwork) -> None:
    body = {"username": "mallory-target", "auth_key": b64encode(b"x" * 32)}
    first = [httpx.post(net.instance_url(0) + "/api/auth/login", json=body) for _ in range(FREE_FAILURES)]
    assert [r.status_code for r in first] == [401] * FREE_FAILURES
    refused = httpx.post(net.instance_url(1) + "/api/auth/login", json=body)
    assert refused.status_code == 429, "the other instance counts the same failures, kept in Redis"
    assert refused.json()["error"] == "login_throttled"


def test_the_retention_sweep_acts_once_across_instances(net: ScaledNetwork, coffer: Coffer, tmp_path: Path) -> None:
    ids = []
    for n in range(3):
        random_file(tmp_path / f"old-{n}", 100_000)
        ids.append(coffer.upload(tmp_path / f"old-{n}").file_id)
    placeholders = ", ".join("?" for _ in ids)
    net.sql(f"UPDATE files SET expires_at = ? WHERE id IN ({placeholders})", (time.time() - 1, *ids))

    def swept(file_id: str) -> int:
        rows = net.sql("SELECT id FROM audit_log WHERE action = 'file.expired' AND object = ?", (f"file:{file_id}",))
        return len(rows)

    wait_until(lambda: all(swept(i) for i in ids), 20, "the scheduled sweep to expire the files")
    time.sleep(2.5)  # two more sweeps' time, on each of the 4 workers of the 2 instances
    assert [swept(i) for i in ids] == [1, 1, 1], "one holder of the lease acts on each file, once"


def test_a_server_instance_killed_mid_transfer_leaves_every_transfer_complete(
    net: ScaledNetwork, coffer: Coffer, tmp_path: Path
) -> None:
    stored = coffer.stored_session()
    sizes = [24 * MiB + n for n in range(4)]  # long enough that the kill lands mid-transfer on a quiet machine
    digests = [random_file(tmp_path / f"up-{n}", size) for n, size in enumerate(sizes)]
    done: dict[int, str] = {}
    failed: list[BaseException] = []

    def transfer(n: int) -> None:
        try:
            with Coffer.from_session(stored) as c:
                file_id = c.upload(tmp_path / f"up-{n}", chunk_size=MiB, in_flight=2).file_id
                c.download(file_id, tmp_path / f"down-{n}")
                done[n] = sha256_of(tmp_path / f"down-{n}")
        except BaseException as exc:  # noqa: BLE001 - reported below with the others
            failed.append(exc)

    threads = [threading.Thread(target=transfer, args=(n,)) for n in range(len(sizes))]
    for t in threads:
        t.start()
    time.sleep(0.4)
    assert not all(n in done for n in range(len(sizes))), "the kill must land while transfers run"
    net.instances[0].kill()
    # Round robin sends one of any two requests to the dead instance: nginx must pass it on.
    answers = [coffer.api.info().version for _ in range(4)]
    for t in threads:
        t.join(120)
    try:
        assert not failed, f"transfers failed after one instance was killed: {failed!r}"
        assert [done.get(n) for n in range(len(sizes))] == digests
        assert net.instances[0].returncode is not None and net.instances[0].returncode < 0
        assert len(answers) == 4
        dead = net.instance_url(0).removeprefix("http://")
        assert dead in (net.root / "nginx" / "error.log").read_text(), "nginx met the dead instance and moved on"
    finally:
        net.start_instance(0)


PAUSED = "fault injection: create answer paused"
OWN_FILES = "SELECT f.id FROM files f JOIN users u ON u.id = f.owner_id WHERE u.name = ?"


NGINX_FAIL_TIMEOUT = 10.0
"""nginx's default ``fail_timeout``: how long a worker process skips an instance that failed a request."""


def restart_instances(net: ScaledNetwork, extra: dict[str, str]) -> None:
    """Restart every server instance with *extra* settings; wait until nginx sends requests to each again.

    nginx marks an instance that refused a connection down for 10 s, in each of its worker
    processes apart: until every worker sends to both again, killing one instance leaves a
    worker no instance to pass a request on to, and the fileservers' beats through it fail
    (502) past their 3 s lease. Requests through one worker cannot show the others' state,
    so the wait is the timeout itself, counted from the last instance's start.
    """
    for index, service in enumerate(net.instances):
        service.stop()
        service.env = net.instance_env(index) | extra
        net.start_instance(index)
    started = time.monotonic()

    def each_serves() -> bool:
        before = [requests_logged(s.log) for s in net.instances]
        for _ in range(4):
            httpx.get(net.url + routes.INFO)
        return all(requests_logged(s.log) > n for s, n in zip(net.instances, before, strict=True))

    wait_until(each_serves, 60, "nginx to send requests to every restarted instance", interval=0.5)
    time.sleep(max(0.0, started + NGINX_FAIL_TIMEOUT + 0.5 - time.monotonic()))
    every_fileserver_live(net)


def every_fileserver_live(net: ScaledNetwork) -> None:
    """Wait until every fileserver is live again: beats sent to an instance as it stopped were lost."""
    wait_until(lambda: all(net.live(fs) for fs in net.fileservers), 30, "every fileserver to be live", interval=0.2)


def test_a_create_whose_instance_dies_inside_it_is_resent_and_makes_exactly_one_file(
    net: ScaledNetwork, coffer: Coffer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The instance commits the file, then is SIGKILLed before answering: nginx answers 502, the client resends
    the create with the same create id, another instance answers the file already made, and the upload completes."""
    restart_instances(net, {"COFFER_FAULT_CREATE_PAUSE": "5"})
    try:
        logs = [s.log for s in net.instances]
        seen = [len(log.read_text(errors="replace")) for log in logs]
        files_before = len(net.sql(OWN_FILES, (USER,)))
        digest = random_file(tmp_path / "in", 3 * MiB)
        outcome: dict[str, Any] = {}

        def upload() -> None:
            try:
                outcome["id"] = coffer.upload(tmp_path / "in", chunk_size=MiB).file_id
            except BaseException as exc:  # noqa: BLE001 - asserted below
                outcome["error"] = exc

        def inside() -> int | None:
            fresh = [log.read_text(errors="replace")[at:] for log, at in zip(logs, seen, strict=True)]
            return next((i for i, text in enumerate(fresh) if PAUSED in text), None)

        with caplog.at_level("WARNING", logger="coffer.client.server_api"):
            thread = threading.Thread(target=upload)
            thread.start()
            wait_until(lambda: inside() is not None, 30, "the create to be made and paused on an instance", 0.02)
            holder = inside()
            assert holder is not None
            net.instances[holder].kill()
            thread.join(120)
        assert "error" not in outcome, f"the upload failed after its create's instance died: {outcome!r}"
        resent = [r for r in caplog.records if r.getMessage() == "file create resent"]
        assert resent, "the kill landed inside the create: its answer was lost and the create was sent again"
        access = (net.root / "nginx" / "access.log").read_text()
        assert '"POST /api/files?tickets=true HTTP/1.1" 502' in access, "nginx answered the lost create with 502"
        rows = net.sql(OWN_FILES, (USER,))
        assert len(rows) == files_before + 1 and outcome["id"] in {r["id"] for r in rows}, "exactly one file"
        every_fileserver_live(net)
        coffer.download(outcome["id"], tmp_path / "out")
        assert sha256_of(tmp_path / "out") == digest
    finally:
        restart_instances(net, {})
