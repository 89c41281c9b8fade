"""The `coffer` process itself SIGKILLed half-way through a transfer, then run again: it resumes.

The in-process resume tests interrupt the client with an exception, which lets it
unwind; here the whole program dies at once (nothing flushed, nothing cleaned up)
and the next run must carry on from what its state file says reached disk, sending
or fetching only the rest. One network per module: a server on SQLite, two fileservers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.client import resume
from coffer.devnet.procs import wait_until

from .network import Network, clean_env, coffer, start_network

USER, PASSWORD = "kim", "kim-integration-pw"
MiB = 1024 * 1024
CHUNK = 8 * MiB
"""The command's default chunk size."""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    net = start_network(tmp_path_factory.mktemp("killed-client-net"), fileservers=2)
    try:
        net.create_user(USER, PASSWORD)
        yield net
    finally:
        net.stop()


@pytest.fixture
def cli(network: Network, tmp_path: Path) -> dict[str, str]:
    env = clean_env(COFFER_CONFIG_DIR=str(tmp_path / "config"), COFFER_SERVER=network.url)
    done = subprocess.run(
        coffer("login", USER, "--password-stdin"), env=env, input=PASSWORD + "\n", text=True, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(coffer(*args), env=env, capture_output=True, text=True, timeout=120)


RUN_SHARE = (0.01, 0.04)
"""Seconds the client runs, then stays stopped, in turn while it is watched: a fifth of the wall clock."""


def kill_when(args: list[str], env: dict[str, str], states: Path, reached: int) -> None:
    """Start ``coffer *args*`` and SIGKILL it once its resume state in *states* records *reached* chunks.

    The client records its state at most every half second, and on a fast machine a whole
    transfer of the tests' size takes less: the client is held to a fifth of the wall clock
    (SIGSTOP and SIGCONT in turn), so its state is recorded several times before it could end.
    """

    def progress() -> int:
        for path in states.glob("*.json"):
            state = resume.load_upload(path) or resume.load_download(path)
            if isinstance(state, resume.UploadState):
                return len(state.chunks)
            if isinstance(state, resume.DownloadState):
                return len(state.done)
        return 0

    proc = subprocess.Popen(coffer(*args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = threading.Event()

    def hold_back() -> None:
        running, stopped = RUN_SHARE
        with contextlib.suppress(ProcessLookupError):
            while not watched.is_set():
                time.sleep(running)
                proc.send_signal(signal.SIGSTOP)
                time.sleep(stopped)
                proc.send_signal(signal.SIGCONT)

    holder = threading.Thread(target=hold_back)
    holder.start()
    try:
        wait_until(lambda: progress() >= reached or proc.poll() is not None, 120, f"{reached} chunks", interval=0.01)
    finally:
        proc.send_signal(signal.SIGKILL)  # a stopped process is killed too
        watched.set()
        holder.join()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the transfer was still under way when it was killed"


def chunk_gets(network: Network, file_id: str) -> int:
    """How many chunks of *file_id* the fileservers served (their one log line per transfer)."""
    needle = f"method=GET shard=default file={file_id} "
    return sum(
        1
        for fs in network.fileservers
        for line in fs.proc.tail(10**8).splitlines()
        if needle in line and "status=200" in line
    )


def test_an_upload_killed_half_way_run_again_sends_only_what_had_not_arrived(
    cli: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(20 * CHUNK + 123))
    states = Path(cli["COFFER_CONFIG_DIR"]) / resume.UPLOADS
    kill_when(["upload", str(source), "--quiet"], cli, states, reached=3)
    [state_path] = states.glob("*.json")
    state = resume.load_upload(state_path)
    assert state is not None and 3 <= len(state.chunks) < 21

    done = run(["upload", str(source), "--json"], cli)
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    assert result["resumed"] and result["file_id"] == state.file_id
    assert (result["chunks_skipped"], result["chunks_sent"]) == (len(state.chunks), 21 - len(state.chunks))
    assert not state_path.exists()
    listed = json.loads(run(["ls", "--json"], cli).stdout)
    assert [f["id"] for f in listed if f["name"] == "big.bin"] == [state.file_id], "one file, not two"
    copy = tmp_path / "copy.bin"
    assert run(["download", state.file_id, "-o", str(copy), "--quiet"], cli).returncode == 0
    assert copy.read_bytes() == source.read_bytes()


def test_a_download_killed_half_way_run_again_fetches_only_what_was_not_written(
    network: Network, cli: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(20 * CHUNK + 456))
    file_id = run(["upload", str(source), "--quiet"], cli).stdout.strip().splitlines()[-1]
    dest = tmp_path / "copy.bin"
    states = Path(cli["COFFER_CONFIG_DIR"]) / resume.DOWNLOADS
    kill_when(["download", file_id, "-o", str(dest), "--quiet"], cli, states, reached=3)
    assert not dest.exists() and resume.part_path(dest).exists()
    [state_path] = states.glob("*.json")
    state = resume.load_download(state_path)
    assert state is not None and 3 <= len(state.done) < 21
    served_before = chunk_gets(network, file_id)

    done = run(["download", file_id, "-o", str(dest), "--quiet"], cli)
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == source.read_bytes()
    assert chunk_gets(network, file_id) - served_before == 21 - len(state.done)
    assert not state_path.exists() and not resume.part_path(dest).exists()
