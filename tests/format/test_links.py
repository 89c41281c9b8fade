"""Share links: the URL layout, both fragment forms, and every way a link can arrive damaged.

Each failure must be a FormatError with a message the person holding the link can act on, and
no message may repeat the fragment (it is the key). The exact bytes are pinned by test_vectors.py.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffer.client.errors import KeyChanged, exit_code
from coffer.format.errors import (
    BadInput,
    FormatError,
    KeyMismatch,
    LinkKeyMissing,
    LinkMalformed,
    LinkPasswordNeeded,
    LinkPasswordWrong,
    PasswordUnusable,
)
from coffer.format.keys import check_key_commitment, key_commitment
from coffer.format.links import (
    LOCKED_BYTES,
    is_link,
    is_locked,
    link_url,
    locked_fragment,
    open_fragment,
    parse_link,
    plain_fragment,
)
from coffer.protocol.encoding import b64decode, b64encode
from coffer.protocol.errors import CofferError
from coffer.protocol.ids import new_id

KEY = bytes(range(32))
LINK_ID = "3f6c9a2e-8b1d-4c57-a0e4-7d2b5f9c1e38"
OTHER_LINK_ID = "9d2e7b41-6a3c-4f08-8e15-2c7a9b0d4f63"
SERVER = "https://coffer.example.com"
PASSWORD = "correct horse battery staple"

file_keys = st.binary(min_size=32, max_size=32)
link_ids = st.uuids(version=4).map(str)


@cache
def locked() -> str:
    """One locked fragment for the tamper tests: Argon2id costs a tenth of a second a run."""
    return locked_fragment(KEY, LINK_ID, PASSWORD)


def plain() -> str:
    return plain_fragment(KEY)


# --- plain fragments ---------------------------------------------------------------------------------------


@given(file_key=file_keys, link_id=link_ids)
def test_a_plain_fragment_round_trips_any_key(file_key: bytes, link_id: str) -> None:
    fragment = plain_fragment(file_key)
    assert fragment.startswith("v1.k.") and len(fragment) == 5 + 43
    assert not is_locked(fragment)
    assert open_fragment(fragment, link_id, None) == file_key


def test_a_password_given_for_a_plain_link_is_ignored() -> None:
    assert open_fragment(plain(), LINK_ID, "whatever") == KEY


@pytest.mark.parametrize("key", [b"", KEY[:31], KEY + b"\x00"], ids=["empty", "31-bytes", "33-bytes"])
def test_only_a_32_byte_key_makes_a_fragment(key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        plain_fragment(key)
    with pytest.raises(ValueError, match="32 bytes"):
        locked_fragment(key, LINK_ID, PASSWORD)


# --- locked fragments --------------------------------------------------------------------------------------


@settings(deadline=None, max_examples=6)
@given(
    file_key=file_keys, link_id=link_ids, password=st.text(min_size=1, max_size=20).filter(lambda p: p.isprintable())
)
def test_a_locked_fragment_round_trips_any_key_link_and_password(file_key: bytes, link_id: str, password: str) -> None:
    fragment = locked_fragment(file_key, link_id, password)
    assert fragment.startswith("v1.p.") and len(fragment) == 5 + 118
    assert is_locked(fragment)
    assert open_fragment(fragment, link_id, password) == file_key


def test_locking_the_same_key_twice_uses_fresh_salt_and_nonce() -> None:
    first, second = b64decode(locked()[5:]), b64decode(locked_fragment(KEY, LINK_ID, PASSWORD)[5:])
    assert first[:16] != second[:16]
    assert first[16:40] != second[16:40]
    assert KEY not in first


def test_a_wrong_password_says_so_and_exits_7() -> None:
    with pytest.raises(LinkPasswordWrong, match="^the password is wrong, or the link was changed") as raised:
        open_fragment(locked(), LINK_ID, PASSWORD + "!")
    assert (raised.value.code, exit_code(raised.value)) == ("link_password_wrong", 7)


def test_a_password_is_taken_as_typed_without_unicode_normalisation() -> None:
    fragment = locked_fragment(KEY, LINK_ID, "caf\u00e9")
    with pytest.raises(LinkPasswordWrong):
        open_fragment(fragment, LINK_ID, "cafe\u0301")


def test_a_locked_fragment_moved_to_another_link_does_not_open() -> None:
    with pytest.raises(LinkPasswordWrong):
        open_fragment(locked(), OTHER_LINK_ID, PASSWORD)


@settings(deadline=None, max_examples=20)
@given(index=st.integers(min_value=0, max_value=LOCKED_BYTES - 1), change=st.integers(1, 255))
def test_any_changed_byte_of_a_locked_fragment_fails_as_a_wrong_password(index: int, change: int) -> None:
    data = bytearray(b64decode(locked()[5:]))
    data[index] ^= change
    with pytest.raises(LinkPasswordWrong):
        open_fragment("v1.p." + b64encode(bytes(data)), LINK_ID, PASSWORD)


@pytest.mark.parametrize("password", [None, ""], ids=["none", "empty"])
def test_a_locked_fragment_without_a_password_asks_for_one(password: str | None) -> None:
    with pytest.raises(LinkPasswordNeeded, match="password") as raised:
        open_fragment(locked(), LINK_ID, password)
    assert (raised.value.code, exit_code(raised.value)) == ("link_password_needed", 2)


def test_a_cut_locked_fragment_is_malformed_before_any_password_is_asked_for() -> None:
    with pytest.raises(LinkMalformed, match="cut or changed"):
        open_fragment(locked()[:-1], LINK_ID, None)


def test_an_empty_link_password_is_refused_when_the_link_is_made() -> None:
    with pytest.raises(PasswordUnusable, match="cannot be empty"):
        locked_fragment(KEY, LINK_ID, "")


def test_a_locked_fragment_needs_a_real_link_id() -> None:
    with pytest.raises(LinkMalformed, match="not a link id"):
        locked_fragment(KEY, "not-a-link", PASSWORD)


# --- damaged fragments -------------------------------------------------------------------------------------


def test_a_link_without_a_fragment_says_apps_cut_it_and_asks_for_the_whole_link() -> None:
    with pytest.raises(LinkKeyMissing, match="some apps cut off the part after '#'.*whole link") as raised:
        open_fragment("", LINK_ID, None)
    assert (raised.value.code, exit_code(raised.value)) == ("link_key_missing", 2)


@pytest.mark.parametrize(
    ("fragment", "says"),
    [
        pytest.param(plain()[:-1], "42 characters where 43", id="plain-cut-by-one"),
        pytest.param(plain()[:20], "cut or changed", id="plain-cut-in-half"),
        pytest.param(plain() + "A", "44 characters", id="plain-one-too-long"),
        pytest.param(plain()[:-1] + "B", "not base64url", id="plain-non-canonical-last-char"),
        pytest.param("v1.k." + "=" * 43, "not a Coffer link key", id="padding"),
        pytest.param(plain() + "#more", "not a Coffer link key", id="second-hash"),
        pytest.param("v1.k." + "%2F" * 14 + "A", "not a Coffer link key", id="percent-encoded"),
        pytest.param("v2.k." + plain()[5:], "format v2.*update", id="a-later-version"),
        pytest.param("v1.x." + plain()[5:], "not a Coffer link key", id="unknown-form"),
        pytest.param("key=" + plain()[5:], "not a Coffer link key", id="not-coffer"),
        pytest.param("A" * 10_000, "not a Coffer link key", id="huge"),
    ],
)
def test_a_damaged_fragment_is_malformed_with_a_reason(fragment: str, says: str) -> None:
    with pytest.raises(LinkMalformed, match=says) as raised:
        open_fragment(fragment, LINK_ID, PASSWORD)
    assert (raised.value.code, exit_code(raised.value)) == ("link_malformed", 2)


@settings(deadline=None)
@given(file_key=file_keys, index=st.integers(min_value=5, max_value=47), char=st.sampled_from("AQgw"))
def test_a_changed_character_of_a_plain_key_is_caught_by_the_key_commitment(
    file_key: bytes, index: int, char: str
) -> None:
    """The plain form has no MAC of its own: the record's key commitment is what catches a changed key."""
    fragment = plain_fragment(file_key)
    changed = fragment[:index] + char + fragment[index + 1 :]
    try:
        key = open_fragment(changed, LINK_ID, None)
    except LinkMalformed:
        return  # the last character carries spare bits: changing them leaves non-canonical base64url
    if changed == fragment:
        assert key == file_key
        return
    with pytest.raises(KeyMismatch):
        check_key_commitment(key, key_commitment(file_key), "the link's key")


