"""Sharing with users and by link, as people do it with the `coffer` command line on a real network.

Every test runs the real server (on SQLite) and two fileservers; the
people are separate CLI configurations, and the one who opens a link has no
account and no session at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from .network import ADMIN_PASSWORD, Network, clean_env, coffer, start_network

PASSWORD = "sharing-user-password"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """One engine is enough here: what differs by engine (atomic counting, cascades, revocation) is pinned on
    SQLite and PostgreSQL in tests/server, and the zero-knowledge test shares and links on both."""
    net = start_network(tmp_path_factory.mktemp("net-sharing"))
    try:
        yield net
    finally:
        net.stop()


LINK_PASSWORD = "correct horse battery staple"


@dataclass
class Person:
    name: str
    env: dict[str, str]

    def run(self, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            coffer(*args), env=self.env | env, input=stdin, capture_output=True, text=True, timeout=120
        )

    def ok(self, *args: str, stdin: str | None = None, **env: str) -> str:
        done = self.run(*args, stdin=stdin, **env)
        assert done.returncode == 0, (args, done.returncode, done.stderr)
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))


def _person(network: Network, tmp_path: Path, role: str = "user", name: str | None = None) -> Person:
    name = name or f"{role[:1]}{os.urandom(3).hex()}"
    password = ADMIN_PASSWORD if name == "admin" else PASSWORD
    if name != "admin":
        network.create_user(name, password, role)
    person = Person(name, clean_env(COFFER_CONFIG_DIR=str(tmp_path / name), COFFER_SERVER=network.url))
    person.ok("login", name, "--password-stdin", stdin=password + "\n")
    return person


@pytest.fixture
def alice(network: Network, tmp_path: Path) -> Person:
    return _person(network, tmp_path)


@pytest.fixture
def bob(network: Network, tmp_path: Path) -> Person:
    return _person(network, tmp_path)


@pytest.fixture
def stranger(tmp_path: Path) -> Person:
    """Someone with no account: an empty configuration and no server set."""
    return Person("stranger", clean_env(COFFER_CONFIG_DIR=str(tmp_path / "stranger")))


@pytest.fixture
def admin(network: Network, tmp_path: Path) -> Person:
    return _person(network, tmp_path, "admin", name="admin")


def _upload(person: Person, tmp_path: Path, size: int = 3 * 1024 * 1024 + 11) -> tuple[str, Path]:
    source = tmp_path / f"plan-{os.urandom(3).hex()}.bin"
    source.write_bytes(os.urandom(size))
    return person.ok("upload", str(source), "--quiet").strip().splitlines()[-1], source


def _audit(admin: Person, action: str, since: str = "1h") -> list[dict[str, object]]:
    events = admin.json("admin", "audit", "--since", since, "--limit", "1000")
    assert isinstance(events, list)
    return [e for e in events if e["action"] == action]


def test_a_second_user_downloads_a_shared_file_byte_identical(
    alice: Person, bob: Person, admin: Person, tmp_path: Path
) -> None:
    file_id, source = _upload(alice, tmp_path)
    shared = alice.run("share", file_id, bob.name)
    assert shared.returncode == 0, shared.stderr
    bob_print = bob.ok("fingerprint").strip().splitlines()[-1]
    assert bob_print.split(":")[-1].strip() in shared.stdout + shared.stderr, "the owner is shown bob's fingerprint"

    listed = bob.json("ls", "--shared")
    assert isinstance(listed, list)
    assert [(f["id"], f["name"]) for f in listed] == [(file_id, source.name)]
    copy = tmp_path / "bobs-copy"
    bob.ok("download", file_id, "-o", str(copy), "--quiet")
    assert copy.read_bytes() == source.read_bytes()
    assert [s["user"] for s in alice.json("shares", file_id)] == [bob.name]
    assert [e["object"] for e in _audit(admin, "file.shared") if e["actor"] == alice.name] == [f"file:{file_id}"]


def test_a_recipient_cannot_delete_reshare_or_link(
    alice: Person, bob: Person, network: Network, tmp_path: Path
) -> None:
    file_id, _ = _upload(alice, tmp_path)
    alice.ok("share", file_id, bob.name)
    carol = _person(network, tmp_path)
    for args in (("rm", file_id), ("share", file_id, carol.name), ("link", file_id)):
        done = bob.run(*args)
        assert done.returncode == 5, (args, done.stderr)
        assert "owner" in done.stderr
    assert alice.json("info", file_id)["state"] == "complete"


def test_after_unshare_new_tickets_are_refused_and_issued_ones_stop_working(
    alice: Person, bob: Person, network: Network, admin: Person, tmp_path: Path
) -> None:
    file_id, _ = _upload(alice, tmp_path)
    alice.ok("share", file_id, bob.name)
    with httpx.Client(base_url=network.url, timeout=30) as http:
        token = http.post("/api/auth/login", json=_login_body(http, bob.name)).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        record = http.get(f"/api/files/{file_id}", headers=auth).json()
        issued = http.post(f"/api/files/{file_id}/tickets", json={"op": "get"}, headers=auth).json()
        chunk = record["chunks"][0]
        (url,) = [s["url"] for s in issued["fileservers"] if s["id"] == chunk["fileservers"][0]]
        ticket = {"Authorization": f"Ticket {issued['tickets'][0]['ticket']}"}
        chunk_path = f"/api/chunks/{record['shard']}/{file_id}/{chunk['hash']}"
        assert httpx.get(url + chunk_path, headers=ticket, timeout=30).status_code == 200

        alice.ok("unshare", file_id, bob.name)

        refused = http.post(f"/api/files/{file_id}/tickets", json={"op": "get"}, headers=auth)
        assert refused.status_code == 404 and refused.json()["error"] == "file_not_found"
        deadline = time.monotonic() + 15
        while httpx.get(url + chunk_path, headers=ticket, timeout=30).status_code == 200:
            assert time.monotonic() < deadline, "the fileserver still honours a revoked ticket after 15 s"
            time.sleep(0.25)
    assert bob.json("ls", "--shared") == []
    done = bob.run("download", file_id, "-o", str(tmp_path / "nope"))
    assert done.returncode == 6 and not (tmp_path / "nope").exists(), done.stderr
    assert [e["object"] for e in _audit(admin, "file.unshared") if e["actor"] == alice.name] == [f"file:{file_id}"]


def _login_body(http: httpx.Client, name: str) -> dict[str, str]:
    from coffer.format import kdf
    from coffer.protocol.encoding import b64decode, b64encode

    pre = http.post("/api/auth/prelogin", json={"username": name}).json()
    derived = kdf.derive(PASSWORD, kdf.KdfParams(b64decode(pre["salt"]), pre["opslimit"], pre["memlimit"]))
    return {"username": name, "auth_key": b64encode(derived.auth_key)}


def _link(owner: Person, file_id: str, *args: str, stdin: str | None = None) -> str:
    url = owner.ok("link", file_id, *args, stdin=stdin).strip()
    assert "\n" not in url and "#" in url, "the URL alone is printed on stdout"
    return url


def _downloads(owner: Person, file_id: str) -> int:
    links = owner.json("links", file_id)
    assert isinstance(links, list) and len(links) == 1
    return int(links[0]["downloads"])


def test_a_link_works_without_an_account_and_its_download_limit_holds(
    alice: Person, stranger: Person, admin: Person, tmp_path: Path
) -> None:
    file_id, source = _upload(alice, tmp_path)
    url = _link(alice, file_id, "--max-downloads", "2", "--expires", "1h")
    for n in (1, 2):
        copy = tmp_path / f"copy{n}"
        stranger.ok("download", url, "-o", str(copy), "--quiet")
        assert copy.read_bytes() == source.read_bytes()
    third = stranger.run("download", url, "-o", str(tmp_path / "copy3"))
    assert third.returncode != 0 and "download" in third.stderr, third.stderr
    assert not (tmp_path / "copy3").exists()
    assert _downloads(alice, file_id) == 2
    link_id = url.split("/s/")[1].split("#")[0]
    assert len([e for e in _audit(admin, "link.download") if e["object"] == f"link:{link_id}"]) == 2


def test_a_link_without_its_fragment_or_with_a_changed_one_says_so_and_costs_no_download(
    alice: Person, stranger: Person, tmp_path: Path
) -> None:
    file_id, _ = _upload(alice, tmp_path)
    url = _link(alice, file_id, "--max-downloads", "1")
    cut = stranger.run("download", url.split("#")[0], "-o", str(tmp_path / "a"))
    assert cut.returncode == 2 and "#" in cut.stderr, cut.stderr
    base, fragment = url.split("#")
    changed = fragment[:-2] + ("AA" if not fragment.endswith("AA") else "BB")
    wrong = stranger.run("download", f"{base}#{changed}", "-o", str(tmp_path / "b"))
    assert wrong.returncode == 7 and "changed" in wrong.stderr, wrong.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert _downloads(alice, file_id) == 0, "a link that cannot decrypt must not use up a download"
    stranger.ok("download", url, "-o", str(tmp_path / "c"), "--quiet")


def test_a_password_link_needs_the_password(alice: Person, stranger: Person, tmp_path: Path) -> None:
    file_id, source = _upload(alice, tmp_path)
    url = _link(alice, file_id, "--password", "--password-stdin", stdin=LINK_PASSWORD + "\n")
    assert "#v1.p." in url
    none = stranger.run("download", url, "-o", str(tmp_path / "a"), stdin="")
    assert none.returncode == 2 and "password" in none.stderr, none.stderr
    wrong = stranger.run("download", url, "-o", str(tmp_path / "b"), COFFER_LINK_PASSWORD="not it")
    assert wrong.returncode == 7 and "password" in wrong.stderr, wrong.stderr
    copy = tmp_path / "c"
    stranger.ok("download", url, "-o", str(copy), "--quiet", "--password-stdin", stdin=LINK_PASSWORD + "\n")
    assert copy.read_bytes() == source.read_bytes()
    assert _downloads(alice, file_id) == 1


def test_an_unlinked_or_expired_link_is_refused(
    alice: Person, stranger: Person, network: Network, tmp_path: Path
) -> None:
    """A link's lifetime is a minute at least: its expiry is moved into the past in the database, as time would."""
    file_id, _ = _upload(alice, tmp_path)
    url = _link(alice, file_id)
    alice.ok("unlink", url)
    revoked = stranger.run("download", url, "-o", str(tmp_path / "a"))
    assert revoked.returncode != 0 and "revoked" in revoked.stderr, revoked.stderr
    short = _link(alice, file_id, "--expires", "60s")
    short_id = short.split("/s/")[1].split("#")[0]
    network.sql("UPDATE links SET expires_at = ? WHERE id = ?", (time.time() - 1, short_id))
    assert next(link["state"] for link in alice.json("links", file_id) if link["id"] == short_id) == "expired"
    expired = stranger.run("download", short, "-o", str(tmp_path / "b"))
    assert expired.returncode != 0 and "expired" in expired.stderr, expired.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_share_key_or_metadata_altered_on_the_server_is_detected(
    alice: Person, bob: Person, network: Network, tmp_path: Path
) -> None:
    file_id, _ = _upload(alice, tmp_path)
    alice.ok("share", file_id, bob.name)
    (original,) = network.sql(
        "SELECT share_key, metadata FROM shares JOIN files ON files.id = file_id WHERE file_id = ?", (file_id,)
    )

    def flipped(value: str) -> str:
        middle = len(value) // 2
        return value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]

    network.sql("UPDATE shares SET share_key = ? WHERE file_id = ?", (flipped(original["share_key"]), file_id))
    done = bob.run("download", file_id, "-o", str(tmp_path / "a"))
    assert done.returncode == 7, done.stderr
    network.sql("UPDATE shares SET share_key = ? WHERE file_id = ?", (original["share_key"], file_id))
    network.sql("UPDATE files SET metadata = ? WHERE id = ?", (flipped(original["metadata"]), file_id))
    done = bob.run("download", file_id, "-o", str(tmp_path / "b"))
    assert done.returncode == 7, done.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert not list(tmp_path.glob("*.coffer-part")), "nothing unverified is left behind"


