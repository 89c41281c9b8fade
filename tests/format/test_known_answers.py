"""Known answers from the primitives' own standards, so the format cannot be born consistent only with itself.

``spec/vectors/format-v1.json`` is computed by the code it tests: a wrong primitive (a
swapped argument, a truncated key, another curve) would produce vectors that agree with
that same wrong code. These answers come from outside Coffer:

- AES-256-GCM: the GCM specification's test case 16 (McGrew and Viega, also in NIST's
  validation set), through the very functions that seal and open every chunk;
- XSalsa20-Poly1305 secret boxes (the private-key wrap) and X25519 boxes (shares): NaCl's
  published example, with RFC 7748's key pairs;
- sealed boxes (file keys sealed to their owner): libsodium's documented construction,
  ``epk || box(m, BLAKE2b-192(epk || pk), pk, esk)``, opened by the format's own function;
- Ed25519 (tickets, receipts, cluster requests): RFC 8032, section 7.1;
- Argon2id (password keys): libsodium's published answers (RFC 9106's vector needs four lanes);
- BLAKE2b (key derivation labels, key commitments): RFC 7693 and the keyed reference answers;
- SHA-256 (chunk names): FIPS 180-4's "abc".
"""

from __future__ import annotations

import hashlib

import nacl.bindings
import nacl.pwhash.argon2id
import nacl.secret
import nacl.signing
import pytest

from coffer.format import aead
from coffer.format.chunks import chunk_hash
from coffer.format.keys import UserKeys, open_file_key
from coffer.protocol.signing import SigningKey


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


GCM_KEY = h("feffe9928665731c6d6a8f9467308308 feffe9928665731c6d6a8f9467308308")
GCM_IV = h("cafebabefacedbaddecaf888")
GCM_AAD = h("feedfacedeadbeeffeedfacedeadbeef abaddad2")
GCM_PLAINTEXT = h(
    "d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b39"
)
GCM_CIPHERTEXT = h(
    "522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662"
)
GCM_TAG = h("76fc6ece0f4e1768cddf8853bb2d551b")


def test_chunk_sealing_is_aes_256_gcm_as_the_gcm_specification_defines_it() -> None:
    sealed = aead.seal(GCM_IV, GCM_PLAINTEXT, GCM_AAD, GCM_KEY)
    assert sealed == GCM_IV + GCM_CIPHERTEXT + GCM_TAG


def test_chunk_opening_accepts_the_gcm_specification_ciphertext() -> None:
    assert bytes(aead.open_sealed(GCM_IV + GCM_CIPHERTEXT + GCM_TAG, GCM_AAD, GCM_KEY)) == GCM_PLAINTEXT


def test_chunk_sealing_into_a_reused_buffer_gives_the_specification_bytes() -> None:
    out = bytearray(len(GCM_IV) + len(GCM_PLAINTEXT) + len(GCM_TAG) + 7)
    written = aead.seal_into(GCM_IV, GCM_PLAINTEXT, GCM_AAD, GCM_KEY, out)
    assert bytes(out[:written]) == GCM_IV + GCM_CIPHERTEXT + GCM_TAG


# RFC 7748, section 6.1: Alice's and Bob's X25519 key pairs and their shared secret.
ALICE_SK = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PK = h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
BOB_SK = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
BOB_PK = h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
SHARED = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")

# NaCl's box and secretbox example: the same message under Alice's key to Bob, or under the
# precomputed key they share, gives the same authenticator and ciphertext.
NACL_FIRSTKEY = h("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389")
NACL_NONCE = h("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37")
NACL_MESSAGE = h(
    "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc"
    "e5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31"
    "0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde"
    "048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864"
    "5e0705"
)
NACL_BOX = h(
    "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce"
    "48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c972"
    "71d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae"
    "90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b3"
    "7973f622a43d14a6599b1f654cb45a74e355a5"
)


def test_user_key_pairs_are_x25519_as_rfc_7748_defines_them() -> None:
    assert nacl.bindings.crypto_scalarmult_base(ALICE_SK) == ALICE_PK
    assert nacl.bindings.crypto_scalarmult_base(BOB_SK) == BOB_PK
    assert (
        nacl.bindings.crypto_scalarmult(ALICE_SK, BOB_PK) == SHARED == nacl.bindings.crypto_scalarmult(BOB_SK, ALICE_PK)
    )


