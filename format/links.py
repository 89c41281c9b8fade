"""Share links, ``{server}/s/{link id}#{fragment}``, and the file key that travels in the fragment.

Browsers never send the part after '#' to a server, so a link carries its file key there, in
one of two forms (version 1, spec/format-v1.md section 15; the reasons are in docs/crypto.md):

- ``v1.k.`` + base64url(file key): whoever holds the link holds the key;
- ``v1.p.`` + base64url(salt (16) || nonce (24) || XChaCha20-Poly1305(file key) (48)): the key
  locked with a password. ``root = Argon2id(password, salt)`` at the KDF's cost (``coffer.protocol.kdf``),
  ``wrap_key = BLAKE2b-256(key = root, "coffer link key v1")``, and the associated data is
  ``"coffer link v1" || link id (16)``, so a locked key does not open on another link.

Either way the key is checked against the file record's key commitment before it is used
(``keys.check_key_commitment``), which catches a plain key that was changed on the way.

SECURITY: a fragment is a key, or a key locked by a password that can be guessed offline:
never log one. ``LinkRef``'s repr leaves it out, and no error message here repeats it.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import nacl.bindings
import nacl.exceptions
import nacl.pwhash.argon2id

from coffer.protocol import kdf
from coffer.protocol.encoding import DecodeError, b64decode, b64encode
from coffer.protocol.errors import ProtocolError
from coffer.protocol.ids import check_id

from .errors import LinkKeyMissing, LinkMalformed, LinkPasswordNeeded, LinkPasswordWrong, PasswordUnusable
from .keys import KEY_BYTES

PLAIN_PREFIX = "v1.k."
LOCKED_PREFIX = "v1.p."
LINK_KEY_LABEL = b"coffer link key v1"
LINK_AD = b"coffer link v1"
SALT_BYTES = kdf.SALT_BYTES
LINK_NONCE_BYTES = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
LOCKED_BYTES = SALT_BYTES + LINK_NONCE_BYTES + KEY_BYTES + nacl.bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES
PLAIN_KEY_CHARS = len(b64encode(bytes(KEY_BYTES)))
LOCKED_KEY_CHARS = len(b64encode(bytes(LOCKED_BYTES)))
_MAX_FRAGMENT_CHARS = 512
_FRAGMENT_CHARS = re.compile(r"\A[A-Za-z0-9._-]*\Z")
_VERSION = re.compile(r"\Av[0-9]+\Z")
_LINK_PATH = re.compile(r"\A(?P<base>(?:/[^/]+)*)/s/(?P<id>[^/]+)/?\Z")
_LAYOUT = "a share link looks like https://SERVER/s/LINK-ID#KEY"
_ASK_WHOLE = "ask the sender for the whole link, or copy it again whole"


@dataclass(frozen=True)
class LinkRef:
    """A parsed share link: the server's URL (with any base path), the link id, and the fragment ('' if none).

    SECURITY: ``fragment`` holds the file key, so the repr leaves it out.
    """

    server: str
    link_id: str
    fragment: str = field(repr=False)


def is_link(text: str) -> bool:
    """Tell a share link from a file id, as a command line argument that may be either."""
    stripped = text.strip()
    return stripped.lower().startswith(("http://", "https://")) and "/s/" in stripped


def is_locked(fragment: str) -> bool:
    """Tell whether opening *fragment* needs a password."""
    return fragment.startswith(LOCKED_PREFIX)


def link_url(server: str, link_id: str, fragment: str) -> str:
    """Return the URL to hand out: ``{server}/s/{link_id}#{fragment}`` (no '#' when *fragment* is '')."""
    if not _FRAGMENT_CHARS.match(fragment):
        raise ValueError("a link fragment is made of base64url characters and dots only")
    ref = parse_link(f"{server.rstrip('/')}/s/{link_id}")
    return f"{ref.server}/s/{ref.link_id}" + (f"#{fragment}" if fragment else "")


def parse_link(url: str) -> LinkRef:
    """Split a share link into server, link id and fragment; LinkMalformed if it is not one.

    Accepts http and https, any host, port and base path, with or without a slash after the
    link id. A link with no '#' part parses, with fragment '': ``open_fragment`` says what is missing.
    """
    text = url.strip()
    before, _, fragment = text.partition("#")
    shown = before if len(before) <= 200 else before[:200] + "..."
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise LinkMalformed(f"the link {shown!r} contains spaces or line breaks: copy it again as one line")
    try:
        parts = urlsplit(before)
        _ = parts.port  # reading it validates the port
    except ValueError as exc:
        raise LinkMalformed(f"{shown!r} is not a share link: its host or port is malformed; {_LAYOUT}") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise LinkMalformed(f"{shown!r} is not a share link: {_LAYOUT}")
    if parts.username is not None or parts.password is not None:
        raise LinkMalformed(f"{shown!r} has a user name before its host, which no Coffer link has: {_ASK_WHOLE}")
    if parts.query:
        raise LinkMalformed(f"{shown!r} has a '?' part, which no Coffer link has: {_LAYOUT}")
    path = _LINK_PATH.match(parts.path)
    if not path:
        raise LinkMalformed(f"{shown!r} is not a share link: its path must end in /s/LINK-ID; {_LAYOUT}")
    link_id = _checked_link_id(path["id"])
    return LinkRef(f"{parts.scheme.lower()}://{parts.netloc}{path['base']}", link_id, fragment)


