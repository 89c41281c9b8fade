"""The session's S3 emulator (moto) for the tests: one shared server, and the contract suite's store factory."""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.devnet.emulators.process import Store
from coffer.devnet.emulators.s3 import ACCESS_KEY as ACCESS_KEY
from coffer.devnet.emulators.s3 import SECRET_KEY as SECRET_KEY
from coffer.devnet.emulators.s3 import MotoEmulator as MotoEmulator
from coffer.devnet.emulators.s3 import make_s3_store as make_s3_store

_shared: MotoEmulator | None = None


def shared_emulator() -> MotoEmulator:
    """Return the session's emulator, starting it on first use (stopped at exit if no fixture does it)."""
    global _shared
    if _shared is None:
        _shared = MotoEmulator()
        atexit.register(_shared.close)
    _shared.start()
    return _shared


def s3_store(tmp_path: Path) -> Store:
    """The contract suite's factory: ``pytest.param(s3_store, id="s3")`` in ``BACKENDS``."""
    return make_s3_store(shared_emulator(), tmp_path)


@pytest.fixture(scope="session")
def s3_emulator() -> Iterator[MotoEmulator]:
    """The session's moto server; do not stop it in a test (moto forgets everything): use a private one."""
    emulator = shared_emulator()
    yield emulator
    emulator.close()
