"""The session's GCS emulator for the tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coffer.devnet.emulators.gcs import GcsEmulator as GcsEmulator
from coffer.devnet.emulators.gcs import make_gcs_store as make_gcs_store
from tests.services import start_emulator


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    """The in-memory GCS emulator for the session; not installed, it skips the tests, or fails them under CI."""
    emulator = GcsEmulator()
    try:
        start_emulator(emulator.start)
        yield emulator
    finally:
        emulator.close()
