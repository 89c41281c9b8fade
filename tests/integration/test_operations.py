"""Prometheus metrics from real gunicorn programs: summed over workers, by route template, never naming a user's data.

One network for the module: the server and two fileservers, each with two workers
and its metrics listener on a port of its own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from coffer.client.coffer import Coffer
from coffer.devnet.procs import Service
from coffer.protocol import requestids, routes
from coffer.protocol.api.auth import AUTH_KEY_BYTES, Login

from .network import Network, coffer, free_port, start_network

USER, PASSWORD = "metrics-user-quokka", "metrics-user-pw"
FILE_NAME = "secret-plans-wombat.bin"
MiB = 1024 * 1024

pytestmark = pytest.mark.slow


class Metered:
    """The network, and where each program's metrics are served."""

    def __init__(self, net: Network, server: str, fileservers: list[str]):
        self.net, self.server, self.fileservers = net, server, fileservers


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    root = tmp_path_factory.mktemp("metrics-net")
    server = f"127.0.0.1:{free_port()}"
    net = start_network(root, 0, server_extra={"COFFER_METRICS_BIND": server, "COFFER_METRICS_DIR": str(root / "m")})
    try:
        binds = [f"127.0.0.1:{free_port()}" for _ in range(2)]
        for bind in binds:
            net.add_fileserver(env={"COFFER_FS_METRICS_BIND": bind})
        net.create_user(USER, PASSWORD)
        yield Metered(net, server, binds)
    finally:
        net.stop()


