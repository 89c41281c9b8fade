"""``coffer devnet`` (what ``make run`` runs): it brings a network up, keeps it up, and takes all of it down again."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from coffer.client.api import ServerClient
from coffer.client.coffer import Coffer
from coffer.client.errors import AuthError
from coffer.devnet.command import FILESERVER_PORTS, METRICS_PORTS, SERVER_PORT
from coffer.devnet.procs import clean_env, coffer_command, port_free, wait_until
from coffer.protocol import routes
from coffer.protocol.api.invitations import Invite

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
URL = f"http://127.0.0.1:{SERVER_PORT}"
MiB = 1 << 20


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


class Devnet:
    """A ``coffer devnet`` process, every line it printed so far, and the processes it started."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen
        self.lines: list[str] = []
        self.seen: set[int] = set()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line)

    def close(self) -> None:
        """Read to the end of the output (the process has exited) and close it."""
        self._reader.join(30)
        assert self.popen.stdout is not None
        self.popen.stdout.close()

    def printed(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def wait_for(self, text: str, timeout: float = 90) -> None:
        try:
            wait_until(lambda: self.printed(text) or self.popen.poll() is not None, timeout, repr(text))
        finally:
            assert self.printed(text), "".join(self.lines)

    def descendants(self) -> list[int]:
        found = _children(self.popen.pid)
        self.seen.update(found)
        return found

    def group_on_port(self, port: int) -> int:
        """Return the process group of the service bound to *port* (the way ``fuser -k port/tcp`` finds it)."""
        for pid in self.descendants():
            if f"_BIND=127.0.0.1:{port}".encode() in Path(f"/proc/{pid}/environ").read_bytes():
                return os.getpgid(pid)
        raise AssertionError(f"no process of coffer devnet serves port {port}")


@contextmanager
def devnet(var: Path, **env: str) -> Iterator[Devnet]:
    """Run ``coffer devnet`` on *var* until it says it is running; SIGKILL whatever it leaves behind at the end."""
    if not all(port_free(p) for p in (SERVER_PORT, *FILESERVER_PORTS, *METRICS_PORTS)):
        pytest.fail(f"ports {SERVER_PORT}, {FILESERVER_PORTS} and {METRICS_PORTS} must be free for coffer devnet")
    shard_config = REPO / "shard-config" / "local.toml"
    args = coffer_command("devnet", "--var", str(var), "--shard-config", str(shard_config))
    popen = subprocess.Popen(args, env=clean_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    net = Devnet(popen)
    try:
        net.wait_for("Ctrl-C stops everything")
        net.descendants()
        yield net
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(60)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        for pid in net.seen:  # what devnet left behind, when a test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        net.close()


def test_devnet_serves_metrics_and_readiness_and_two_terminations_in_a_row_still_stop_all_it_started(
    tmp_path: Path,
) -> None:
    """What the README promises of ``make run`` (metrics on 9100-9102, /api/ready on every program), then its stop."""
    with devnet(tmp_path / "var") as net:
        for port in METRICS_PORTS:
            assert net.printed(f"http://127.0.0.1:{port}/metrics")
            assert "coffer_http_requests_total" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
        for port in (SERVER_PORT, *FILESERVER_PORTS):
            assert httpx.get(f"http://127.0.0.1:{port}{routes.READY}").status_code == 200
        descendants = net.descendants()
        assert len(descendants) >= 3, "a server and two fileservers"
        net.popen.send_signal(signal.SIGTERM)
        net.wait_for("stopping")
        net.popen.send_signal(signal.SIGTERM)  # while it stops what it started
        net.popen.wait(60)
        wait_until(lambda: not any(_alive(pid) for pid in descendants), 30, "every process devnet started to stop")


def test_a_fileserver_killed_mid_upload_is_started_again_and_the_upload_completes(tmp_path: Path) -> None:
    with devnet(tmp_path / "var", COFFER_ADMIN_PASSWORD="devnet-admin-pw") as net:
        with ServerClient(URL) as admin:
            admin.login("admin", "devnet-admin-pw")
            code = admin.invite(Invite("carol")).code
        Coffer.join(URL, code, "carol-devnet-pw", config_dir=tmp_path / "config").close()
        victim = net.group_on_port(FILESERVER_PORTS[1])
        source = tmp_path / "big.bin"
        data = os.urandom(48 * MiB)
        source.write_bytes(data)
        killed: list[int] = []

        def kill_half_way(done: int, total: int) -> None:
            if not killed and total // 2 <= done < total:
                os.killpg(victim, signal.SIGKILL)  # master and workers, as `fuser -k -KILL 8102/tcp` does
                killed.append(done)

        with Coffer.login(URL, "carol", "carol-devnet-pw", config_dir=tmp_path / "config") as carol:
            result = carol.upload(source, chunk_size=MiB, in_flight=4, on_progress=kill_half_way)
            assert killed, "the fileserver was killed while the upload ran"
            assert net.popen.poll() is None, "coffer devnet keeps running"
            net.wait_for("fileserver2 stopped unexpectedly (killed by SIGKILL)", 30)
            net.wait_for("fileserver2 is back and live", 60)
            assert net.group_on_port(FILESERVER_PORTS[1]) != victim, "a new fileserver process"
            with ServerClient(URL) as admin:
                admin.login("admin", "devnet-admin-pw")
                live = {s.url for s in admin.fileservers() if s.live}
            assert live == {f"http://127.0.0.1:{port}" for port in FILESERVER_PORTS}
            copy = carol.download(result.file_id, tmp_path / "copy.bin")
            assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(data).digest()
        assert net.popen.poll() is None


def _signs_in(name: str, password: str) -> bool:
    with ServerClient(URL) as client:
        try:
            client.login(name, password)
        except AuthError:
            return False
    return True


def test_the_admin_password_is_chosen_on_the_first_run_and_belongs_to_the_admin_after(tmp_path: Path) -> None:
    var = tmp_path / "var"
    with devnet(var, COFFER_ADMIN_PASSWORD="first-admin-pw") as net:
        assert net.printed("admin / (from COFFER_ADMIN_PASSWORD)")
        with Coffer.login(URL, "admin", "first-admin-pw", config_dir=tmp_path / "config") as admin:
            admin.change_password("first-admin-pw", "changed-admin-pw")  # what `coffer passwd` does

    with devnet(var) as net:  # after `coffer passwd`, with the variable unset
        assert _signs_in("admin", "changed-admin-pw")

    with devnet(var, COFFER_ADMIN_PASSWORD="another-admin-pw") as net:  # the variable set to a new value
        assert net.printed("COFFER_ADMIN_PASSWORD is not used: admin exists already")
        assert _signs_in("admin", "changed-admin-pw") and not _signs_in("admin", "another-admin-pw")
    assert not (var / "admin-password").exists(), "no file names a password admin never had"


def test_every_file_and_directory_of_the_network_is_its_owners_alone_whatever_the_umask(tmp_path: Path) -> None:
    var = tmp_path / "var"
    source = tmp_path / "small.bin"
    source.write_bytes(os.urandom(3 * MiB))
    old_umask = os.umask(0)  # the most permissive: every mode below is one a program chose
    try:
        with devnet(var):
            with ServerClient(URL) as admin:
                admin.login("admin", (var / "admin-password").read_text().strip())
                code = admin.invite(Invite("dave")).code
            Coffer.join(URL, code, "dave-devnet-pw", config_dir=tmp_path / "config").close()
            with Coffer.login(URL, "dave", "dave-devnet-pw", config_dir=tmp_path / "config") as dave:
                dave.upload(source, chunk_size=MiB)
            made = [var, *var.rglob("*")]
            modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.lstat().st_mode) for p in made}
    finally:
        os.umask(old_umask)
    assert {"var/coffer.db", "var/admin-password", "var/fileserver1/identity.json", "var/server.log"} <= modes.keys()
    assert sum(1 for p in made if p.is_file() and len(p.name) == 64) >= 3, "the chunks are among them"
    exposed = {path: oct(mode) for path, mode in modes.items() if mode & 0o077}
    assert exposed == {}
