"""A write-back shard on S3: uploads are acknowledged from the local queue, survive a SIGKILL, drain on restart.

The bucket is deleted once the fileserver has started, so its flusher cannot
upload and every acknowledged chunk waits in ``pending/``; the whole fileserver (master,
workers, agent) is then killed with SIGKILL, the bucket is created, and the
restarted fileserver's agent uploads the queue. The file downloads intact
throughout: first from the queue, then from the cloud.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path
from typing import Any

from coffer.client.coffer import Coffer
from coffer.server.domain.topology import render_toml
from tests.backends.s3_emulator import MotoEmulator

from .network import start_network

USER, PASSWORD = "dave", "write-back-password"
TOPOLOGY = {
    "shards": [{"name": "wb"}],
    "clusters": [{"name": "wb", "shards": [{"name": "wb", "read": True, "write": True}]}],
}


def _bucket_keys(emulator: MotoEmulator, bucket: str) -> list[str]:
    client = emulator.client()
    try:
        return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    except client.exceptions.NoSuchBucket:
        return []


def test_write_back_queue_survives_sigkill_and_drains_after_restart(tmp_path: Path, s3_emulator: MotoEmulator) -> None:
    (tmp_path / "net").mkdir()
    net = start_network(tmp_path / "net", fileservers=0)
    try:
        assert net.admin is not None
        net.admin.request("POST", "/api/admin/apply", {"config": TOPOLOGY, "prune": False, "dry_run": False})
        bucket = s3_emulator.create_bucket()
        config: dict[str, Any] = net.admin.request("GET", "/api/admin/clusters/wb/config")["config"]
        s3_keys = dataclasses.asdict(s3_emulator.options(bucket))
        [shard] = config["shards"]
        shard |= {"backend": "s3"} | {k: v for k, v in s3_keys.items() if v not in ("", None)}
        shard |= {"cache_dir": "cache/wb", "cache_bytes": 64 << 20, "write_back": True}
        path = net.root / "cluster-wb.toml"
        path.write_text(render_toml(config, {}))
        fs = net.add_fileserver(config=path)
        s3_emulator.client().delete_bucket(Bucket=bucket)  # the cloud is gone until after the kill
        net.create_user(USER, PASSWORD)
        pending = fs.data_dir / "cache/wb/pending"

        source = tmp_path / "plain.bin"
        source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
        with Coffer.login(net.url, USER, PASSWORD, config_dir=tmp_path / "config") as coffer:
            result = coffer.upload(source, shard="wb", chunk_size=1024 * 1024)
            assert coffer.download(result.file_id, tmp_path / "early.bin").read_bytes() == source.read_bytes()
            chunks = {c["hash"] for c in coffer.api.request("GET", f"/api/files/{result.file_id}")["chunks"]}
        queued = {f"{result.file_id}.{c}" for c in chunks}  # pending/ holds chunk <file id>/<hash> as <file id>.<hash>
        assert set(os.listdir(pending)) == queued, "every acknowledged chunk waits in the queue"

        fs.proc.kill(signal.SIGKILL)
        assert set(os.listdir(pending)) == queued, "a SIGKILL loses nothing that was acknowledged"
        s3_emulator.create_bucket(bucket)
        net.start_fileserver(fs)

        deadline = time.monotonic() + 30
        while os.listdir(pending) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.listdir(pending) == [], fs.proc.tail()
        assert {k.rsplit("/", 1)[-1] for k in _bucket_keys(s3_emulator, bucket)} == chunks
        assert all(k.split("/")[-2] == result.file_id for k in _bucket_keys(s3_emulator, bucket))
        with Coffer.login(net.url, USER, PASSWORD, config_dir=tmp_path / "config2") as coffer:
            assert coffer.download(result.file_id, tmp_path / "late.bin").read_bytes() == source.read_bytes()
    finally:
        net.stop()
