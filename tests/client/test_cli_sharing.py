"""The sharing commands: what they read from the command line, and what they print, against the fake network."""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from coffer.client import link_download
from coffer.client.cli import admin, files, main, sharing
from coffer.client.coffer import Coffer
from coffer.format.keys import UserKeys
from coffer.format.shares import fingerprint

from .fakenet import SERVER, FakeNet

LINK_ID = "0b6c43f2-4b0e-4c36-9d55-3b0c8a9e2f10"
FILE_ID = "5d1f7a55-2f5e-4b7a-8e2e-6f7b1c9d0a11"
PASSWORD = "correct horse battery staple"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="coffer")
    commands = top.add_subparsers(dest="command", required=True)
    files.register(commands)
    sharing.register(commands)
    admin.register(commands)
    return top


def test_share_reads_the_file_the_user_and_an_optional_fingerprint() -> None:
    args = parser().parse_args(["share", FILE_ID, "bob", "--fingerprint", "3f9a 1c07"])
    assert (args.func, args.file_id, args.user, args.fingerprint) == (sharing.do_share, FILE_ID, "bob", "3f9a 1c07")
    assert parser().parse_args(["share", FILE_ID, "bob"]).fingerprint is None


def test_link_reads_expiry_download_limit_and_password_flags() -> None:
    args = parser().parse_args(["link", FILE_ID, "--expires", "24h", "--max-downloads", "3", "--password"])
    assert (args.expires, args.max_downloads, args.password, args.password_stdin) == (86400, 3, True, False)
    plain = parser().parse_args(["link", FILE_ID])
    assert (plain.expires, plain.max_downloads, plain.password) == (None, None, False)


@pytest.mark.parametrize("text", ["0", "-1", "1000001", "many", ""])
def test_a_download_limit_outside_1_to_a_million_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        sharing.parse_max_downloads(text)
    assert sharing.parse_max_downloads("1000000") == 1_000_000


def test_download_takes_an_id_or_a_url_and_ls_the_shared_flag() -> None:
    args = parser().parse_args(["download", f"{SERVER}/s/{LINK_ID}#v1.k.x", "--password-stdin", "-o", "out"])
    assert (args.func, args.password_stdin, args.output) == (files.do_download, True, Path("out"))
    assert parser().parse_args(["ls", "--shared", "--json"]).shared
    assert not parser().parse_args(["ls"]).shared


def test_links_unlink_and_fingerprint_take_optional_or_either_forms() -> None:
    assert parser().parse_args(["links"]).file_id is None
    assert parser().parse_args(["links", FILE_ID, "--json"]).file_id == FILE_ID
    assert parser().parse_args(["unlink", f"{SERVER}/s/{LINK_ID}"]).link == f"{SERVER}/s/{LINK_ID}"
    assert parser().parse_args(["fingerprint"]).user is None
    args = parser().parse_args(["fingerprint", "bob", "--fingerprint", "ab"])
    assert (args.user, args.fingerprint) == ("bob", "ab")


def test_admin_sharing_commands_read_their_filters() -> None:
    args = parser().parse_args(["admin", "shares", "--owner", "alice", "--recipient", "bob", "--file", FILE_ID])
    assert (args.func, args.owner, args.recipient, args.file) == (sharing.do_admin_shares, "alice", "bob", FILE_ID)
    args = parser().parse_args(["admin", "links", "--state", "exhausted"])
    assert (args.func, args.state, args.owner) == (sharing.do_admin_links, "exhausted", None)
    with pytest.raises(SystemExit):
        parser().parse_args(["admin", "links", "--state", "gone"])
    assert parser().parse_args(["admin", "unshare", FILE_ID, "bob"]).func is sharing.do_admin_unshare
    assert parser().parse_args(["admin", "unlink", LINK_ID]).func is sharing.do_admin_unlink


@dataclass
class Ran:
    code: int
    out: str
    err: str