def test_the_private_key_wrap_is_nacl_secretbox() -> None:
    """The wrap of a user's private key (``format.keys.wrap_private_key``) is this SecretBox."""
    sealed = nacl.secret.SecretBox(NACL_FIRSTKEY).encrypt(NACL_MESSAGE, NACL_NONCE)
    assert bytes(sealed) == NACL_NONCE + NACL_BOX


def test_shares_use_nacl_box_whose_key_is_the_secretbox_key_of_the_example() -> None:
    """``format.shares`` boxes with ``crypto_box``: Alice to Bob gives NaCl's published bytes."""
    assert nacl.bindings.crypto_box_beforenm(BOB_PK, ALICE_SK) == NACL_FIRSTKEY
    assert nacl.bindings.crypto_box(NACL_MESSAGE, NACL_NONCE, BOB_PK, ALICE_SK) == NACL_BOX
    assert nacl.bindings.crypto_box_open(NACL_BOX, NACL_NONCE, ALICE_PK, BOB_SK) == NACL_MESSAGE


def test_a_file_key_sealed_by_the_documented_sealed_box_construction_opens() -> None:
    """A sealed box is ``epk || box(m, BLAKE2b-192(epk || pk), pk, esk)`` (libsodium's documentation)."""
    file_key = bytes(range(32))
    nonce = hashlib.blake2b(ALICE_PK + BOB_PK, digest_size=24).digest()
    sealed = ALICE_PK + nacl.bindings.crypto_box(file_key, nonce, BOB_PK, ALICE_SK)
    assert open_file_key(UserKeys(BOB_SK, BOB_PK), sealed) == file_key


# RFC 8032, section 7.1, tests 1 to 3: secret key, public key, message, signature.
ED25519 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), ED25519)
def test_signatures_are_ed25519_as_rfc_8032_defines_them(
    secret: str, public: str, message: str, signature: str
) -> None:
    key = SigningKey(h(secret))
    assert key.public_key == h(public)
    assert nacl.signing.SigningKey(key.seed).sign(h(message)).signature == h(signature)
    nacl.signing.VerifyKey(key.public_key).verify(h(message), h(signature))


ARGON2ID_PASSWORD = h(
    "a347ae92bce9f80f6f595a4480fc9c2fe7e7d7148d371e9487d75f5c23008ffae065577a928febd9b1973a5a95073acdbeb6a030"
    "cfc0d79caa2dc5cd011cef02c08da232d76d52dfbca38ca8dcbd665b17d1665f7cf5fe59772ec909733b24de97d6f58d220b20c6"
    "0d7c07ec1fd93c52c31020300c6c1facd77937a597c7a6"
)
ARGON2ID_SALT = h("5541fbc995d5c197ba290346d2c559de")
ARGON2ID_OUTPUT = h(
    "18acec5d6507739f203d1f5d9f1d862f7c2cdac4f19d2bdff64487e60d969e3ced615337b9eec6ac4461c6ca07f0939741e57c24"
    "d0005c7ea171a0ee1e7348249d135b38f222e4dad7b9a033ed83f5ca27277393e316582033c74affe2566a2bea47f91f0fd9fe49"
    "ece7e1f79f3ad6e9b23e0277c8ecc4b313225748dd2a80f5679534a0700e246a79a49b3f74eb89ec6205fe1eeb941c73b1fcf1"
)


def test_password_keys_start_from_argon2id_version_1_3_as_libsodiums_published_answers_say() -> None:
    """libsodium's first Argon2id answer (t=5, m=7,256,678 bytes, p=1), the function ``format.kdf`` calls.

    RFC 9106's own vector needs four lanes, a secret and associated data, which libsodium's
    Argon2id (one lane, as every Coffer client uses) does not take.
    """
    output = nacl.pwhash.argon2id.kdf(155, ARGON2ID_PASSWORD, ARGON2ID_SALT, opslimit=5, memlimit=7256678)
    assert output == ARGON2ID_OUTPUT


def test_blake2b_is_rfc_7693() -> None:
    assert hashlib.blake2b(b"abc").digest() == h(
        "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
        "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
    )


def test_keyed_blake2b_matches_the_reference_answer_for_an_empty_message() -> None:
    """The key commitment and the key derivation labels use keyed BLAKE2b."""
    assert hashlib.blake2b(b"", key=bytes(range(64))).digest() == h(
        "10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786"
        "b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568"
    )


def test_chunk_names_are_sha_256_as_fips_180_4_defines_it() -> None:
    assert chunk_hash(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
