"""``coffer agent``: transfers handed to a warm process behave exactly as the plain command, and only for its user.

Each test runs the real ``coffer`` command against a real network, with an
agent started by ``coffer agent start`` in the test's own config directory and
stopped by the fixture (by its PID if it will not stop).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coffer.client.agent.wire import LENGTH_BYTES, MAX_FRAME, Frames, RunRequest, run_frame
from coffer.protocol import __version__

from .network import Network, clean_env, coffer, start_network

PASSWORD = "agent-user-password"
LINK_PASSWORD = "link-password-42"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network = start_network(tmp_path_factory.mktemp("agent-net"))
    try:
        yield network
    finally:
        network.stop()


@pytest.fixture
def agents() -> Iterator[list[int]]:
    """The PIDs of the agents a test starts: each is ended by its PID afterwards (SIGTERM, then SIGKILL)."""
    started: list[int] = []
    try:
        yield started
    finally:
        for pid in started:
            _end(pid)


@pytest.fixture
def user(net: Network, tmp_path: Path, agents: list[int]) -> dict[str, str]:
    """A logged-in user's environment with an agent running for it."""
    name = f"agent{os.urandom(3).hex()}"
    net.create_user(name, PASSWORD)
    env = clean_env(COFFER_CONFIG_DIR=str(tmp_path / "config"), COFFER_SERVER=net.url)
    assert run(["login", name, "--password-stdin"], env, stdin=PASSWORD + "\n").returncode == 0
    start_agent(env, agents)
    return env


def start_agent(env: dict[str, str], agents: list[int]) -> int:
    """Start an agent with ``coffer agent start``; return its PID, recorded for the *agents* fixture to end."""
    started = run(["agent", "start"], env)
    assert started.returncode == 0, started.stderr
    pid = agent_status(env)["pid"]
    assert isinstance(pid, int)
    agents.append(pid)
    return pid


