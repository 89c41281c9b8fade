"""One network whose shards live in the S3 emulator (`s3`), Azurite (`az`) and the GCS emulator (`gcs`).

Files uploaded through the client into each cloud shard download intact, and
listing the buckets directly (boto3, azure-storage-blob, google-cloud-storage)
shows chunk objects that hold ciphertext only; once a file expires, the
listing shows none of its chunks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coffer.client.coffer import Coffer
from coffer.devnet.procs import wait_until
from coffer.server.domain.topology import render_toml
from tests.backends.azure_emulator import AzureEmulator
from tests.backends.gcs_emulator import GcsEmulator
from tests.backends.s3_emulator import MotoEmulator

from .network import Network, start_network
from .test_lifecycle_network import _sweep_at

USER, PASSWORD = "carol", "cloud-shards-password"
CLOUD_SHARDS = ("s3", "az", "gcs")
CLOUD_TOPOLOGY = {
    "shards": [{"name": name} for name in CLOUD_SHARDS],
    "clusters": [{"name": "cloud", "shards": [{"name": name, "read": True, "write": True} for name in CLOUD_SHARDS]}],
}


@dataclasses.dataclass
class CloudNet:
    net: Network
    bucket: str
    container: str
    gcs_bucket: str
    s3: MotoEmulator
    azure: AzureEmulator
    gcs: GcsEmulator

    def names(self, shard: str) -> list[str]:
        """The names of every object in the shard's bucket, listed directly from the emulator."""
        if shard == "s3":
            return [o["Key"] for o in self.s3.client().list_objects_v2(Bucket=self.bucket).get("Contents", [])]
        if shard == "az":
            return [b.name for b in self.azure.service().get_container_client(self.container).list_blobs()]
        return [b.name for b in self.gcs.client().list_blobs(self.gcs_bucket, retry=None, timeout=5)]

    def objects(self, shard: str) -> dict[str, bytes]:
        """Every object in the shard's bucket, read directly from the emulator: name → body."""
        if shard == "s3":
            client = self.s3.client()
            keys = [o["Key"] for o in client.list_objects_v2(Bucket=self.bucket).get("Contents", [])]
            return {k: client.get_object(Bucket=self.bucket, Key=k)["Body"].read() for k in keys}
        if shard == "az":
            container = self.azure.service().get_container_client(self.container)
            return {b.name: container.download_blob(b.name).readall() for b in container.list_blobs()}
        client = self.gcs.client()
        return {b.name: b.download_as_bytes() for b in client.list_blobs(self.gcs_bucket, retry=None, timeout=5)}


@pytest.fixture(scope="module")
def cloud(
    tmp_path_factory: pytest.TempPathFactory,
    s3_emulator: MotoEmulator,
    azure_emulator: AzureEmulator,
    gcs_emulator: GcsEmulator,
) -> Iterator[CloudNet]:
    net = start_network(tmp_path_factory.mktemp("cloud-net"), fileservers=0)
    try:
        assert net.admin is not None
        net.admin.request("POST", "/api/admin/apply", {"config": CLOUD_TOPOLOGY, "prune": False, "dry_run": False})
        bucket = s3_emulator.create_bucket()
        container = f"coffer-{os.urandom(6).hex()}"
        azure_emulator.service().create_container(container)
        gcs_bucket = f"coffer-{os.urandom(6).hex()}"
        gcs_emulator.create_bucket(gcs_bucket)
        config: dict[str, Any] = net.admin.request("GET", "/api/admin/clusters/cloud/config")["config"]
        s3_keys = dataclasses.asdict(s3_emulator.options(bucket))
        for shard in config["shards"]:
            if shard["name"] == "s3":
                shard |= {"backend": "s3"} | {k: v for k, v in s3_keys.items() if v not in ("", None)}
            elif shard["name"] == "gcs":
                shard |= {"backend": "gcs", "bucket": gcs_bucket, "endpoint": gcs_emulator.endpoint}
            else:
                shard |= {
                    "backend": "azure",
                    "container": container,
                    "connection_string": azure_emulator.connection_string,
                }
        path = net.root / "cluster-cloud.toml"
        path.write_text(render_toml(config, {}))
        net.add_fileserver(config=path)
        net.create_user(USER, PASSWORD)
        yield CloudNet(net, bucket, container, gcs_bucket, s3_emulator, azure_emulator, gcs_emulator)
    finally:
        net.stop()


@pytest.mark.parametrize("shard", CLOUD_SHARDS)
def test_files_in_a_cloud_shard_round_trip_and_the_bucket_holds_only_ciphertext(
    cloud: CloudNet, shard: str, tmp_path: Path
) -> None:
    marker = f"CLOUD-MARKER-{os.urandom(6).hex()}".encode()
    source = tmp_path / "plain.txt"
    source.write_bytes(marker * (3 * 1024 * 1024 // len(marker)))
    with Coffer.login(cloud.net.url, USER, PASSWORD, config_dir=tmp_path / "config") as coffer:
        result = coffer.upload(source, shard=shard, chunk_size=1024 * 1024)
        copy = coffer.download(result.file_id, tmp_path / "copy.txt")
        chunks = coffer.api.request("GET", f"/api/files/{result.file_id}")["chunks"]
    assert copy.read_bytes() == source.read_bytes()

    bodies = cloud.objects(shard)
    wanted = {c["hash"] for c in chunks}
    stored = {name.rsplit("/", 1)[-1]: body for name, body in bodies.items()}
    assert wanted <= set(stored), "every chunk of the file is an object in the bucket"
    for name in wanted:
        assert hashlib.sha256(stored[name]).hexdigest() == name
        assert marker not in stored[name], "a bucket must hold ciphertext only"


@pytest.mark.parametrize("shard", CLOUD_SHARDS)
def test_an_expired_files_chunks_leave_the_cloud_bucket(cloud: CloudNet, shard: str, tmp_path: Path) -> None:
    source = tmp_path / "expiring.bin"
    source.write_bytes(os.urandom(2 * 1024 * 1024 + 5))
    with Coffer.login(cloud.net.url, USER, PASSWORD, config_dir=tmp_path / "config") as coffer:
        file_id = coffer.upload(source, shard=shard, chunk_size=1024 * 1024, expires_in=3600).file_id

    def stored() -> list[str]:
        return [name for name in cloud.names(shard) if f"/{file_id}/" in name]

    assert len(stored()) == 3
    assert _sweep_at(cloud.net, time.time() + 7200).expired == 1
    wait_until(lambda: not stored(), 30, f"the expired file's chunks to leave the {shard} bucket")
    admin = cloud.net.admin
    assert admin is not None
    wait_until(lambda: admin.request("GET", "/api/admin/purges") == [], 15, "the purge to be confirmed")
