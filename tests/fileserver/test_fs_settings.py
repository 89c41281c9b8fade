"""Config loading, the persisted identity, and the ``coffer fileserver`` command line."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from coffer.fileserver import cli
from coffer.fileserver.identity import IdentityError, load_or_create
from coffer.fileserver.settings import load_settings, settings_from_table
from coffer.fileserver.storage.local import LocalOptions
from coffer.protocol.ids import new_id
from coffer.protocol.settings import SettingsError
from coffer.protocol.signing import SigningKey

SERVER = SigningKey.generate()
CLUSTER = SigningKey.generate()
CLUSTER_ID = new_id()

EXPORTED = f"""
[server]
url = "http://127.0.0.1:8000"
public_key = "{SERVER.public_text}"

[cluster]
id = "{CLUSTER_ID}"
name = "local"
generation = 1
credential = "{CLUSTER.to_text()}"

[[shards]]
name = "default"
read = true
write = true
backend = "local"
"""


def table(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "server": {"url": "http://127.0.0.1:8000", "public_key": SERVER.public_text},
        "cluster": {"id": CLUSTER_ID, "name": "local", "generation": 1, "credential": CLUSTER.to_text()},
        "shards": [{"name": "default", "read": True, "write": True, "backend": "local"}],
    }
    return base | changes


def load(tbl: dict[str, Any], **env: str) -> Any:
    return settings_from_table(tbl, source="fs.toml", environ=env)


def test_the_exported_cluster_config_boots_with_documented_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fs.toml"
    path.write_text(EXPORTED)
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("COFFER_FS_")]:
        monkeypatch.delenv(name)
    settings = load_settings(path)
    fs = settings.fileserver
    assert (fs.bind, fs.public_url, fs.workers, fs.threads) == ("127.0.0.1:8101", "http://127.0.0.1:8101", 2, 32)
    assert fs.data_dir == tmp_path / "var/fileserver" and fs.data_dir.is_absolute()
    assert (fs.heartbeat_interval, fs.max_chunk_size, fs.scrub_interval) == (10.0, 64 << 20, 3600.0)
    assert (fs.reconcile_interval, fs.reconcile_delay, fs.scrub_delay) == (6 * 3600.0, 300.0, 60.0)
    assert settings.shards[0].options == LocalOptions(path="")
    assert settings.server.ticket_keys == {SERVER.kid: SERVER.public_key}
    assert settings.cluster.signing_key.public_key == CLUSTER.public_key


def test_environment_overrides_the_file() -> None:
    settings = load(
        table(fileserver={"bind": "127.0.0.1:9000"}), COFFER_FS_BIND="127.0.0.1:9100", COFFER_FS_WORKERS="3"
    )
    assert settings.fileserver.bind == "127.0.0.1:9100" and settings.fileserver.workers == 3
    assert settings.public_url == "http://127.0.0.1:9100"


def test_the_credential_can_come_from_the_environment_and_is_never_printed() -> None:
    tbl = table()
    del tbl["cluster"]["credential"]
    settings = load(tbl, COFFER_FS_CLUSTER_CREDENTIAL=CLUSTER.to_text())
    assert CLUSTER.to_text() not in repr(settings)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"server": {"url": "http://x"}}, r"\[server\]: 'public_key' is required"),
        ({"server": {"url": "ftp://x", "public_key": SERVER.public_text}}, "must be an http"),
        ({"server": {"url": "http://x", "public_key": "c2hvcnQ"}}, "32-byte Ed25519 key"),
        ({"cluster": {"id": "x", "name": "local", "generation": 1, "credential": CLUSTER.to_text()}}, "cluster_id"),
        ({"cluster": {"id": CLUSTER_ID, "name": "local", "generation": 1, "credential": "nope"}}, "credential"),
        ({"cluster": {"id": CLUSTER_ID, "name": "local", "generation": "1", "credential": "x"}}, "must be int"),
        ({"shards": []}, "no \\[\\[shards\\]\\]"),
        ({"shards": [{"name": "a"}, {"name": "a"}]}, "listed twice"),
        (
            {"shards": [{"name": "a", "path": "disk/x"}, {"name": "b", "path": "disk//x/"}]},
            "path disk/x is used by more than one local shard",
        ),
        ({"shards": [{"name": "a"}, {"name": "b", "path": "chunks/a"}]}, "path chunks/a is used by more than one"),
        ({"shards": [{"name": "Bad Name"}]}, "invalid shard"),
        ({"shards": [{"name": "a", "read": False, "write": False}]}, "neither readable nor writable"),
        (
            {"shards": [{"name": "a", "backend": "floppy"}]},
            "unknown storage backend 'floppy'; known: azure, gcs, local, s3",
        ),
        ({"shards": [{"name": "a", "bucket": "b"}]}, "unknown setting\\(s\\) bucket; known: path"),
        ({"fileserver": {"bnd": "x"}}, "unknown setting\\(s\\) bnd"),
        ({"fileserver": {"bind": "localhost"}}, "host:port"),
        ({"fileserver": {"bind": "0.0.0.0:8101"}}, "set public_url"),
        ({"fileserver": {"workers": 0}}, "'workers' must be more than 0"),
        ({"fileserver": {"max_chunk_size": 1 << 30}}, "protocol's limit"),
        ({"fileserver": {"log_level": "chatty"}}, "log_level"),
        ({"fileserver": {"reconcile_interval": -1}}, "'reconcile_interval' must be 0"),
        ({"fileserver": {"reconcile_interval": float("inf")}}, "'reconcile_interval' must be 0 .* finite"),
        ({"fileserver": {"reconcile_delay": -5.0}}, "'reconcile_delay' must be 0 or"),
        ({"fileserver": {"reconcile_delay": float("nan")}}, "'reconcile_delay' must be 0 or"),
        ({"fileserver": {"scrub_delay": -1.0}}, "'scrub_delay' must be 0 or"),
        ({"fileserver": {"body_idle_timeout": 0}}, "'body_idle_timeout' must be more than 0"),
        ({"fileserver": {"body_idle_timeout": float("nan")}}, "'body_idle_timeout' must be more than 0"),
        ({"fileserver": {"min_free_bytes": -1}}, "'min_free_bytes' must be 0"),
        ({"fileservers": {}}, "unknown table\\(s\\) fileservers"),
    ],
)
def test_bad_configs_are_refused_with_a_message_naming_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(table(**changes))


def test_reconciliation_can_be_disabled_and_timed_from_the_environment() -> None:
    settings = load(table(), COFFER_FS_RECONCILE_INTERVAL="0", COFFER_FS_RECONCILE_DELAY="30")
    assert (settings.fileserver.reconcile_interval, settings.fileserver.reconcile_delay) == (0.0, 30.0)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="COFFER_FS_THREADS"):
        load(table(), COFFER_FS_THREADS="many")


def test_missing_server_table_says_where_to_get_it() -> None:
    tbl = table()
    del tbl["server"]
    with pytest.raises(SettingsError, match="coffer admin cluster-config"):
        load(tbl)


# -- identity -------------------------------------------------------------------------------------------


def test_identity_is_created_once_and_reused_on_restart(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    again = load_or_create(tmp_path)
    assert again.fileserver_id == first.fileserver_id
    assert again.key.public_key == first.key.public_key
    assert stat.S_IMODE(os.stat(tmp_path / "identity.json").st_mode) == 0o600
    assert os.listdir(tmp_path) == ["identity.json"]  # no temp file left


def test_identity_key_is_not_in_its_repr(tmp_path: Path) -> None:
    identity = load_or_create(tmp_path)
    assert identity.key.to_text() not in repr(identity)


@pytest.mark.parametrize("content", ["{", "[]", '{"v": 2}', '{"v": 1, "id": "x", "key": "y"}', '{"v": 1}'])
def test_damaged_identity_file_stops_start_with_a_clear_message(tmp_path: Path, content: str) -> None:
    (tmp_path / "identity.json").write_text(content)
    with pytest.raises(IdentityError, match="damaged: restore it from a backup, or delete it"):
        load_or_create(tmp_path)


# -- the command line ---------------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="coffer")
    cli.register(parser.add_subparsers(dest="command", required=True), "run a fileserver")
    return parser.parse_args(argv)


def test_cli_registers_the_fileserver_command_with_config(tmp_path: Path) -> None:
    args = parse(["fileserver", "--config", str(tmp_path / "fs.toml")])
    assert args.config == tmp_path / "fs.toml" and args.func is cli.command


def test_cli_takes_the_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COFFER_FS_CONFIG", "/etc/coffer/fs.toml")
    assert parse(["fileserver"]).config == Path("/etc/coffer/fs.toml")


def test_cli_check_accepts_a_good_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fs.toml"
    path.write_text(EXPORTED + f'\n[fileserver]\ndata_dir = "{tmp_path / "data"}"\n')
    args = parse(["fileserver", "--config", str(path), "--check"])
    assert args.func(args) == 0
    assert "OK" in capsys.readouterr().out
    assert not (tmp_path / "data").exists()  # checking changes nothing


def test_cli_bad_config_exits_2_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fs.toml"
    path.write_text(EXPORTED.replace('backend = "local"', 'backend = "floppy"'))
    args = parse(["fileserver", "--config", str(path)])
    assert args.func(args) == 2
    assert "unknown storage backend 'floppy'" in capsys.readouterr().err


def test_cli_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["fileserver", "--config", str(tmp_path / "absent.toml")])
    assert args.func(args) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_without_any_config_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("COFFER_FS_CONFIG", raising=False)
    args = parse(["fileserver"])
    assert args.func(args) == 2
    assert "COFFER_FS_CONFIG" in capsys.readouterr().err


def test_python_m_fileserver_runs_the_same_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from coffer.fileserver.__main__ import main

    path = tmp_path / "fs.toml"
    path.write_text("not = [valid")
    assert main(["--config", str(path), "--check"]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