def _end(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    _wait_gone(pid)


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(coffer(*args), env=env, input=stdin, capture_output=True, text=True, timeout=120)


def agent_status(env: dict[str, str]) -> dict[str, object]:
    done = run(["agent", "status", "--json"], env)
    facts: dict[str, object] = json.loads(done.stdout)
    return facts


def served(env: dict[str, str]) -> int:
    count = agent_status(env)["served"]
    assert isinstance(count, int)
    return count


def agent_log(env: dict[str, str]) -> str:
    return (Path(env["COFFER_CONFIG_DIR"]) / "agent.log").read_text()


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_an_upload_and_a_download_through_the_agent_round_trip_and_print_what_the_plain_command_prints(
    user: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "report.bin"
    source.write_bytes(os.urandom(9 * 1024 * 1024 + 7))
    before = served(user)
    up = run(["upload", "--quiet", str(source)], user)
    assert up.returncode == 0, up.stderr
    file_id = up.stdout.split()[-1]
    copy = tmp_path / "copy.bin"
    down = run(["download", "--quiet", file_id, "-o", str(copy)], user)
    assert down.returncode == 0, down.stderr
    assert copy.read_bytes() == source.read_bytes()
    assert served(user) == before + 2, "both commands ran in the agent"
    assert {k: agent_status(user)[k] for k in ("up", "running")} == {"up": True, "running": 0}
    plain = run(["download", "--quiet", file_id, "-o", str(tmp_path / "plain.bin")], user | {"COFFER_AGENT": "off"})
    assert plain.returncode == 0 and served(user) == before + 2, "COFFER_AGENT=off runs the command here"
    assert (up.stderr, down.stderr) == ("", "")


def test_a_command_runs_in_the_callers_directory_with_its_umask(user: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_bytes(b"where am I")
    file_id = run(["upload", "--quiet", str(source)], user).stdout.split()[-1]
    here = tmp_path / "here"
    here.mkdir()
    done = subprocess.run(
        ["sh", "-c", 'umask 077 && exec "$@"', "sh", *coffer("download", "--quiet", file_id)],
        env=user,
        cwd=here,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    written = here / "notes.txt"
    assert written.read_bytes() == b"where am I"
    assert written.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["download", "00000000-0000-4000-8000-000000000000"], 6, "no such file"),
        (["download", "not-an-id"], 1, "invalid file_id"),
        (["upload", "/no/such/file"], 2, "is not a readable file"),
        (["upload"], 2, "usage:"),
    ],
)
def test_exit_codes_and_error_lines_are_the_plain_commands(
    user: dict[str, str], args: list[str], code: int, words: str
) -> None:
    before = served(user)
    through = run(args, user)
    plain = run(args, user | {"COFFER_AGENT": "off"})
    assert served(user) == before + 1
    assert (through.returncode, _without_request_id(through.stderr)) == (code, _without_request_id(plain.stderr))
    assert words in through.stderr


def test_options_the_environment_sets_are_the_callers_not_the_agents(user: dict[str, str], tmp_path: Path) -> None:
    """The agent built the command's parser in its own environment (``main.prepared``); COFFER_SHARD is the caller's."""
    source = tmp_path / "elsewhere.bin"
    source.write_bytes(b"a shard that does not exist")
    elsewhere = user | {"COFFER_SHARD": "no-such-shard"}
    before = served(user)
    through = run(["upload", "--quiet", str(source)], elsewhere)
    plain = run(["upload", "--quiet", str(source)], elsewhere | {"COFFER_AGENT": "off"})
    assert served(user) == before + 1
    assert through.returncode == plain.returncode != 0
    assert "no-such-shard" in through.stderr
    assert _without_request_id(through.stderr) == _without_request_id(plain.stderr)


def test_a_command_over_before_its_caller_goes_on_runs_once_and_says_so_once(user: dict[str, str]) -> None:
    """A usage error can end before the caller has gone on from sending it; the caller must not then run it here too.

    strace holds the caller for 0.3 s after its request leaves, while the agent's fork
    runs the command, reports, and the agent closes the connection (failed once in a
    full run without the hold, on a loaded machine, with the error printed twice).
    """
    held = ["strace", "-f", "-qq", "-o", os.devnull, "-e", "trace=sendmsg", "-e", "inject=sendmsg:delay_exit=300000"]
    before = served(user)
    done = subprocess.run([*held, *coffer("upload")], env=user, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("error: the following arguments are required") == 1, done.stderr
    assert served(user) == before + 1


def _without_request_id(text: str) -> str:
    return text.split(" (request id:")[0]


def _locked_link(user: dict[str, str], tmp_path: Path) -> tuple[str, bytes]:
    source = tmp_path / "locked.bin"
    source.write_bytes(os.urandom(100_000))
    file_id = run(["upload", "--quiet", str(source)], user).stdout.split()[-1]
    link = run(["link", file_id, "--password-stdin"], user, stdin=LINK_PASSWORD + "\n")
    assert link.returncode == 0, link.stderr
    return link.stdout.split()[-1], source.read_bytes()


def _waiting_download(user: dict[str, str], url: str, dest: Path) -> subprocess.Popen[str]:
    """Start a link download that waits for its password on stdin, and wait until it runs in the agent."""
    before = served(user)
    waiting = subprocess.Popen(
        coffer("download", url, "--password-stdin", "--quiet", "-o", str(dest)),
        env=user,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: served(user) == before + 1 and agent_status(user)["running"] == 1, "the command to run")
    return waiting


def test_the_command_reads_the_callers_stdin(user: dict[str, str], tmp_path: Path) -> None:
    url, data = _locked_link(user, tmp_path)
    dest = tmp_path / "unlocked.bin"
    waiting = _waiting_download(user, url, dest)
    out, err = waiting.communicate(LINK_PASSWORD + "\n", timeout=60)
    assert waiting.returncode == 0, err
    assert dest.read_bytes() == data


def test_ctrl_c_reaches_the_command_which_ends_as_the_plain_command_would(user: dict[str, str], tmp_path: Path) -> None:
    url, _ = _locked_link(user, tmp_path)
    waiting = _waiting_download(user, url, tmp_path / "never.bin")
    waiting.send_signal(signal.SIGINT)
    waiting.wait(timeout=60)  # stdin stays open until then: at its end the command would stop waiting for the password
    out, err = waiting.communicate(timeout=10)
    assert waiting.returncode == 130, err
    assert err.strip().startswith("coffer: ")
    _wait_for(lambda: agent_status(user)["running"] == 0, "the command to end")


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_ctrl_z_pauses_the_command_with_the_caller_and_fg_continues_both(user: dict[str, str], tmp_path: Path) -> None:
    """Ctrl-Z stops the caller; the transfer in the agent's fork stops and continues with it.

    Where the caller's process group is orphaned the kernel does not stop it at all,
    and then neither is the fork: the two are compared, not assumed stopped.
    """
    url, data = _locked_link(user, tmp_path)
    dest = tmp_path / "paused.bin"
    waiting = _waiting_download(user, url, dest)
    agent_pid = agent_status(user)["pid"]
    (fork,) = (int(pid) for pid in Path(f"/proc/{agent_pid}/task/{agent_pid}/children").read_text().split())
    waiting.send_signal(signal.SIGTSTP)
    deadline = time.monotonic() + 5
    while _state(waiting.pid) != "T" and time.monotonic() < deadline:
        time.sleep(0.05)
    if _state(waiting.pid) == "T":
        _wait_for(lambda: _state(fork) == "T", "the fork to pause with the caller")
    else:
        assert _state(fork) != "T", "the caller was not stopped (an orphaned group), so neither is the fork"
    waiting.send_signal(signal.SIGCONT)
    _wait_for(lambda: _state(fork) != "T", "the fork to continue")
    out, err = waiting.communicate(LINK_PASSWORD + "\n", timeout=60)
    assert waiting.returncode == 0, err
    assert dest.read_bytes() == data


def test_a_caller_killed_outright_takes_its_command_with_it_and_the_agent_serves_on(
    user: dict[str, str], tmp_path: Path
) -> None:
    url, data = _locked_link(user, tmp_path)
    waiting = _waiting_download(user, url, tmp_path / "never.bin")
    waiting.kill()
    waiting.wait(timeout=60)
    _wait_for(lambda: agent_status(user)["running"] == 0, "the orphaned command to end")
    waiting.communicate(timeout=10)  # only now: the end of its stdin would have ended the command too
    assert "command=download signal=15" in agent_log(user)
    dest = tmp_path / "later.bin"
    done = run(["download", url, "--password-stdin", "--quiet", "-o", str(dest)], user, stdin=LINK_PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == data


def test_with_the_agent_gone_the_command_runs_here(user: dict[str, str], tmp_path: Path, agents: list[int]) -> None:
    pid = agent_status(user)["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    assert (Path(user["COFFER_CONFIG_DIR"]) / "agent.sock").exists(), "a dead agent leaves its socket behind"
    none = run(["agent", "status", "--json"], user)
    assert (none.returncode, json.loads(none.stdout)["up"]) == (3, False)
    source = tmp_path / "alone.bin"
    source.write_bytes(os.urandom(50_000))
    done = run(["upload", "--quiet", str(source)], user)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    start_agent(user, agents)
    assert served(user) == 0


def test_two_uploads_of_one_file_through_forks_get_keys_of_their_own(
    user: dict[str, str], net: Network, tmp_path: Path
) -> None:
    source = tmp_path / "twice.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    ids = [run(["upload", "--quiet", str(source)], user).stdout.split()[-1] for _ in range(2)]
    names = [{p.name for fs in net.fileservers for p in fs.chunk_files(file_id)} for file_id in ids]
    assert names[0] and names[1] and not names[0] & names[1], "each fork made its own random file key"


def _ask(path: str, payload: bytes, fds: list[int] | None = None) -> list[list[bytes]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as agent:
        agent.settimeout(30)
        agent.connect(path)
        sent = socket.send_fds(agent, [payload], fds) if fds else 0
        if sent < len(payload):
            agent.sendall(payload[sent:])
        frames, got = Frames(), []
        while data := agent.recv(65536):
            got += frames.feed(data)
        return got


def test_a_command_of_another_version_is_refused_with_the_way_out(user: dict[str, str], tmp_path: Path) -> None:
    path = str(Path(user["COFFER_CONFIG_DIR"]) / "agent.sock")
    request = run_frame(RunRequest("0.0.1", ["download", "x"], str(tmp_path), 0o022, {}))
    answer = _ask(path, request, [0, 1, 2])
    assert answer[0][0] == b"refused" and b"restart it" in answer[0][1]


def test_callers_that_hang_up_at_once_leave_the_agent_serving(user: dict[str, str], tmp_path: Path) -> None:
    """A caller gone before the agent answers (its ``started``) is no error of the agent's: it serves on."""
    path = str(Path(user["COFFER_CONFIG_DIR"]) / "agent.sock")
    request = run_frame(RunRequest(__version__, ["--version"], str(tmp_path), 0o022, {}))
    for _ in range(10):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as agent:
            agent.connect(path)
            socket.send_fds(agent, [request], [0, 1, 2])
    _wait_for(lambda: agent_status(user)["served"] == 10, "the ten commands to be started")
    _wait_for(lambda: agent_status(user)["running"] == 0, "the ten commands to end")


def test_a_request_of_the_largest_size_runs_and_one_byte_more_is_refused(user: dict[str, str], tmp_path: Path) -> None:
    path = str(Path(user["COFFER_CONFIG_DIR"]) / "agent.sock")
    env = {k.encode(): v.encode() for k, v in user.items()}
    base = len(run_frame(RunRequest(__version__, ["--version"], str(tmp_path), 0o022, env | {b"PAD": b""})))
    env[b"PAD"] = b"x" * (MAX_FRAME + LENGTH_BYTES - base)
    largest = run_frame(RunRequest(__version__, ["--version"], str(tmp_path), 0o022, env))
    assert len(largest) == LENGTH_BYTES + MAX_FRAME
    out = tmp_path / "out"
    with out.open("w") as sink:
        answer = _ask(path, largest, [0, sink.fileno(), sink.fileno()])
    assert [fields[0] for fields in answer[:2]] == [b"started", b"exit"] and answer[1][1] == b"0"
    assert out.read_text() == f"coffer {__version__}\n"
    too_big = (MAX_FRAME + 1).to_bytes(LENGTH_BYTES, "big") + b"x" * 16
    answer = _ask(path, too_big, [0, 1, 2])
    assert answer[0][0] == b"refused" and b"larger than" in answer[0][1]


def test_another_user_is_refused_even_where_the_socket_lets_them_in(user: dict[str, str], agents: list[int]) -> None:
    """The credentials check stands behind the socket's mode: here the socket is opened to everyone on purpose."""
    reachable = Path(tempfile.mkdtemp(prefix="coffer-agent-"))
    try:
        reachable.chmod(0o711)
        env = user | {"COFFER_AGENT_SOCKET": str(reachable / "agent.sock")}
        start_agent(env, agents)
        (reachable / "agent.sock").chmod(0o666)
        probe = (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.connect(sys.argv[1])\n"
            "s.settimeout(20)\n"
            "answer = b''\n"
            "while data := s.recv(100):\n"
            "    answer += data\n"
            "print(answer[4:].decode())\n"
        )
        as_nobody = ["runuser", "-u", "nobody", "--", "python3", "-c", probe]
        done = subprocess.run(
            [*as_nobody, str(reachable / "agent.sock")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "refused\0this agent serves another user"
        assert 'reason="another user"' in (reachable / "agent.log").read_text()
        assert run(["agent", "stop"], env).returncode == 0
    finally:
        shutil.rmtree(reachable, ignore_errors=True)


def test_the_agent_has_done_what_every_transfer_does_first(user: dict[str, str], tmp_path: Path) -> None:
    """What a transfer imports or makes that the agent did not is paid again by every command (see ``warm``).

    Pinned: the modules a transfer imports, and the TLS context its plain HTTP transports need (3 ms in a fork).
    """
    source = tmp_path / "warm.bin"
    source.write_bytes(os.urandom(300_000))
    script = (
        "import contextlib, io, ssl, sys\n"
        "from coffer.client.cli.agent import warm\n"
        "warm()\n"
        "from coffer.client.cli.main import main\n"
        "made = []\n"
        "make = ssl.SSLContext.__new__\n"
        "ssl.SSLContext.__new__ = lambda cls, *a, **k: made.append(cls) or make(cls, *a, **k)\n"
        "before = set(sys.modules)\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    assert main(['upload', sys.argv[1]]) == 0\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['download', out.getvalue().split()[-1], '-o', sys.argv[2]]) == 0\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
        "print(len(made))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(source), str(tmp_path / "copy.bin")],
        env=user | {"COFFER_AGENT": "off"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    imported, contexts = done.stdout.split("\n")[:2]
    assert imported.split() == [], imported
    assert contexts == "0"


def test_an_agent_stopping_leaves_a_socket_another_agent_has_put_in_its_place(
    user: dict[str, str], agents: list[int]
) -> None:
    first = agent_status(user)["pid"]
    assert isinstance(first, int)
    (Path(user["COFFER_CONFIG_DIR"]) / "agent.sock").unlink()
    second = start_agent(user, agents)
    assert second != first
    os.kill(first, signal.SIGTERM)
    _wait_gone(first)
    assert agent_status(user)["pid"] == second
