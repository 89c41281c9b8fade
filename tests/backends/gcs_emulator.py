"""The session's GCS emulator for the tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coffer.devnet.emulators.gcs import GcsEmulator as GcsEmulator
from coffer.devnet.emulators.gcs import make_gcs_store as make_gcs_store


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    emulator = GcsEmulator()
    try:
        emulator.start()
        yield emulator
    finally:
        emulator.close()
