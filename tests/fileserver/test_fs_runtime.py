"""What makes one fileserver out of several processes: shared counters, the agent process, gunicorn settings."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from coffer.fileserver.agent.process import AgentProcess
from coffer.fileserver.counters import SharedCounters
from coffer.fileserver.run import gunicorn_options
from coffer.fileserver.settings import Settings


def test_counters_written_in_a_forked_worker_are_seen_by_the_master() -> None:
    table = SharedCounters(slots=4)
    slot = table.assign("worker")
    assert slot is not None
    pid = os.fork()
    if pid == 0:  # the "worker"
        counters = table.slot(slot)
        counters.claim(os.getpid())
        counters.begin()
        counters.moved(12345)
        counters.created()
        os._exit(0)
    os.waitpid(pid, 0)
    totals = table.totals()
    assert (totals.active, totals.bytes, totals.created) == (1, 12345, 1)
    table.release(slot)  # the worker died: its transfers ended with it, its bytes still count
    assert table.totals().active == 0 and table.totals().bytes == 12345


def test_slots_are_reused_after_a_worker_exits() -> None:
    table = SharedCounters(slots=2)
    first, second = table.assign("a"), table.assign("b")
    assert (first, second) == (0, 1) and table.assign("c") is None
    table.release(first)
    assert table.assign("d") == 0


def test_agent_process_runs_once_and_stops_on_request(tmp_path: Path) -> None:
    ready, marker = tmp_path / "ready", tmp_path / "stopped"

    def main(stop: threading.Event) -> int:
        ready.touch()
        stop.wait()
        marker.write_text("clean")
        return 0

    agent = AgentProcess(main)
    agent.start()
    assert agent.alive()
    for _ in range(500):
        if ready.exists():
            break
        time.sleep(0.01)
    agent.stop(timeout=5)
    assert not agent.alive() and agent.pid is None
    assert marker.read_text() == "clean"


def test_a_stop_sent_the_moment_the_agent_starts_is_not_lost(tmp_path: Path) -> None:
    marker = tmp_path / "stopped"

    def main(stop: threading.Event) -> int:
        time.sleep(0.2)  # SIGTERM arrives before anything below could look at it
        stop.wait(10)
        marker.write_text("clean")
        return 0

    agent = AgentProcess(main)
    agent.start()
    started = time.monotonic()
    agent.stop(timeout=5)
    assert marker.read_text() == "clean" and time.monotonic() - started < 2


def test_agent_process_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    ready = tmp_path / "ready"

    def main(stop: threading.Event) -> int:
        ready.touch()
        time.sleep(30)  # a hung agent: it never looks at *stop*
        return 0

    agent = AgentProcess(main)
    pid = agent.start()
    for _ in range(500):
        if ready.exists():
            break
        time.sleep(0.01)
    started = time.monotonic()
    agent.stop(timeout=0.3)
    assert time.monotonic() - started < 3
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_gunicorn_runs_threaded_workers_without_a_control_socket(settings: Settings) -> None:
    options = gunicorn_options(settings)
    assert options["control_socket_disable"] is True
    assert options["worker_class"] == "coffer.serving.edges.JsonErrorWorker"
    assert (options["workers"], options["threads"]) == (2, 32)
    assert options["keepalive"] == 2 and options["graceful_timeout"] == 5
    assert options["limit_request_field_size"] == 65536
    assert options["bind"] == [settings.fileserver.bind]


def test_gunicorn_accepts_our_settings_and_hooks(settings: Settings) -> None:
    from coffer.fileserver.identity import load_or_create
    from coffer.fileserver.run import FileserverApplication

    application = FileserverApplication(settings, load_or_create(settings.data_dir), SharedCounters(slots=2))
    cfg = application.cfg
    assert cfg.control_socket_disable is True and cfg.worker_class_str == "coffer.serving.edges.JsonErrorWorker"
    assert cfg.when_ready == application._when_ready
