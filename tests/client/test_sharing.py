"""Sharing a file with another user against the fake network: the key reaches them, and only them, intact."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coffer.client import errors
from coffer.client.coffer import Coffer
from coffer.format.errors import IntegrityError, KeyMismatch
from coffer.format.keys import UserKeys, key_commitment, open_file_key
from coffer.format.shares import fingerprint
from coffer.protocol.encoding import b64decode, b64encode

from .conftest import Person
from .fakenet import FakeNet

CHUNK = 1000


def uploaded(owner: Coffer, tmp_path: Path, size: int = 5 * CHUNK + 3, name: str = "plans.bin") -> tuple[str, bytes]:
    path = tmp_path / name
    data = os.urandom(size)
    path.write_bytes(data)
    return owner.upload(path, chunk_size=CHUNK).file_id, data


def flipped(text: str) -> str:
    raw = bytearray(b64decode(text))
    raw[len(raw) // 2] ^= 1
    return b64encode(bytes(raw))


def gets(net: FakeNet) -> int:
    return sum(fs.gets for fs in net.fileservers.values())


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "out"
    directory.mkdir()
    return directory


def test_a_recipient_downloads_a_shared_file_byte_identical_under_its_name(
    person: Person, tmp_path: Path, out: Path
) -> None:
    alice, bob = person("alice"), person("bob")
    file_id, data = uploaded(alice, tmp_path)
    result = alice.share(file_id, "bob")
    assert (result.user, result.fingerprint, result.first_time) == ("bob", bob.fingerprint, True)
    [listed] = bob.list(shared=True)
    assert (listed.id, listed.name, listed.owner, listed.access, listed.size) == (
        file_id,
        "plans.bin",
        "alice",
        "shared",
        len(data),
    )
    assert bob.list() == [], "a shared file is not among the recipient's own"
    assert (out / "plans.bin") == bob.download(file_id, out)
    assert (out / "plans.bin").read_bytes() == data
    assert [s.user for s in alice.shares(file_id)] == ["bob"]


def test_the_second_share_with_someone_is_not_their_first(person: Person, tmp_path: Path) -> None:
    alice, _ = person("alice"), person("bob")
    first, _ = uploaded(alice, tmp_path, name="a.bin")
    second, _ = uploaded(alice, tmp_path, name="b.bin")
    assert alice.share(first, "bob").first_time
    assert not alice.share(second, "bob").first_time
    assert not alice.share(first, "bob").first_time, "sharing again replaces the box"


def test_a_key_swapped_by_the_server_after_the_first_share_is_refused_and_nothing_is_shared(
    net: FakeNet, person: Person, tmp_path: Path
) -> None:
    alice, bob = person("alice"), person("bob")
    first, _ = uploaded(alice, tmp_path, name="a.bin")
    second, _ = uploaded(alice, tmp_path, name="b.bin")
    alice.share(first, "bob")
    impostor = UserKeys.generate()
    net.user("bob", impostor)
    with pytest.raises(errors.KeyChanged) as caught:
        alice.share(second, "bob")
    message = caught.value.message
    assert "bob" in message and bob.fingerprint in message and fingerprint(impostor.public) in message
    assert f"coffer share {second} bob --fingerprint" in message
    assert caught.value.exit_code == 7
    assert alice.shares(second) == []


def test_a_changed_key_is_accepted_with_the_fingerprint_compared_out_of_band(
    net: FakeNet, person: Person, tmp_path: Path
) -> None:
    alice, _ = person("alice"), person("bob")
    first, _ = uploaded(alice, tmp_path, name="a.bin")
    second, _ = uploaded(alice, tmp_path, name="b.bin")
    alice.share(first, "bob")
    renewed = UserKeys.generate()
    net.user("bob", renewed)
    typed = fingerprint(renewed.public).upper().replace(" ", "")
    result = alice.share(second, "bob", expect_fingerprint=typed)
    assert result.fingerprint == fingerprint(renewed.public)
    assert alice.known_keys.status("bob", renewed.public) == "pinned"
    assert not alice.share(first, "bob").first_time, "the new key is the pin now"


def test_a_fingerprint_that_is_not_the_servers_key_refuses_even_a_first_share(person: Person, tmp_path: Path) -> None:
    alice, _ = person("alice"), person("bob")
    file_id, _ = uploaded(alice, tmp_path)
    other = fingerprint(UserKeys.generate().public)
    with pytest.raises(errors.KeyChanged, match="not the .* you gave"):
        alice.share(file_id, "bob", expect_fingerprint=other)
    assert alice.shares(file_id) == [] and alice.known_keys.pinned("bob") is None


def test_a_recipient_pins_the_owner_at_first_sight_and_refuses_a_changed_owner_key(
    net: FakeNet, person: Person, tmp_path: Path, out: Path
) -> None:
    alice, bob = person("alice"), person("bob")
    file_id, _ = uploaded(alice, tmp_path)
    alice.share(file_id, "bob")
    bob.download(file_id, out / "first.bin")
    assert bob.known_keys.seen("alice") == alice.fingerprint
    assert bob.known_keys.pinned("alice") is None, "a key met on a received file is seen, never pinned"
    impostor = UserKeys.generate()
    net.user("alice", impostor)
    fetched = gets(net)
    with pytest.raises(errors.KeyChanged, match=r"alice's public key changed") as caught:
        bob.download(file_id, out / "second.bin")
    assert fingerprint(impostor.public) in caught.value.message
    assert "coffer fingerprint alice --fingerprint" in caught.value.message
    assert sorted(p.name for p in out.iterdir()) == ["first.bin"] and gets(net) == fetched


def test_an_altered_share_box_is_detected_and_nothing_is_written(
    net: FakeNet, person: Person, tmp_path: Path, out: Path
) -> None:
    alice, bob = person("alice"), person("bob")
    file_id, _ = uploaded(alice, tmp_path)
    alice.share(file_id, "bob")
    share = net.shares[(file_id, net.users["bob"].id)]
    share["share_key"] = flipped(share["share_key"])
    with pytest.raises(IntegrityError, match="does not open"):
        bob.download(file_id, out)
    assert list(out.iterdir()) == [] and gets(net) == 0


def test_a_share_box_moved_to_another_file_is_detected(net: FakeNet, person: Person, tmp_path: Path, out: Path) -> None:
    alice, bob = person("alice"), person("bob")
    first, _ = uploaded(alice, tmp_path, name="a.bin")
    second, _ = uploaded(alice, tmp_path, name="b.bin")
    alice.share(first, "bob")
    alice.share(second, "bob")
    bob_id = net.users["bob"].id
    net.shares[(second, bob_id)]["share_key"] = net.shares[(first, bob_id)]["share_key"]
    with pytest.raises(IntegrityError, match="another file"):
        bob.download(second, out)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_altered_metadata_is_detected_for_owner_and_recipient(
    net: FakeNet, person: Person, tmp_path: Path, out: Path, who: str
) -> None:
    alice, bob = person("alice"), person("bob")
    file_id, _ = uploaded(alice, tmp_path)
    alice.share(file_id, "bob")
    net.files[file_id]["metadata"] = flipped(net.files[file_id]["metadata"])
    with pytest.raises(IntegrityError, match="metadata"):
        (alice if who == "alice" else bob).download(file_id, out)
    assert list(out.iterdir()) == [] and gets(net) == 0


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_a_key_commitment_altered_on_the_server_is_a_key_mismatch(
    net: FakeNet, person: Person, tmp_path: Path, out: Path, who: str
) -> None:
    alice, bob = person("alice"), person("bob")
    file_id, _ = uploaded(alice, tmp_path)
    alice.share(file_id, "bob")
    net.files[file_id]["key_commitment"] = flipped(net.files[file_id]["key_commitment"])
    with pytest.raises(KeyMismatch):
        (alice if who == "alice" else bob).download(file_id, out)
    assert list(out.iterdir()) == []


def test_a_file_uploaded_before_key_commitments_is_refused_with_what_to_do(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path
) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    net.files[file_id]["key_commitment"] = ""
    with pytest.raises(IntegrityError, match="before Coffer recorded key commitments.*upload it again"):
        coffer.download(file_id, out)
    with pytest.raises(IntegrityError, match="before Coffer recorded key commitments"):
        coffer.share(file_id, "bob")
    [listed] = coffer.list()
    assert listed.name == "" and "key commitments" in listed.problem


def test_an_upload_commits_to_its_file_key(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    record = net.files[file_id]
    key = open_file_key(coffer.keys, b64decode(record["sealed_key"]))
    assert b64decode(record["key_commitment"]) == key_commitment(key)


def test_a_recipient_may_read_but_not_share_link_or_delete(net: FakeNet, person: Person, tmp_path: Path) -> None:
    alice, bob, _ = person("alice"), person("bob"), person("carol")
    file_id, _ = uploaded(alice, tmp_path)
    alice.share(file_id, "bob")
    for action in (lambda: bob.share(file_id, "carol"), lambda: bob.link(file_id), lambda: bob.remove(file_id)):
        with pytest.raises(errors.PermissionDenied, match="owner") as caught:
            action()
        assert caught.value.exit_code == 5
    assert file_id in net.files and alice.shares(file_id)[0].user == "bob"


def test_unsharing_ends_access_and_revokes_the_recipients_tickets(
    net: FakeNet, person: Person, tmp_path: Path, out: Path
) -> None:
    alice, bob = person("alice"), person("bob")
    file_id, _ = uploaded(alice, tmp_path)
    alice.share(file_id, "bob")
    bob.download(file_id, out / "copy.bin")
    bob_id = net.users["bob"].id
    bob.api.request("POST", f"/api/files/{file_id}/tickets", {"op": "get"})
    assert bob_id in net.valid_tickets.values()
    alice.unshare(file_id, "bob")
    assert bob_id not in net.valid_tickets.values()
    assert bob.list(shared=True) == [] and alice.shares(file_id) == []
    with pytest.raises(errors.NotFoundError):
        bob.download(file_id, out / "again.bin")


def test_a_recipient_can_leave_a_share(person: Person, tmp_path: Path) -> None:
    alice, bob = person("alice"), person("bob")
    file_id, _ = uploaded(alice, tmp_path)
    alice.share(file_id, "bob")
    bob.unshare(file_id, "bob")
    assert bob.list(shared=True) == [] and alice.shares(file_id) == []


def test_sharing_with_yourself_or_someone_without_keys_says_what_is_wrong(
    net: FakeNet, person: Person, tmp_path: Path
) -> None:
    alice = person("alice")
    file_id, _ = uploaded(alice, tmp_path)
    with pytest.raises(errors.UsageError, match="that is you"):
        alice.share(file_id, "alice")
    net.user("dave")
    with pytest.raises(errors.ApiError, match="never logged in"):
        alice.share(file_id, "dave")
    with pytest.raises(errors.UsageError, match="not a user name"):
        alice.share(file_id, "../admin")
    with pytest.raises(errors.NotFoundError):
        alice.share(file_id, "nobody")


def test_a_shared_file_whose_owner_key_changed_is_listed_with_the_reason(
    net: FakeNet, person: Person, tmp_path: Path
) -> None:
    alice, bob = person("alice"), person("bob")
    file_id, _ = uploaded(alice, tmp_path)
    alice.share(file_id, "bob")
    assert bob.list(shared=True)[0].name == "plans.bin"
    net.user("alice", UserKeys.generate())
    [listed] = bob.list(shared=True)
    assert listed.name == "" and "changed" in listed.problem


def test_a_key_seen_on_a_share_the_server_planted_does_not_make_the_next_share_to_that_user_trusted(
    net: FakeNet, person: Person, tmp_path: Path, out: Path
) -> None:
    """The server makes a key pair for "frank", plants a file shared by it, and later hands bob that key for frank.

    Bob's share to frank must still be a first share (its fingerprint shown to compare), not a
    silent share to a key bob never compared.
    """
    frank, bob = person("frank"), person("bob")
    file_id, _ = uploaded(frank, tmp_path)
    frank.share(file_id, "bob")
    bob.download(file_id, out / "planted.bin")
    own_id, _ = uploaded(bob, tmp_path, name="mine.bin")
    assert bob.known_keys.status("frank", frank.keys.public) == "seen"
    assert bob.share(own_id, "frank").first_time is True
    assert bob.known_keys.status("frank", frank.keys.public) == "pinned"
    assert bob.share(own_id, "frank").first_time is False
