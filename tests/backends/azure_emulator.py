"""The session's Azurite for the tests: one shared emulator, and the contract suite's store factory."""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.devnet.emulators.azure import ACCOUNT as ACCOUNT
from coffer.devnet.emulators.azure import ACCOUNT_KEY as ACCOUNT_KEY
from coffer.devnet.emulators.azure import AzureEmulator as AzureEmulator
from coffer.devnet.emulators.azure import make_azure_store as make_azure_store
from coffer.devnet.emulators.process import Store
from tests.services import start_emulator

_shared: AzureEmulator | None = None


def shared_emulator() -> AzureEmulator:
    """Return the one Azurite of this test run, starting it on first use (stopped by the fixture or at exit)."""
    global _shared
    if _shared is None:
        emulator = AzureEmulator()
        atexit.register(emulator.close)
        emulator.start()
        _shared = emulator
    elif _shared.proc is None:
        _shared.start()  # a test stopped it and failed before starting it again
    return _shared


@pytest.fixture(scope="session")
def azure_emulator() -> Iterator[AzureEmulator]:
    """Azurite for the whole session, shared with the contract suite's ``azure`` store.

    Not installed, it skips the tests that need it, or fails them under CI.
    """
    yield start_emulator(shared_emulator)
    global _shared
    if _shared is not None:
        _shared.close()
        _shared = None


def azure_store(tmp_path: Path) -> Store:
    """The contract suite's factory (``BACKENDS``): a fresh container on the shared Azurite."""
    return make_azure_store(shared_emulator(), tmp_path)