def test_a_bad_link_id_is_refused_when_opening_too() -> None:
    with pytest.raises(LinkMalformed, match="not a link id"):
        open_fragment(plain(), LINK_ID.upper(), None)


# --- URLs --------------------------------------------------------------------------------------------------


def test_a_link_is_server_slash_s_slash_link_id_hash_fragment() -> None:
    assert link_url(SERVER, LINK_ID, plain()) == f"{SERVER}/s/{LINK_ID}#{plain()}"


def test_a_link_without_a_fragment_has_no_hash() -> None:
    assert link_url(SERVER, LINK_ID, "") == f"{SERVER}/s/{LINK_ID}"


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (SERVER + "/", SERVER),
        ("HTTPS://coffer.example.com", SERVER),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("https://files.example.org:8443/coffer/", "https://files.example.org:8443/coffer"),
    ],
)
def test_the_server_url_is_written_in_one_form(server: str, expected: str) -> None:
    assert link_url(server, LINK_ID, plain()) == f"{expected}/s/{LINK_ID}#{plain()}"


@pytest.mark.parametrize("server", ["coffer.example.com", "ftp://coffer.example.com", "https://h/?a=1", "https://"])
def test_a_link_is_not_made_on_a_server_url_that_could_not_be_parsed_back(server: str) -> None:
    with pytest.raises(LinkMalformed):
        link_url(server, LINK_ID, plain())