@dataclass
class World:
    net: FakeNet
    tmp: Path
    keys: dict[str, UserKeys]
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def coffer(self, who: str) -> Coffer:
        transport = self.net.transport()
        return Coffer(
            SERVER,
            self.net.users[who].token,
            self.keys[who],
            username=who,
            config_dir=self.tmp / f"config-{who}",
            transport=transport,
            chunk_transport=transport,
        )

    def run(self, who: str, *argv: str, stdin: str = "", tty: bool = False, **env: str) -> Ran:
        """Run `coffer ARGV` as *who* (a user of the fake network, or anyone else: no session at all)."""
        with self.monkeypatch.context() as m:
            m.setenv("COFFER_CONFIG_DIR", str(self.tmp / f"config-{who}"))
            m.delenv("COFFER_LINK_PASSWORD", raising=False)
            for name, value in env.items():
                m.setenv(name, value)
            m.setattr(sys, "stdin", Terminal(stdin) if tty else io.StringIO(stdin))
            if who in self.keys:
                for module in (files, sharing):
                    m.setattr(module, "open_coffer", partial(self.coffer, who))
            transport = self.net.transport()
            fetch = partial(link_download.download_link, transport=transport, chunk_transport=transport)
            m.setattr(files, "download_link", fetch)
            self.capsys.readouterr()
            code = main.main(list(argv))
            captured = self.capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    def upload(self, who: str = "alice", size: int = 4000) -> tuple[str, bytes]:
        path = self.tmp / "plans.bin"
        data = os.urandom(size)
        path.write_bytes(data)
        with self.coffer(who) as c:
            return c.upload(path, chunk_size=1000).file_id, data