def test_a_swapped_public_key_is_refused_once_pinned(
    alice: Person, bob: Person, network: Network, tmp_path: Path
) -> None:
    """The server hands out another key for bob: alice's client, which pinned bob's key at the first share, refuses."""
    first, _ = _upload(alice, tmp_path)
    alice.ok("share", first, bob.name)
    from coffer.format.keys import UserKeys
    from coffer.protocol.encoding import b64encode

    (row,) = network.sql("SELECT public_key FROM users WHERE name = ?", (bob.name,))
    impostor = UserKeys.generate()
    network.sql("UPDATE users SET public_key = ? WHERE name = ?", (b64encode(impostor.public), bob.name))
    try:
        second, _ = _upload(alice, tmp_path)
        done = alice.run("share", second, bob.name)
        assert done.returncode == 7 and bob.name in done.stderr, done.stderr
        assert alice.json("shares", second) == []
    finally:
        network.sql("UPDATE users SET public_key = ? WHERE name = ?", (row["public_key"], bob.name))


def test_admins_list_and_revoke_shares_and_links_without_keys(
    alice: Person, bob: Person, stranger: Person, admin: Person, tmp_path: Path
) -> None:
    file_id, _ = _upload(alice, tmp_path)
    alice.ok("share", file_id, bob.name)
    url = _link(alice, file_id)
    shares = admin.json("admin", "shares", "--owner", alice.name)
    assert shares == [{"file": file_id, "owner": alice.name, "user": bob.name, "created_at": shares[0]["created_at"]}]
    links = admin.json("admin", "links", "--owner", alice.name)
    assert isinstance(links, list) and [link["file"] for link in links] == [file_id]
    assert not any("key" in field for link in links for field in link), "an admin listing carries no key"
    admin.ok("admin", "unlink", links[0]["id"])
    admin.ok("admin", "unshare", file_id, bob.name)
    assert bob.json("ls", "--shared") == []
    assert stranger.run("download", url, "-o", str(tmp_path / "x")).returncode != 0
    revoked = [e for e in _audit(admin, "link.revoked") if e["object"] == f"link:{links[0]['id']}"]
    assert [e["actor"] for e in revoked] == ["admin"]
