"""`coffer keys rotate` on real processes: an account whose key an administrator made gets one made by its owner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coffer.client import key_rotation
from coffer.client.api import checked_kdf_params
from coffer.client.coffer import Coffer
from coffer.client.session import StoredSession
from coffer.format import kdf
from coffer.format.errors import IntegrityError
from coffer.format.keys import UserKeys, open_file_key
from coffer.protocol.encoding import b64decode

from .network import Network
from .test_invitations import config_env, run


def joined(network: Network, name: str, password: str, config: Path) -> dict[str, str]:
    """Invite *name* and join as them with the CLI; return their CLI environment."""
    env = config_env(network, config)
    done = run(["join", network.url, network.invite(name), "--password-stdin"], env, stdin=password + "\n")
    assert done.returncode == 0, done.stderr
    return env


def upload(env: dict[str, str], path: Path, text: bytes) -> str:
    path.write_bytes(text)
    done = run(["upload", str(path)], env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def stored_keys(config: Path) -> UserKeys:
    stored = json.loads((config / "session.json").read_text())
    return UserKeys(b64decode(stored["private_key"]), b64decode(stored["public_key"]))


def test_a_legacy_account_rotates_its_keys_and_every_file_and_share_follows(network: Network, tmp_path: Path) -> None:
    hana_config, ivo_config = tmp_path / "hana", tmp_path / "ivo"
    hana = joined(network, "hana", "hana-first-password", hana_config)
    ivo = joined(network, "ivo", "ivo-own-password", ivo_config)
    hanas = upload(hana, tmp_path / "hana.txt", b"hana's notes")
    ivos = upload(ivo, tmp_path / "ivo.txt", b"ivo's notes")
    assert run(["share", hanas, "ivo"], hana).returncode == 0
    assert run(["share", ivos, "hana"], ivo).returncode == 0
    assert run(["download", hanas, "-o", str(tmp_path / "seen-by-ivo.txt")], ivo).returncode == 0
    # As if the account predated invitations: an administrator's client made this pair.
    network.sql("UPDATE users SET key_origin = 'legacy' WHERE name = ?", ("hana",))
    shown = json.loads(run(["keys", "--json"], hana).stdout)
    assert shown["key_origin"] == "legacy" and shown["rotation_unfinished"] is False
    words = run(["keys"], hana).stdout
    assert "administrator who created your account" in words and "coffer keys rotate" in words
    old = stored_keys(hana_config)

    rotated = run(["keys", "rotate", "--password-stdin", "--json"], hana, stdin="hana-first-password\nhana-new-pw\n")
    assert rotated.returncode == 0, rotated.stderr
    report = json.loads(rotated.stdout)
    assert report["fingerprint"] != shown["fingerprint"]
    assert report["resealed"] == 1 and report["unopened"] == []
    assert report["reshared"] == [{"file_id": hanas, "user": "ivo"}]
    assert report["stale_incoming"] == [{"file_id": ivos, "owner": "ivo"}]
    new = stored_keys(hana_config)
    assert new.public != old.public
    assert json.loads(run(["keys", "--json"], hana).stdout)["key_origin"] == "rotation"

    # Her own file opens with the new pair, and its stored key no longer opens with the old one.
    copy = tmp_path / "hana-copy.txt"
    assert run(["download", hanas, "-o", str(copy)], hana).returncode == 0
    assert copy.read_bytes() == b"hana's notes"
    sealed = b64decode(network.sql("SELECT sealed_key FROM files WHERE id = ?", (hanas,))[0]["sealed_key"])
    with pytest.raises(IntegrityError):
        open_file_key(old, sealed)
    assert network.sql("SELECT previous_wrapped_private_key FROM users WHERE name = ?", ("hana",)) == [
        {"previous_wrapped_private_key": None}
    ]

    # The password changed with the keys: the first one, which her creator may know, opens nothing.
    assert (
        run(
            ["login", "hana", "--password-stdin"], config_env(network, tmp_path / "h2"), "hana-first-password\n"
        ).returncode
        == 4
    )
    assert (
        run(["login", "hana", "--password-stdin"], config_env(network, tmp_path / "h3"), "hana-new-pw\n").returncode
        == 0
    )

    # Ivo's client notices hana's key changed until he accepts the fingerprint she reads out to him.
    refused = run(["download", hanas, "-o", str(tmp_path / "ivo-copy.txt")], ivo)
    assert refused.returncode == 7, refused.stderr
    assert run(["fingerprint", "hana", "--fingerprint", report["fingerprint"]], ivo).returncode == 0
    assert run(["download", hanas, "-o", str(tmp_path / "ivo-copy.txt")], ivo).returncode == 0
    assert (tmp_path / "ivo-copy.txt").read_bytes() == b"hana's notes"

    # Ivo's share to her was boxed for her old key: he shares it again, and she reads it.
    early = run(["download", ivos, "-o", str(tmp_path / "too-early.txt")], hana)
    assert early.returncode == 7 and "ask ivo to share it again" in early.stderr, early.stderr
    listed = json.loads(run(["shares", ivos, "--json"], ivo).stdout)
    assert [(s["user"], s["stale"]) for s in listed] == [("hana", True)]
    assert run(["share", ivos, "hana", "--fingerprint", report["fingerprint"]], ivo).returncode == 0
    assert run(["download", ivos, "-o", str(tmp_path / "from-ivo.txt")], hana).returncode == 0
    assert (tmp_path / "from-ivo.txt").read_bytes() == b"ivo's notes"


def test_an_interrupted_rotation_is_finished_by_running_it_again(network: Network, tmp_path: Path) -> None:
    config = tmp_path / "jon"
    jon = joined(network, "jon", "jon-first-password", config)
    file_id = upload(jon, tmp_path / "jon.txt", b"jon's notes")
    wrong = run(["keys", "rotate", "--password-stdin"], jon, stdin="not-his-password\nwhatever-new\n")
    assert wrong.returncode == 7 and "wrong password" in wrong.stderr, "refused here, before anything is sent"
    stored = StoredSession(**json.loads((config / "session.json").read_text()))
    with Coffer.from_session(stored, config_dir=config) as coffer:  # the CLI's own session, as `keys rotate` uses
        current = kdf.derive("jon-first-password", checked_kdf_params(coffer.api.prelogin("jon")))
        key_rotation._start(coffer.api, coffer.api.me(), current, "jon-new-password")  # and then the laptop died
    assert json.loads(run(["keys", "--json"], jon).stdout)["rotation_unfinished"] is True

    finished = run(["keys", "rotate", "--password-stdin", "--json"], jon, stdin="jon-new-password\n")
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["resumed"] is True and report["resealed"] == 1
    assert json.loads(run(["keys", "--json"], jon).stdout)["rotation_unfinished"] is False
    copy = tmp_path / "copy.txt"
    assert run(["download", file_id, "-o", str(copy)], jon).returncode == 0
    assert copy.read_bytes() == b"jon's notes"
