"""``coffer devnet`` (what ``make run`` runs) brings a network up and takes all of it down again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from coffer.devnet.command import FILESERVER_PORTS, SERVER_PORT
from coffer.devnet.procs import clean_env, coffer_command, port_free, wait_until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_children(int(child))]
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def test_two_terminations_in_a_row_still_stop_every_process_devnet_started(tmp_path: Path) -> None:
    if not all(port_free(p) for p in (SERVER_PORT, *FILESERVER_PORTS)):
        pytest.fail(f"ports {SERVER_PORT} and {FILESERVER_PORTS} must be free for coffer devnet")
    shard_config = REPO / "shard-config" / "local.toml"
    args = coffer_command("devnet", "--var", str(tmp_path / "var"), "--shard-config", str(shard_config))
    devnet = subprocess.Popen(args, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    descendants: list[int] = []
    try:
        assert devnet.stdout is not None
        started = time.monotonic()
        for line in devnet.stdout:
            if "Ctrl-C stops everything" in line or time.monotonic() - started > 90:
                break
        descendants = _children(devnet.pid)
        assert len(descendants) >= 3, "a server and two fileservers"
        devnet.send_signal(signal.SIGTERM)
        for line in devnet.stdout:
            if "stopping" in line:
                break
        devnet.send_signal(signal.SIGTERM)  # while it stops what it started
        devnet.wait(60)
        wait_until(lambda: not any(_alive(pid) for pid in descendants), 30, "every process devnet started to stop")
    finally:
        if devnet.poll() is None:
            devnet.kill()
            devnet.wait()
        for pid in descendants:  # what devnet left behind, when this test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        assert devnet.stdout is not None
        devnet.stdout.close()
