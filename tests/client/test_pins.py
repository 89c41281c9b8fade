"""Pinned public keys (trust on first use): kept privately per server and account, and never silently dropped."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from coffer.client import errors
from coffer.client.pins import FILE_NAME, KnownKeys
from coffer.format.keys import UserKeys
from coffer.format.shares import fingerprint

SERVER = "https://coffer.example.com"


@pytest.fixture
def pins(tmp_path: Path) -> KnownKeys:
    return KnownKeys(tmp_path / "config", SERVER + "/", "alice")


def key() -> bytes:
    return UserKeys.generate().public


def test_the_first_sight_of_a_user_pins_their_key_and_later_sights_match_it(pins: KnownKeys) -> None:
    bob = key()
    assert pins.status("bob", bob) == "new"
    assert pins.trust("bob", bob) is True
    assert pins.pinned("bob") == fingerprint(bob)
    assert pins.trust("bob", bob) is False
    assert pins.status("bob", bob) == "pinned"


def test_a_changed_key_is_refused_naming_the_user_both_fingerprints_and_how_to_accept(pins: KnownKeys) -> None:
    bob, other = key(), key()
    pins.trust("bob", bob)
    assert pins.status("bob", other) == "changed"
    with pytest.raises(errors.KeyChanged) as caught:
        pins.trust("bob", other)
    message = caught.value.message
    assert "bob" in message and fingerprint(bob) in message and fingerprint(other) in message
    assert f'coffer fingerprint bob --fingerprint "{fingerprint(other)}"' in message
    assert pins.pinned("bob") == fingerprint(bob), "a refused key is not pinned"


def test_the_fingerprint_compared_out_of_band_replaces_a_pin_typed_any_way(pins: KnownKeys) -> None:
    bob, renewed = key(), key()
    pins.trust("bob", bob)
    typed = fingerprint(renewed).replace(" ", "").upper()
    assert pins.trust("bob", renewed, expect_fingerprint=typed) is False
    assert pins.pinned("bob") == fingerprint(renewed)


def test_an_expected_fingerprint_that_is_not_the_key_is_refused(pins: KnownKeys) -> None:
    with pytest.raises(errors.KeyChanged, match="not the"):
        pins.trust("bob", key(), expect_fingerprint=fingerprint(key()))
    with pytest.raises(errors.UsageError, match="not a fingerprint"):
        pins.trust("bob", key(), expect_fingerprint="12ab")
    assert pins.pinned("bob") is None


def test_pins_are_kept_per_server_and_account(tmp_path: Path, pins: KnownKeys) -> None:
    bob = key()
    pins.trust("bob", bob)
    assert KnownKeys(tmp_path / "config", SERVER, "alice").pinned("bob") == fingerprint(bob)
    assert KnownKeys(tmp_path / "config", SERVER, "carol").pinned("bob") is None
    assert KnownKeys(tmp_path / "config", "http://other.test", "alice").pinned("bob") is None


def test_the_file_is_private_and_written_without_leftovers(tmp_path: Path, pins: KnownKeys) -> None:
    pins.trust("bob", key())
    pins.trust("carol", key())
    path = tmp_path / "config" / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [FILE_NAME]
    assert set(json.loads(path.read_text())["servers"][SERVER]["alice"]) == {"bob", "carol"}


@pytest.mark.parametrize("content", ["{not json", '{"v": 99, "servers": {}}', "[]"])
def test_a_damaged_file_is_an_error_never_an_empty_list_of_pins(tmp_path: Path, pins: KnownKeys, content: str) -> None:
    path = tmp_path / "config" / FILE_NAME
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(errors.UsageError, match="damaged"):
        pins.trust("bob", key())
    assert path.read_text() == content


def test_a_key_seen_on_a_received_file_is_checked_but_not_pinned(pins: KnownKeys) -> None:
    frank, other = key(), key()
    assert pins.see("frank", frank) is True
    assert pins.see("frank", frank) is False
    assert (pins.pinned("frank"), pins.seen("frank")) == (None, fingerprint(frank))
    assert pins.status("frank", frank) == "seen"
    assert pins.check("frank", frank) is True, "sharing to a user only seen is a first share"
    assert pins.status("frank", other) == "changed"
    with pytest.raises(errors.KeyChanged, match="frank's public key changed"):
        pins.see("frank", other)
    with pytest.raises(errors.KeyChanged):
        pins.check("frank", other)


def test_pinning_a_seen_key_moves_it_and_a_pinned_key_stays_pinned_when_seen_again(pins: KnownKeys) -> None:
    frank = key()
    pins.see("frank", frank)
    pins.pin("frank", frank)
    assert (pins.pinned("frank"), pins.seen("frank")) == (fingerprint(frank), None)
    assert pins.see("frank", frank) is False
    assert pins.status("frank", frank) == "pinned"


def test_pins_of_a_version_1_file_are_read_as_seen_because_how_they_were_made_is_unknown(
    tmp_path: Path, pins: KnownKeys
) -> None:
    bob = key()
    path = tmp_path / "config" / FILE_NAME
    path.parent.mkdir(mode=0o700)
    path.write_text(json.dumps({"v": 1, "servers": {SERVER: {"alice": {"bob": fingerprint(bob)}}}}))
    assert pins.status("bob", bob) == "seen"
    assert pins.check("bob", bob) is True
    pins.pin("bob", bob)
    assert json.loads(path.read_text())["v"] == 2
    assert pins.status("bob", bob) == "pinned"


def test_first_sights_of_many_owners_at_once_are_all_kept(tmp_path: Path) -> None:
    """Several files download at once (client.batch): no owner's first sight may be lost to another's write."""
    owners = {f"owner{n}": key() for n in range(16)}
    start = threading.Barrier(len(owners))

    def see(name: str) -> None:
        start.wait()
        KnownKeys(tmp_path / "config", SERVER, "alice").see(name, owners[name])

    threads = [threading.Thread(target=see, args=(name,)) for name in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    known = KnownKeys(tmp_path / "config", SERVER, "alice")
    assert {name: known.seen(name) for name in owners} == {name: fingerprint(k) for name, k in owners.items()}
