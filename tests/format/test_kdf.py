"""Password to keys: Argon2id, then BLAKE2b split into an auth key and a master key."""

from __future__ import annotations

import hashlib

import nacl.pwhash.argon2id
import pytest

from coffer.format.kdf import MEMLIMIT, OPSLIMIT, SALT_BYTES, KdfParams, PasswordKeys, derive

SALT = bytes(range(16))
# The cheapest parameters libsodium allows, so the tests stay fast; the format does not change.
CHEAP = KdfParams(salt=SALT, opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN, memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN)


def cheap(password: str, salt: bytes = SALT) -> PasswordKeys:
    return derive(password, KdfParams(salt=salt, opslimit=CHEAP.opslimit, memlimit=CHEAP.memlimit))


def test_default_parameters_derive_the_pinned_keys() -> None:
    """Every client, in every language, must derive exactly these bytes (protocol.md)."""
    keys = derive("correct horse battery staple", KdfParams(salt=SALT))
    assert keys.auth_key.hex() == "02f809def990526c59a0cf3e141427e39c45fcc7cab446a9a775abff563f756e"
    assert keys.master_key.hex() == "e55edcf71bf13d834edab9dbbe57a63ea5ec37f092d15d0b5c87d8d69254f94d"


def test_default_parameters_are_opslimit_3_and_64_mib() -> None:
    params = KdfParams(salt=SALT)
    assert (params.opslimit, params.memlimit) == (OPSLIMIT, MEMLIMIT) == (3, 64 * 1024 * 1024)
    assert SALT_BYTES == 16


def test_derivation_is_argon2id_then_keyed_blake2b_as_documented() -> None:
    root = nacl.pwhash.argon2id.kdf(32, b"hunter2", SALT, opslimit=CHEAP.opslimit, memlimit=CHEAP.memlimit)
    keys = cheap("hunter2")
    assert keys.auth_key == hashlib.blake2b(b"coffer auth key v1", key=root, digest_size=32).digest()
    assert keys.master_key == hashlib.blake2b(b"coffer master key v1", key=root, digest_size=32).digest()


def test_same_password_and_salt_derive_the_same_keys() -> None:
    assert cheap("hunter2") == cheap("hunter2")


def test_another_salt_derives_other_keys() -> None:
    first, second = cheap("hunter2", SALT), cheap("hunter2", bytes(16))
    assert first.auth_key != second.auth_key
    assert first.master_key != second.master_key


def test_another_password_derives_other_keys() -> None:
    first, second = cheap("hunter2"), cheap("hunter3")
    assert first.auth_key != second.auth_key
    assert first.master_key != second.master_key


def test_other_cost_parameters_derive_other_keys() -> None:
    stronger = KdfParams(salt=SALT, opslimit=CHEAP.opslimit + 1, memlimit=CHEAP.memlimit)
    assert derive("hunter2", stronger) != cheap("hunter2")


def test_auth_key_differs_from_master_key() -> None:
    keys = cheap("hunter2")
    assert keys.auth_key != keys.master_key
    assert len(keys.auth_key) == len(keys.master_key) == 32


def test_password_is_encoded_as_utf8_without_normalisation() -> None:
    """Clients must hash the password's exact code points: "é" composed and decomposed differ."""
    root = nacl.pwhash.argon2id.kdf(32, "pässwörd".encode(), SALT, opslimit=CHEAP.opslimit, memlimit=CHEAP.memlimit)
    assert cheap("pässwörd").auth_key == hashlib.blake2b(b"coffer auth key v1", key=root, digest_size=32).digest()
    assert cheap("\u00e9") != cheap("e\u0301")


def test_empty_password_still_derives_keys() -> None:
    assert len(cheap("").auth_key) == 32


@pytest.mark.parametrize("salt", [b"", bytes(15), bytes(17)])
def test_salt_of_the_wrong_length_is_refused(salt: bytes) -> None:
    with pytest.raises(ValueError):
        cheap("hunter2", salt)


def test_password_keys_repr_hides_both_keys() -> None:
    keys = cheap("hunter2")
    for shown in (repr(keys), str(keys), f"{keys}", repr([keys])):
        assert "<secret>" in shown
        for secret in (keys.auth_key, keys.master_key):
            assert secret.hex() not in shown
            assert repr(secret) not in shown
