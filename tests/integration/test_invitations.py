"""Invitations on real processes: the administrator's client and the server never hold a user's key or password."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from coffer.format import kdf
from coffer.format.errors import IntegrityError
from coffer.format.keys import unwrap_private_key
from coffer.protocol.encoding import b64decode, b64encode

from .network import ADMIN_PASSWORD, Network, clean_env, coffer

CAROL_PASSWORD = "carol-chose-this-herself"


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(coffer(*args), env=env, input=stdin, capture_output=True, text=True, timeout=120)


def config_env(network: Network, config: Path) -> dict[str, str]:
    return clean_env(COFFER_CONFIG_DIR=str(config), COFFER_SERVER=network.url)


def everything_under(root: Path) -> str:
    """Every file under *root*, as text, for a search for secrets."""
    return "\n".join(p.read_bytes().decode("latin-1") for p in sorted(root.rglob("*")) if p.is_file())


def forms(secret: bytes) -> list[str]:
    return [b64encode(secret), secret.hex(), secret.decode("latin-1")]


@pytest.fixture
def admin_env(network: Network, tmp_path: Path) -> dict[str, str]:
    env = config_env(network, tmp_path / "admin-config")
    done = run(["login", network.admin_name, "--password-stdin"], env, stdin=ADMIN_PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return env


def test_the_first_administrator_is_invited_on_the_host_and_makes_their_keys_on_their_own_machine(
    network: Network, tmp_path: Path
) -> None:
    host = subprocess.run(
        coffer("server", "create-admin", "root2"),
        env=network.server_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert host.returncode == 0, host.stderr
    command = next(line.split() for line in host.stdout.splitlines() if line.strip().startswith("coffer join"))
    assert command[:3] == ["coffer", "join", network.url]
    row = network.sql("SELECT COUNT(*) AS n FROM users WHERE name = ?", ("root2",))
    assert row[0]["n"] == 0, "no account, and so no key, exists before its owner joins"
    env = config_env(network, tmp_path / "root2-config")
    joined = run([*command[1:], "--password-stdin"], env, stdin="root2-own-password\n")
    assert joined.returncode == 0, joined.stderr
    assert "joined" in joined.stdout and "made on this machine" in joined.stdout
    listed = run(["admin", "users", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    assert {"root2", network.admin_name} <= {u["name"] for u in json.loads(listed.stdout)}
    origins = network.sql("SELECT name, key_origin FROM users WHERE name IN (?, ?)", ("root2", network.admin_name))
    assert {r["name"]: r["key_origin"] for r in origins} == {"root2": "invitation", network.admin_name: "invitation"}


def test_an_invited_user_joins_and_no_key_or_password_of_theirs_reaches_the_administrator_or_the_server(
    network: Network, admin_env: dict[str, str], tmp_path: Path
) -> None:
    invited = run(["admin", "user", "invite", "carol", "--expires", "2d", "--json"], admin_env)
    assert invited.returncode == 0, invited.stderr
    invitation = json.loads(invited.stdout)
    assert invitation["command"] == f"coffer join {network.url} {invitation['code']}"

    carol_config = tmp_path / "carol-config"
    carol = config_env(network, carol_config)
    joined = run(["join", network.url, invitation["code"], "--password-stdin"], carol, stdin=CAROL_PASSWORD + "\n")
    assert joined.returncode == 0, joined.stderr
    source = tmp_path / "carols.txt"
    source.write_bytes(b"carol's own words")
    uploaded = run(["upload", str(source)], carol)
    assert uploaded.returncode == 0, uploaded.stderr

    stored = json.loads((carol_config / "session.json").read_text())
    private_key, public_key = b64decode(stored["private_key"]), b64decode(stored["public_key"])
    admin_side = invited.stdout + invited.stderr + everything_under(tmp_path / "admin-config")
    server_side = json.dumps(network.sql("SELECT * FROM users"), default=str) + everything_under(network.root)
    for secret in [*forms(private_key), CAROL_PASSWORD]:
        assert secret not in admin_side, "the administrator's client never holds carol's key or password"
        assert secret not in server_side, "the server never receives carol's key unwrapped, nor her password"

    row = network.sql(
        "SELECT auth_salt, opslimit, memlimit, public_key, wrapped_private_key FROM users WHERE name = ?", ("carol",)
    )[0]
    assert b64decode(row["public_key"]) == public_key
    params = kdf.KdfParams(b64decode(row["auth_salt"]), row["opslimit"], row["memlimit"])
    wrapped = b64decode(row["wrapped_private_key"])
    assert unwrap_private_key(kdf.derive(CAROL_PASSWORD, params).master_key, wrapped, public_key).private == private_key
    with pytest.raises(IntegrityError):
        unwrap_private_key(kdf.derive(ADMIN_PASSWORD, params).master_key, wrapped, public_key)


def test_a_spent_code_is_refused_in_one_line_and_changes_nothing(
    network: Network, admin_env: dict[str, str], tmp_path: Path
) -> None:
    code = json.loads(run(["admin", "user", "invite", "dora", "--json"], admin_env).stdout)["code"]
    first = run(["join", network.url, code, "--password-stdin"], config_env(network, tmp_path / "a"), "dora-pw-one\n")
    assert first.returncode == 0, first.stderr
    second = run(["join", network.url, code, "--password-stdin"], config_env(network, tmp_path / "b"), "dora-pw-two\n")
    assert second.returncode == 4, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown or was used already" in lines[0] and "new invitation" in lines[0]
    assert not (tmp_path / "b" / "session.json").exists()
    again = run(["login", "dora", "--password-stdin"], config_env(network, tmp_path / "c"), "dora-pw-one\n")
    assert again.returncode == 0, "the first password stands"


def test_admin_user_create_is_an_invitation_too(network: Network, admin_env: dict[str, str]) -> None:
    created = run(["admin", "user", "create", "erin", "--role", "admin"], admin_env)
    assert created.returncode == 0, created.stderr
    assert "erin invited (admin)" in created.stdout and f"coffer join {network.url} " in created.stdout
    refused = run(["admin", "user", "create", "fred", "--password-stdin"], admin_env, stdin="fred-password\n")
    assert refused.returncode == 2 and "coffer admin user invite fred" in refused.stderr


def test_an_open_invitation_is_listed_and_withdrawn_and_its_code_then_fails(
    network: Network, admin_env: dict[str, str], tmp_path: Path
) -> None:
    code = json.loads(run(["admin", "user", "invite", "gus", "--json"], admin_env).stdout)["code"]
    listed = json.loads(run(["admin", "user", "invitations", "--json"], admin_env).stdout)
    assert "gus" in {i["username"] for i in listed} and code not in json.dumps(listed)
    withdrawn = run(["admin", "user", "uninvite", "gus"], admin_env)
    assert withdrawn.returncode == 0 and "no longer works" in withdrawn.stdout
    late = run(["join", network.url, code, "--password-stdin"], config_env(network, tmp_path / "gus"), "gus-pw-123\n")
    assert late.returncode == 4 and "ask your administrator for a new invitation" in late.stderr