def _checked_link_id(link_id: str) -> str:
    try:
        return check_id(link_id, "link_id")
    except ProtocolError as exc:
        raise LinkMalformed(
            f"{link_id[:64]!r} is not a link id (a lowercase UUID, as the server makes them): {_ASK_WHOLE}"
        ) from exc


def _link_ad(link_id: str) -> bytes:
    return LINK_AD + uuid.UUID(_checked_link_id(link_id)).bytes


def _wrap_key(password: str, salt: bytes) -> bytes:
    """SECURITY: derive the key that locks a link's file key from its password, at the KDF's fixed cost."""
    try:
        secret = password.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PasswordUnusable("the link password is not valid text: type it again") from exc
    root = nacl.pwhash.argon2id.kdf(KEY_BYTES, secret, salt, opslimit=kdf.OPSLIMIT, memlimit=kdf.MEMLIMIT)
    return hashlib.blake2b(LINK_KEY_LABEL, key=root, digest_size=KEY_BYTES).digest()


def plain_fragment(file_key: bytes) -> str:
    """Return the fragment that carries *file_key* as it is: ``v1.k.`` + base64url (43 characters)."""
    if len(file_key) != KEY_BYTES:
        raise ValueError(f"a file key is {KEY_BYTES} bytes, not {len(file_key)}")
    return PLAIN_PREFIX + b64encode(file_key)


def locked_fragment(
    file_key: bytes, link_id: str, password: str, *, salt: bytes | None = None, nonce: bytes | None = None
) -> str:
    """Return the fragment that carries *file_key* locked with *password* for *link_id*.

    *salt* and *nonce* are for test vectors only; otherwise they are fresh random bytes.
    """
    if len(file_key) != KEY_BYTES:
        raise ValueError(f"a file key is {KEY_BYTES} bytes, not {len(file_key)}")
    if not password:
        raise PasswordUnusable("a link password cannot be empty: choose one, or make the link without a password")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    nonce = os.urandom(LINK_NONCE_BYTES) if nonce is None else nonce
    if len(salt) != SALT_BYTES or len(nonce) != LINK_NONCE_BYTES:
        raise ValueError(f"a link salt is {SALT_BYTES} bytes and a link nonce {LINK_NONCE_BYTES}")
    ad = _link_ad(link_id)
    sealed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(file_key, ad, nonce, _wrap_key(password, salt))
    return LOCKED_PREFIX + b64encode(salt + nonce + sealed)


def open_fragment(fragment: str, link_id: str, password: str | None) -> bytes:
    """Return the file key a link's *fragment* carries, unlocking it with *password* if it is locked.

    A password given for a plain link is ignored; an empty one counts as none. The key still
    has to pass the record's key commitment before it is used.
    """
    _checked_link_id(link_id)
    if not fragment:
        raise LinkKeyMissing(
            "the link has no key after '#': some apps cut off the part after '#' when they pass a link on; "
            + _ASK_WHOLE
        )
    if len(fragment) > _MAX_FRAGMENT_CHARS or not _FRAGMENT_CHARS.match(fragment):
        raise LinkMalformed(f"the part after '#' is not a Coffer link key: it was changed on the way; {_ASK_WHOLE}")
    if fragment.startswith(PLAIN_PREFIX):
        return _decoded(fragment[len(PLAIN_PREFIX) :], PLAIN_KEY_CHARS, "key")
    if fragment.startswith(LOCKED_PREFIX):
        locked = _decoded(fragment[len(LOCKED_PREFIX) :], LOCKED_KEY_CHARS, "locked key")
        return _unlock(locked, link_id, password)
    version = fragment.split(".", 1)[0]
    if _VERSION.match(version) and version != "v1":
        raise LinkMalformed(f"the link's key is in format {version}, which this version of Coffer cannot read: update")
    raise LinkMalformed(f"the part after '#' is not a Coffer link key: it was changed on the way; {_ASK_WHOLE}")


def _decoded(body: str, chars: int, what: str) -> bytes:
    if len(body) != chars:
        raise LinkMalformed(
            f"the {what} after '#' is {len(body)} characters where {chars} are expected: "
            f"it was cut or changed on the way; {_ASK_WHOLE}"
        )
    try:
        return b64decode(body, max_length=chars)
    except DecodeError as exc:
        raise LinkMalformed(f"the {what} after '#' is not base64url: it was changed on the way; {_ASK_WHOLE}") from exc


def _unlock(locked: bytes, link_id: str, password: str | None) -> bytes:
    if not password:
        raise LinkPasswordNeeded("this link's key is locked with a password: ask the sender for the password")
    salt, nonce = locked[:SALT_BYTES], locked[SALT_BYTES : SALT_BYTES + LINK_NONCE_BYTES]
    sealed = locked[SALT_BYTES + LINK_NONCE_BYTES :]
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed, _link_ad(link_id), nonce, _wrap_key(password, salt)
        )
    except nacl.exceptions.CryptoError as exc:
        raise LinkPasswordWrong(
            "the password is wrong, or the link was changed: check the password with the sender, "
            "and that you have the whole link"
        ) from exc
