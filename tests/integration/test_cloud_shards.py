"""One network whose shard `s3` lives in the S3 emulator and shard `az` in Azurite, next to `default` on disk.

Files uploaded through the client into each cloud shard download intact, and
listing the buckets directly (boto3, azure-storage-blob) shows chunk objects
that hold ciphertext only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client.coffer import Coffer
from server.topology import render_toml
from tests.backends.azure_emulator import AzureEmulator
from tests.backends.s3_emulator import MotoEmulator

from .network import Network, start_network

USER, PASSWORD = "carol", "cloud-shards-password"
CLOUD_TOPOLOGY = {
    "shards": [{"name": "s3"}, {"name": "az"}],
    "clusters": [
        {
            "name": "cloud",
            "shards": [{"name": "s3", "read": True, "write": True}, {"name": "az", "read": True, "write": True}],
        }
    ],
}


@dataclasses.dataclass
class CloudNet:
    net: Network
    bucket: str
    container: str


@pytest.fixture(scope="module")
def cloud(
    tmp_path_factory: pytest.TempPathFactory, s3_emulator: MotoEmulator, azure_emulator: AzureEmulator
) -> Iterator[CloudNet]:
    net = start_network(tmp_path_factory.mktemp("cloud-net"), fileservers=0)
    try:
        assert net.admin is not None
        net.admin.request("POST", "/api/admin/apply", {"config": CLOUD_TOPOLOGY, "prune": False, "dry_run": False})
        bucket = s3_emulator.create_bucket()
        container = f"coffer-{os.urandom(6).hex()}"
        azure_emulator.service().create_container(container)
        config: dict[str, Any] = net.admin.request("GET", "/api/admin/clusters/cloud/config")["config"]
        s3_keys = dataclasses.asdict(s3_emulator.options(bucket))
        for shard in config["shards"]:
            if shard["name"] == "s3":
                shard |= {"backend": "s3"} | {k: v for k, v in s3_keys.items() if v not in ("", None)}
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
        yield CloudNet(net, bucket, container)
    finally:
        net.stop()


@pytest.mark.parametrize("shard", ["s3", "az"])
def test_files_in_a_cloud_shard_round_trip_and_the_bucket_holds_only_ciphertext(
    cloud: CloudNet, shard: str, tmp_path: Path, s3_emulator: MotoEmulator, azure_emulator: AzureEmulator
) -> None:
    marker = f"CLOUD-MARKER-{os.urandom(6).hex()}".encode()
    source = tmp_path / "plain.txt"
    source.write_bytes(marker * (3 * 1024 * 1024 // len(marker)))
    with Coffer.login(cloud.net.url, USER, PASSWORD, config_dir=tmp_path / "config") as coffer:
        result = coffer.upload(source, shard=shard, chunk_size=1024 * 1024)
        copy = coffer.download(result.file_id, tmp_path / "copy.txt")
        chunks = coffer.api.request("GET", f"/api/files/{result.file_id}")["chunks"]
    assert copy.read_bytes() == source.read_bytes()

    if shard == "s3":
        client = s3_emulator.client()
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=cloud.bucket).get("Contents", [])]
        bodies = {k: client.get_object(Bucket=cloud.bucket, Key=k)["Body"].read() for k in keys}
    else:
        container = azure_emulator.service().get_container_client(cloud.container)
        bodies = {b.name: container.download_blob(b.name).readall() for b in container.list_blobs()}
    wanted = {c["hash"] for c in chunks}
    stored = {name.rsplit("/", 1)[-1]: body for name, body in bodies.items()}
    assert wanted <= set(stored), "every chunk of the file is an object in the bucket"
    for name in wanted:
        assert hashlib.sha256(stored[name]).hexdigest() == name
        assert marker not in stored[name], "a bucket must hold ciphertext only"
