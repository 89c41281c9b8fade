"""The door: which commands it hands over, and that no signal is lost while the agent starts the command."""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path

import pytest

from coffer.client.agent import door
from coffer.client.agent.wire import Frames, parse_number


@pytest.fixture
def no_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COFFER_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("COFFER_AGENT_SOCKET", raising=False)
    monkeypatch.delenv("COFFER_AGENT", raising=False)
    return tmp_path


@pytest.mark.parametrize("argv", [["upload", "f"], ["download", "id"], ["--version"], ["ls"], []])
def test_with_no_agent_every_command_runs_here(no_agent: Path, argv: list[str]) -> None:
    assert door.handed_over(argv) is None


def test_a_socket_nobody_listens_on_means_no_agent(no_agent: Path) -> None:
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(no_agent / door.SOCKET_NAME))  # bound, never listening: what a killed agent leaves
        assert door.handed_over(["upload", "f"]) is None


def test_only_transfers_are_handed_over_and_off_means_off(no_agent: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(no_agent / door.SOCKET_NAME))
        listener.listen(1)
        assert door.handed_over(["ls"]) is None
        assert door.handed_over(["share", "id", "bob"]) is None
        monkeypatch.setenv("COFFER_AGENT", "off")
        assert door.handed_over(["upload", "f"]) is None
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()


def test_an_agent_that_closes_before_starting_the_command_leaves_it_to_run_here(no_agent: Path) -> None:
    """What an agent does to another user's command, or one it cannot take: nothing ran, so it runs here."""
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(no_agent / door.SOCKET_NAME))
        listener.listen(1)

        def take_and_close() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1 << 16)  # the request has come: what the door reads next is the end

        closing = threading.Thread(target=take_and_close)
        closing.start()
        assert door.handed_over(["download", "id"]) is None
        closing.join()


def test_a_signal_before_the_command_started_reaches_it_once_it_has() -> None:
    ours, agents = socket.socketpair()
    with ours, agents:
        relay = door._Relay(ours)
        try:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the agent is still forking
            agents.setblocking(False)
            with pytest.raises(BlockingIOError):
                agents.recv(100)
            relay.arm()
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            relay.restore()
        agents.setblocking(True)
        agents.settimeout(5)
        reader, frames = Frames(), list[list[bytes]]()
        while len(frames) < 2:
            frames += reader.feed(agents.recv(100))
        assert [parse_number(f, b"signal") for f in frames] == [signal.SIGINT, signal.SIGTERM]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
