"""The dev network's supervisor: a process that stops is named, started again after a back-off, and reported back."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from coffer.devnet.procs import Service
from coffer.devnet.supervise import Backoff, Supervisor, how_it_ended


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeProc:
    """A process that can be made to die, and counts its restarts."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.log = Path(f"{name}.log")
        self.running = True
        self.returncode: int | None = None
        self.restarts = 0

    def alive(self) -> bool:
        return self.running

    def die(self, returncode: int) -> None:
        self.running, self.returncode = False, returncode

    def restart(self) -> FakeProc:
        self.running, self.returncode = True, None
        self.restarts += 1
        return self


def supervised(*names: str, ready: bool = True) -> tuple[Supervisor, list[FakeProc], list[str], Clock]:
    procs = [FakeProc(n) for n in names]
    said: list[str] = []
    clock = Clock()
    supervisor = Supervisor([(p, lambda: ready) for p in procs], say=said.append, clock=clock)
    return supervisor, procs, said, clock


def test_a_killed_fileserver_is_named_and_started_again_after_a_second_while_the_rest_run_on() -> None:
    supervisor, (server, fs1, fs2), said, clock = supervised("server", "fileserver1", "fileserver2")
    fs2.die(-9)
    supervisor.tick()
    assert said == [
        "coffer devnet: fileserver2 stopped unexpectedly (killed by SIGKILL); "
        "starting it again in 1 s (its log: fileserver2.log)"
    ]
    clock.now += 0.5
    supervisor.tick()
    assert fs2.restarts == 0, "not before the back-off"
    clock.now += 0.5
    supervisor.tick()
    assert fs2.restarts == 1 and said[-1] == "coffer devnet: fileserver2 started again"
    supervisor.tick()
    assert said[-1] == "coffer devnet: fileserver2 is back and live"
    assert (server.restarts, fs1.restarts) == (0, 0)


def test_back_is_said_only_once_the_process_is_ready() -> None:
    supervisor, (fs,), said, clock = supervised("fileserver1", ready=False)
    fs.die(1)
    supervisor.tick()
    clock.now += 1
    supervisor.tick()
    supervisor.tick()
    assert said[-1] == "coffer devnet: fileserver1 started again"


def test_a_process_that_keeps_dying_waits_longer_each_time_up_to_half_a_minute() -> None:
    supervisor, (fs,), said, clock = supervised("fileserver1")
    waits = []
    for _ in range(7):
        fs.die(3)
        supervisor.tick()
        waits.append(said[-1].split(" in ")[1].split(" s ")[0])
        clock.now += 30
        supervisor.tick()
    assert waits == ["1", "2", "4", "8", "16", "30", "30"]
    assert "(exit status 3)" in said[0]


def test_a_minute_of_running_forgives_earlier_failures() -> None:
    backoff = Backoff()
    assert [backoff.next(ran_for=1) for _ in range(3)] == [1, 2, 4]
    assert backoff.next(ran_for=60) == 1


def test_how_a_process_ended_is_said_in_words() -> None:
    assert how_it_ended(-15) == "killed by SIGTERM"
    assert how_it_ended(2) == "exit status 2"


def test_a_service_restarts_as_a_new_process_once_its_old_one_is_gone(tmp_path: Path) -> None:
    service = Service("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "sleeper.log")
    service.start()
    try:
        first = service.pid
        service.kill()
        assert service.returncode == -9 and not service.alive()
        service.restart()
        assert service.alive() and service.pid != first
    finally:
        service.kill()


def test_a_running_service_is_not_restarted_over_itself(tmp_path: Path) -> None:
    service = Service("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "sleeper.log")
    service.start()
    try:
        with pytest.raises(RuntimeError, match="sleeper is still running"):
            service.restart()
    finally:
        service.kill()