def scrape(bind: str) -> str:
    response = httpx.get(f"http://{bind}/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def samples(text: str, name: str, **labels: str) -> float:
    """Sum the samples called *name* whose labels include *labels*."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_a_counter_is_summed_over_the_workers(metered: Metered) -> None:
    url = metered.net.url + routes.INFO
    before = samples(scrape(metered.server), "coffer_http_requests_total", route=routes.INFO, status="200")

    def ask(_: int) -> int:
        with httpx.Client() as client:  # a connection each, so both workers take some
            return sum(client.get(url).status_code == 200 for _ in range(5))

    with ThreadPoolExecutor(8) as pool:
        answered = sum(pool.map(ask, range(8)))
    assert answered == 40
    text = scrape(metered.server)
    assert samples(text, "coffer_http_requests_total", route=routes.INFO, status="200") - before == 40
    assert samples(text, "coffer_http_request_duration_seconds_count", route=routes.INFO) >= 40
    files = os.listdir(Path(metered.net.root / "m"))
    assert len({name.rsplit("_", 1)[-1] for name in files if name.startswith("counter_")}) >= 2, files


def test_an_upload_is_counted_on_the_server_and_the_fileservers_and_names_nothing(
    metered: Metered, tmp_path: Path
) -> None:
    source = tmp_path / FILE_NAME
    source.write_bytes(os.urandom(3 * MiB))
    with Coffer.login(metered.net.url, USER, PASSWORD, config_dir=tmp_path / "config") as coffer:
        result = coffer.upload(source, chunk_size=MiB)
    server = scrape(metered.server)
    assert samples(server, "coffer_tickets_issued_total", op="put") >= 1
    assert samples(server, "coffer_fileservers_live") == 2
    assert samples(server, "coffer_purge_backlog") == 0
    assert samples(server, "coffer_stored_bytes", shard="default", state="complete") >= 3 * MiB
    ages = [s for f in text_string_to_metric_families(server) for s in f.samples if s.name.endswith("age_seconds")]
    assert len(ages) == 2 and all(0 <= s.value < 30 for s in ages)
    fileservers = [scrape(bind) for bind in metered.fileservers]
    puts = sum(samples(text, "coffer_chunk_requests_total", method="PUT", outcome="ok") for text in fileservers)
    assert puts == 3  # three chunks over the two fileservers, each counted once
    assert sum(samples(text, "coffer_chunk_bytes_total", method="PUT") for text in fileservers) >= 3 * MiB
    for text in fileservers:
        assert samples(text, "coffer_fileserver_registered") == 1
        assert samples(text, "coffer_shard_free_bytes", shard="default", backend="local") > 0
    for text in [server, *fileservers]:
        assert "/api/chunks/{shard}/{file_id}/{chunk_hash}" in text or "/api/files" in text
        for secret in (USER, FILE_NAME, "wombat", result.file_id):
            assert secret not in text, secret


def test_a_failed_login_and_a_refused_ticket_are_counted(metered: Metered) -> None:
    before = scrape(metered.server)
    with httpx.Client(base_url=metered.net.url) as client:
        wrong = client.post(routes.LOGIN, json=Login(USER, bytes(AUTH_KEY_BYTES)).to_json())
        assert wrong.status_code == 401
        no_ticket = client.post(routes.FILE_TICKETS.format(file_id="f" * 32), json={"op": "get"})
        assert no_ticket.status_code == 401
    after = scrape(metered.server)
    for name, labels in [
        ("coffer_login_failures_total", {"outcome": "failed"}),
        ("coffer_tickets_refused_total", {}),
        ("coffer_http_requests_total", {"route": routes.LOGIN, "status": "401"}),
    ]:
        assert samples(after, name, **labels) - samples(before, name, **labels) == 1, name


def test_the_server_and_a_registered_fileserver_are_ready_and_head_answers_alike(metered: Metered) -> None:
    for base in (metered.net.url, metered.net.fileservers[0].url):
        got = httpx.get(base + routes.READY)
        assert got.status_code == 200 and got.json()["status"] == "ready", got.text
        head = httpx.head(base + routes.READY)
        assert head.status_code == 200 and head.content == b""


def test_a_fileserver_is_not_ready_before_it_registers_nor_while_a_shard_cannot_be_written(metered: Metered) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # a server that never answers: it cannot register
    fs = metered.net.add_fileserver(env={"COFFER_FS_SERVER_URL": nowhere}, live=False)
    try:
        assert httpx.get(fs.url + routes.HEALTH).status_code == 200  # alive
        got = httpx.get(fs.url + routes.READY)
        assert got.status_code == 503 and got.json()["error"] == "not_ready"
        assert "registration" in got.json()["message"] and "shard" not in got.json()["message"]
        assert httpx.head(fs.url + routes.READY).status_code == 503
        shard = fs.data_dir / "chunks" / "default"
        shutil.rmtree(shard)
        shard.write_bytes(b"")  # a file where the shard's directory was: nothing can be written there
        message = httpx.get(fs.url + routes.READY).json()["message"]
        assert "shard 'default' cannot be written" in message and "archive" not in message  # archive is read-only
    finally:
        fs.proc.stop()


def test_one_transfers_request_id_is_in_the_server_and_both_fileservers_logs(metered: Metered, tmp_path: Path) -> None:
    """An upload's id on its PUTs; a download's on its GETs, logged when each streamed body closes."""
    source = tmp_path / "traced.bin"
    source.write_bytes(os.urandom(6 * MiB))
    ids = {}
    with Coffer.login(metered.net.url, USER, PASSWORD, config_dir=tmp_path / "config") as coffer:
        for method in ("PUT", "GET"):
            ids[method] = requestids.begin()
            try:
                if method == "PUT":
                    file_id = coffer.upload(source, chunk_size=MiB).file_id
                else:
                    coffer.download(file_id, tmp_path / "copy.bin")
            finally:
                requestids.end()
    assert metered.net.server is not None
    for method, request_id in ids.items():
        marker = f"request_id={request_id}"
        assert marker in metered.net.server.tail(10**7)
        for fs in metered.net.fileservers[:2]:
            lines = [line for line in fs.proc.tail(10**7).splitlines() if marker in line]
            assert any("event=transfer" in line and f"method={method}" in line for line in lines), (fs.name, method)


def test_the_cli_prints_the_request_id_with_an_error_and_the_server_logged_it(metered: Metered, tmp_path: Path) -> None:
    env = metered.net.cli_env(tmp_path / "config", COFFER_USER=USER, COFFER_PASSWORD=PASSWORD)
    done = subprocess.run(coffer("info", "f" * 32), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    found = re.search(r"\(request id: ([0-9a-f]{16})\)$", done.stderr.strip())
    assert found, done.stderr
    assert metered.net.server is not None
    assert f"request_id={found.group(1)}" in metered.net.server.tail(10**7)


def test_a_real_prometheus_scrapes_the_server_and_answers_a_coffer_metric(metered: Metered, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian's prometheus package: make test-tools installs it)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: coffer-server\n    static_configs: [{{targets: ['{metered.server}']}}]\n"
    )
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    prometheus = Service("prometheus", args, tmp_path / "prometheus.log").start()
    try:

        def live_fileservers() -> float | None:
            try:
                got = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": "coffer_fileservers_live"})
            except httpx.TransportError:
                return None
            result = got.json()["data"]["result"] if got.status_code == 200 else []
            return float(result[0]["value"][1]) if result else None

        prometheus.wait_ready(lambda: live_fileservers() is not None, timeout=30)
        assert live_fileservers() == 2
    finally:
        prometheus.stop()