@pytest.mark.parametrize("fragment", ["a#b", "a b", "a/b", "ä"])
def test_a_fragment_outside_base64url_and_dots_is_a_programming_error(fragment: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        link_url(SERVER, LINK_ID, fragment)


hosts = st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,6}){0,2}", fullmatch=True) | st.sampled_from(
    ["127.0.0.1", "[::1]", "[2001:db8::7]"]
)
base_paths = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,10}", fullmatch=True), max_size=3).map(
    lambda parts: "".join(f"/{p}" for p in parts)
)


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=hosts,
    port=st.none() | st.integers(min_value=1, max_value=65535),
    base=base_paths,
    link_id=link_ids,
    file_key=file_keys,
    slash=st.booleans(),
)
def test_any_link_on_any_server_parses_back_to_its_parts(
    scheme: str, host: str, port: int | None, base: str, link_id: str, file_key: bytes, slash: bool
) -> None:
    server = f"{scheme}://{host}" + (f":{port}" if port is not None else "") + base
    fragment = plain_fragment(file_key)
    url = link_url(server, link_id, fragment)
    assert is_link(url)
    for text in (url, url.replace("#", "/#") if slash else f"  {url}\n"):
        ref = parse_link(text)
        assert (ref.server, ref.link_id, ref.fragment) == (server, link_id, fragment)