@pytest.fixture
def world(net: FakeNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> World:
    keys = {name: UserKeys.generate() for name in ("alice", "bob")}
    for name, pair in keys.items():
        net.user(name, pair)
    return World(net, tmp_path, keys, monkeypatch, capsys)


def test_share_shows_the_fingerprint_to_compare_the_first_time_only(world: World) -> None:
    file_id, _ = world.upload()
    bob_print = world.run("bob", "fingerprint").out.strip().splitlines()[-1].split(":")[-1].strip()
    assert bob_print == fingerprint(world.keys["bob"].public)
    first = world.run("alice", "share", file_id, "bob")
    assert first.code == 0 and f"shared {file_id} with bob" in first.out and bob_print in first.out
    assert "first share with bob: compare" in first.err
    again = world.run("alice", "share", file_id, "bob")
    assert again.code == 0 and "first share" not in again.err


def test_a_swapped_key_fails_share_with_exit_7_naming_the_user(world: World) -> None:
    file_id, _ = world.upload()
    assert world.run("alice", "share", file_id, "bob").code == 0
    world.net.user("bob", UserKeys.generate())
    refused = world.run("alice", "share", file_id, "bob")
    assert refused.code == 7 and "bob" in refused.err and "--fingerprint" in refused.err


def test_the_recipient_lists_and_downloads_the_shared_file(world: World) -> None:
    file_id, data = world.upload()
    world.run("alice", "share", file_id, "bob")
    listed = json.loads(world.run("bob", "ls", "--shared", "--json").out)
    assert [(f["id"], f["name"], f["owner"]) for f in listed] == [(file_id, "plans.bin", "alice")]
    row = world.run("bob", "ls", "--shared").out
    assert "from alice" in row and "plans.bin" in row
    copy = world.tmp / "copy"
    assert world.run("bob", "download", file_id, "-o", str(copy), "--quiet").code == 0
    assert copy.read_bytes() == data
    assert [s["user"] for s in json.loads(world.run("alice", "shares", file_id, "--json").out)] == ["bob"]
    assert world.run("alice", "unshare", file_id, "bob").code == 0
    assert json.loads(world.run("bob", "ls", "--shared", "--json").out) == []


def test_link_prints_only_the_url_and_anyone_downloads_it_without_a_session(world: World) -> None:
    file_id, data = world.upload()
    made = world.run("alice", "link", file_id, "--max-downloads", "2", "--expires", "1h")
    assert made.code == 0 and made.out.count("\n") == 1 and made.out.startswith(f"{SERVER}/s/")
    assert "anyone with this link can download the file until" in made.err and "2 download(s)" in made.err
    url = made.out.strip()
    copy = world.tmp / "copy"
    got = world.run("stranger", "download", url, "-o", str(copy), "--quiet")
    assert got.code == 0 and copy.read_bytes() == data and got.out.strip() == str(copy.absolute())
    assert not (world.tmp / "config-stranger" / "session.json").exists()
    listed = json.loads(world.run("alice", "links", file_id, "--json").out)
    assert [(link["downloads"], link["state"]) for link in listed] == [(1, "active")]


def test_a_cut_link_exits_2_and_says_what_is_missing(world: World) -> None:
    file_id, _ = world.upload()
    url = world.run("alice", "link", file_id).out.strip()
    cut = world.run("stranger", "download", url.split("#")[0], "-o", str(world.tmp / "x"))
    assert cut.code == 2 and "#" in cut.err


def test_a_locked_link_asks_for_its_password_only_then(world: World) -> None:
    file_id, data = world.upload()
    made = world.run("alice", "link", file_id, "--password-stdin", stdin=PASSWORD + "\n")
    url = made.out.strip()
    assert made.code == 0 and "#v1.p." in url
    none = world.run("stranger", "download", url, "-o", str(world.tmp / "a"))
    assert none.code == 2 and "password" in none.err
    wrong = world.run("stranger", "download", url, "-o", str(world.tmp / "b"), COFFER_LINK_PASSWORD="not it")
    assert wrong.code == 7 and "password" in wrong.err
    copy = world.tmp / "c"
    ok = world.run("stranger", "download", url, "-o", str(copy), "--quiet", "--password-stdin", stdin=PASSWORD + "\n")
    assert ok.code == 0 and copy.read_bytes() == data
    assert [link["downloads"] for link in world.net.links.values()] == [1]


def test_link_password_on_a_terminal_is_asked_twice_and_must_match(world: World) -> None:
    file_id, _ = world.upload()
    answers = iter([PASSWORD, PASSWORD + "typo", PASSWORD, PASSWORD])
    world.monkeypatch.setattr(getpass, "getpass", lambda prompt: next(answers))
    refused = world.run("alice", "link", file_id, "--password", tty=True)
    assert refused.code == 2 and "differ" in refused.err and world.net.links == {}
    made = world.run("alice", "link", file_id, "--password", tty=True)
    assert made.code == 0 and "#v1.p." in made.out


def test_link_password_from_the_environment_is_not_asked_again(world: World) -> None:
    file_id, _ = world.upload()
    made = world.run("alice", "link", file_id, "--password", COFFER_LINK_PASSWORD=PASSWORD)
    assert made.code == 0 and "#v1.p." in made.out


def test_unlink_takes_the_url(world: World) -> None:
    file_id, _ = world.upload()
    url = world.run("alice", "link", file_id).out.strip()
    assert world.run("alice", "unlink", url).code == 0
    assert [link["revoked_at"] is not None for link in world.net.links.values()] == [True]
    gone = world.run("stranger", "download", url, "-o", str(world.tmp / "x"))
    assert gone.code == 6 and "revoked" in gone.err


def test_fingerprint_of_a_user_says_whether_it_is_pinned_and_pins_the_compared_one(world: World) -> None:
    bob = fingerprint(world.keys["bob"].public)
    first = world.run("alice", "fingerprint", "bob")
    assert first.code == 0 and bob in first.out and "not met bob yet" in first.err
    assert world.run("alice", "fingerprint", "bob", "--fingerprint", bob).code == 0
    assert "the key you pinned" in world.run("alice", "fingerprint", "bob").err
    world.net.user("bob", UserKeys.generate())
    assert "NOT the key you pinned" in world.run("alice", "fingerprint", "bob").err
    assert world.run("alice", "fingerprint", "bob", "--fingerprint", bob).code == 7


def test_fingerprint_of_a_user_met_only_on_a_received_file_says_it_was_never_compared(world: World) -> None:
    file_id, _ = world.upload("bob")
    world.run("bob", "share", file_id, "alice")
    assert world.run("alice", "download", file_id, "-o", str(world.tmp / "got"), "--quiet").code == 0
    seen = world.run("alice", "fingerprint", "bob")
    assert seen.code == 0 and "only on files bob shared with you, and never compared it" in seen.err
    assert json.loads(world.run("alice", "fingerprint", "bob", "--json").out)["pin"] == "seen"
