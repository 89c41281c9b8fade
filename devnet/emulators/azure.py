"""Azurite (the Azure Blob emulator) as a subprocess on 127.0.0.1, for the Azure backend's tests and benchmarks.

Azurite comes from npm (``tests/emulators``, installed by ``make test``). It is started
in its own process group, logging to a file in a temp dir, with its data in that
dir too, so :meth:`AzureEmulator.stop` and :meth:`AzureEmulator.start` bring it
back on the same port with the same blobs: that is how the tests show that the
backend fails fast while the service is down and recovers once it is back.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from coffer.fileserver.storage.azure import AzureBackend, AzureOptions

from .process import EmulatorMissing, EmulatorProcess, Store

AZURITE = Path(__file__).resolve().parents[2] / "tests" / "emulators" / "node_modules" / ".bin" / "azurite-blob"
"""Where ``make`` installs Azurite in a checkout."""
ACCOUNT = "devstoreaccount1"
# SECURITY: Azurite's published development key (the same in every Azurite); it protects nothing.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzureEmulator(EmulatorProcess):
    """One Azurite blob service; ``start()`` and ``stop()`` may be called again and again (the blobs stay)."""

    name = "azurite"
    grace = 8.0  # Azurite takes 2-3 s to exit after SIGTERM

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        """SECURITY: carries the (public, emulator-only) account key."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.account_url};"
        )

    def start(self, timeout: float = 20.0) -> None:
        if not AZURITE.exists():
            raise EmulatorMissing("Azurite is not installed: run `make test` (npm ci --prefix tests/emulators)")
        super().start(timeout)

    def command(self) -> list[str]:
        data = self.dir / "data"
        data.mkdir(exist_ok=True)
        args = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(data)]
        return [*args, "--skipApiVersionCheck", "--disableTelemetry", "--silent"]

    def service(self) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.connection_string, retry_total=0)


def make_azure_store(emulator: AzureEmulator, tmp_path: Path, *, block_size: int = 8 << 20) -> Store:
    """Return a backend on a fresh container, with a probe for everything in it that is not a chunk."""

    container = f"coffer-{secrets.token_hex(6)}"
    emulator.service().create_container(container)
    options = AzureOptions(container=container, connection_string=emulator.connection_string, block_size=block_size)
    backend = AzureBackend.from_options(options, shard="test", data_dir=tmp_path)
    return Store(backend, lambda: leftovers(emulator, container, backend))


def leftovers(emulator: AzureEmulator, container: str, backend: AzureBackend) -> list[str]:
    """List blobs that are not chunks, and uncommitted blocks (interrupted uploads) of any blob."""
    client = emulator.service().get_container_client(container)
    found: list[str] = []
    for blob in client.list_blobs(include=["uncommittedblobs"]):
        if backend.chunk_of(blob.name) is None:
            found.append(blob.name)
        try:
            _, uncommitted = client.get_blob_client(blob.name).get_block_list("uncommitted")
        except ResourceNotFoundError:
            continue
        found += [f"{blob.name} (uncommitted block {block.id})" for block in uncommitted]
    return sorted(found)