def test_a_server_made_link_id_is_accepted() -> None:
    link_id = new_id()
    assert parse_link(f"{SERVER}/s/{link_id}").link_id == link_id


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"ftp://coffer.example.com/s/{LINK_ID}", id="ftp"),
        pytest.param(f"file:///s/{LINK_ID}", id="file"),
        pytest.param(f"javascript://x/s/{LINK_ID}", id="javascript"),
        pytest.param(f"coffer.example.com/s/{LINK_ID}", id="no-scheme"),
        pytest.param(f"https:///s/{LINK_ID}", id="no-host"),
        pytest.param(f"https://:443/s/{LINK_ID}", id="port-only"),
        pytest.param(f"https://coffer.example.com:99999/s/{LINK_ID}", id="port-out-of-range"),
        pytest.param(f"https://coffer.example.com:x/s/{LINK_ID}", id="port-not-a-number"),
        pytest.param(f"https://alice:pw@coffer.example.com/s/{LINK_ID}", id="user-and-password"),
        pytest.param(f"{SERVER}/s/{LINK_ID}?x=1", id="query"),
        pytest.param(f"{SERVER}/s/{LINK_ID}//", id="two-slashes"),
        pytest.param(f"{SERVER}//s/{LINK_ID}", id="empty-base-segment"),
        pytest.param(f"{SERVER}/s/{LINK_ID}/x", id="more-after-the-id"),
        pytest.param(f"{SERVER}/s/", id="no-id"),
        pytest.param(f"{SERVER}/{LINK_ID}", id="no-s"),
        pytest.param(f"{SERVER}/files/{LINK_ID}", id="another-route"),
        pytest.param(f"{SERVER}/s/{LINK_ID.upper()}", id="upper-case-id"),
        pytest.param(f"{SERVER}/s/{LINK_ID.replace('-', '')}", id="id-without-dashes"),
        pytest.param(f"{SERVER}/s/{{{LINK_ID}}}", id="id-in-braces"),
        pytest.param(f"{SERVER}/s/{uuid.UUID(LINK_ID, version=1)}", id="uuid-version-1"),
        pytest.param(f"{SERVER}/s/..%2F..%2Fetc", id="path-traversal"),
        pytest.param(f"{SERVER}/s/{LINK_ID} x", id="space-inside"),
        pytest.param(f"{SERVER}/s/{LINK_ID[:10]}\n{LINK_ID[10:]}", id="line-break-inside"),
        pytest.param("", id="empty"),
        pytest.param(LINK_ID, id="a-bare-id"),
    ],
)
def test_anything_but_a_share_link_is_malformed(url: str) -> None:
    with pytest.raises(LinkMalformed) as raised:
        parse_link(url + "#" + plain())
    assert (raised.value.code, exit_code(raised.value)) == ("link_malformed", 2)
    assert plain()[5:] not in raised.value.message


def test_no_error_about_a_link_repeats_its_key() -> None:
    """SECURITY: messages reach terminals and logs; the fragment is the file key."""
    secret = plain()[5:]
    attempts: list[Callable[[], object]] = [
        lambda: parse_link(f"https://alice@h/s/{LINK_ID}#{plain()}"),
        lambda: parse_link(f"https://h/s/{LINK_ID} #{plain()}"),
        lambda: open_fragment(plain()[:-1], LINK_ID, None),
        lambda: open_fragment(plain() + "A", LINK_ID, None),
        lambda: open_fragment("v9." + secret, LINK_ID, None),
    ]
    for attempt in attempts:
        with pytest.raises(FormatError) as raised:
            attempt()
        assert secret not in str(raised.value)
        assert secret[:20] not in str(raised.value)


def test_a_parsed_link_does_not_show_its_key_in_its_repr() -> None:
    ref = parse_link(f"{SERVER}/s/{LINK_ID}#{plain()}")
    assert ref.fragment == plain()
    assert plain()[5:] not in repr(ref) and plain()[5:] not in str(ref)
    assert LINK_ID in repr(ref)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{SERVER}/s/{LINK_ID}#{KEY.hex()}", True),
        (f"HTTP://127.0.0.1:8000/s/{LINK_ID}", True),
        (f"  https://h/base/s/{LINK_ID}  ", True),
        (LINK_ID, False),
        ("https://h/files/abc", False),
        (f"ftp://h/s/{LINK_ID}", False),
        ("./s/report.pdf", False),
        ("", False),
    ],
)
def test_is_link_tells_a_url_from_a_file_id(text: str, expected: bool) -> None:
    assert is_link(text) is expected


# --- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "base", "code", "status"),
    [
        (LinkMalformed, BadInput, "link_malformed", 2),
        (LinkKeyMissing, BadInput, "link_key_missing", 2),
        (LinkPasswordNeeded, BadInput, "link_password_needed", 2),
        (LinkPasswordWrong, FormatError, "link_password_wrong", 7),
        (KeyChanged, CofferError, "key_changed", 7),
    ],
)
def test_link_and_key_errors_have_their_codes_and_exit_codes(
    error: type[CofferError], base: type[CofferError], code: str, status: int
) -> None:
    assert issubclass(error, base)
    assert (error.code, exit_code(error("x"))) == (code, status)


def test_the_fragment_alphabet_is_base64url_which_needs_no_escaping_in_a_url() -> None:
    assert set(plain()[5:]) <= set(base64.urlsafe_b64encode(bytes(range(256))).decode())
