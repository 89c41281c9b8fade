"""``pip install .`` with no extras gives a client that works against a running network, and nothing of the servers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.devnet.network import Network
from coffer.devnet.procs import clean_env

REPO = Path(__file__).resolve().parents[2]
# What is not the source, among it what other test workers write while this copies (.hypothesis, caches).
NOT_SOURCE = (
    ".git",
    ".venv",
    "var",
    "build",
    "node_modules",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    "results",
)
SERVER_ONLY = ("falcon", "gunicorn", "psycopg", "psycopg_pool", "redis", "apscheduler")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with ``pip install .`` of a copy of this checkout, no extras.

    A copy, because setuptools builds in the source tree and would leave (and reuse) a ``build/`` there.
    """
    venv = tmp_path_factory.mktemp("client-venv")
    source = tmp_path_factory.mktemp("client-source") / "coffer"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    net = Network.launch(tmp_path_factory.mktemp("install-net"), 1)
    try:
        net.create_user("laptop", "laptop-password")
        yield net
    finally:
        net.stop()


def coffer(venv: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "coffer"), *args], env=env, capture_output=True, text=True, timeout=120, cwd=venv
    )


def test_the_plain_install_has_no_server_dependency(client_venv: Path) -> None:
    probe = f"import importlib.util; print(' '.join(m for m in {SERVER_ONLY!r} if importlib.util.find_spec(m)))"
    done = subprocess.run([str(client_venv / "bin" / "python"), "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"installed without being asked for: {done.stdout.strip()}"


def test_the_plain_install_uploads_and_downloads_through_a_running_network(
    client_venv: Path, network: Network, tmp_path: Path
) -> None:
    env = network.cli_env(tmp_path / "config", COFFER_PASSWORD="laptop-password")
    env.pop("PYTHONPATH", None)  # the fresh install alone, not this checkout
    login = coffer(client_venv, "login", "laptop", env=env)
    assert login.returncode == 0, login.stderr
    source = tmp_path / "notes.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    upload = coffer(client_venv, "upload", "--quiet", str(source), env=env)
    assert upload.returncode == 0, upload.stderr
    copy = tmp_path / "copy.bin"
    download = coffer(client_venv, "download", upload.stdout.strip(), "-o", str(copy), env=env)
    assert download.returncode == 0, download.stderr
    assert copy.read_bytes() == source.read_bytes()


@pytest.mark.parametrize(("command", "extra"), [("server", "server"), ("fileserver", "fileserver")])
def test_a_program_without_its_extra_names_the_extra_to_install(client_venv: Path, command: str, extra: str) -> None:
    env = clean_env()
    env.pop("PYTHONPATH", None)
    done = coffer(client_venv, command, "--config", "missing.toml", env=env)
    assert done.returncode == 2
    assert f"pip install 'coffer[{extra}]'" in done.stderr
    assert "Traceback" not in done.stderr
