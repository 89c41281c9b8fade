"""One rule for the services the suite needs from outside: skip where missing, except under CI, where fail.

PostgreSQL, Redis, NATS (with JetStream), Azurite and gcp-storage-emulator are each installed apart from the
Python packages. On a developer's machine a missing one skips its tests with the reason;
under CI (``CI`` set, as every CI service sets it) a missing one fails them, so a green
run can never hide a hundred tests that did not run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn, TypeVar

import pytest

from coffer.devnet.emulators.process import EmulatorMissing

T = TypeVar("T")


def under_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(message: str, ci_fix: str) -> NoReturn:
    """Skip the calling test because of *message*; under CI fail it instead, saying how to fix it (*ci_fix*)."""
    if under_ci():
        pytest.fail(f"{message} ({ci_fix})", pytrace=False)
    pytest.skip(message)


def start_emulator(start: Callable[[], T]) -> T:
    """Return what *start* starts; an emulator it finds not installed skips (or, under CI, fails) the test."""
    try:
        return start()
    except EmulatorMissing as exc:
        unavailable(str(exc), "CI needs every emulator: run `make test`, which installs them")
