"""Names from metadata are remote input: escaped when printed, renamed when written, never hidden or controlling.

A sharer chooses the name a recipient's `coffer ls` prints and a download writes;
terminal escapes, carriage returns and dot-names must do nothing of what they say.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from coffer.client.cli.files import _readable, _row
from coffer.client.coffer import Coffer
from coffer.client.local_names import local_name, local_parts, shown

from .test_cli_rows import BASE

HOSTILE = "\x1b]0;owned\x07report\r\x1b[2Kinvoice.pdf\u202efdp.exe"


def test_a_printed_name_shows_its_control_characters_as_escapes_and_keeps_the_rest() -> None:
    assert shown(HOSTILE) == "\\x1b]0;owned\\x07report\\x0d\\x1b[2Kinvoice.pdf\\u202efdp.exe"
    assert shown("résumé 2024 📄.pdf") == "résumé 2024 📄.pdf"
    assert shown("a\x85b\u2028c") == "a\\x85b\\u2028c", "C1 controls and line separators too"


def test_ls_and_info_print_no_raw_control_character() -> None:
    row = _row(dataclasses.replace(BASE, name=HOSTILE))
    info = _readable("name", HOSTILE) + _readable("type", "text/plain\x1b[31m")
    for text in (row, info):
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in text), text


@pytest.mark.parametrize(
    ("name", "written"),
    [
        (".bashrc", "_.bashrc"),
        ("..hidden", "_..hidden"),
        ("a\rb\x1b[1m.txt", "a_b_[1m.txt"),
        ("notes.txt", "notes.txt"),
        ("../../.profile", "_.profile"),
        ("..", "fallback"),
    ],
)
def test_a_plain_name_is_written_without_controls_and_never_as_a_hidden_file(name: str, written: str) -> None:
    assert local_name(name, "fallback") == written


def test_every_component_of_a_tree_name_is_made_safe() -> None:
    assert local_parts(".ssh/authorized_keys") == ("_.ssh", "authorized_keys")
    assert local_parts("photos/.hidden/a\x07.jpg") == ("photos", "_.hidden", "a_.jpg")


def test_a_downloaded_dot_name_or_control_name_lands_renamed_in_the_chosen_directory(
    coffer: Coffer, tmp_path: Path
) -> None:
    source = tmp_path / "payload"
    source.write_bytes(b"echo owned")
    out = tmp_path / "home"
    out.mkdir()
    for sealed in (".bashrc", ".ssh/authorized_keys", "bill\r\x1b[2K.pdf"):
        coffer.download(coffer.upload(source, name=sealed).file_id, out)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["_.bashrc", "_.ssh/authorized_keys", "bill__[2K.pdf"]
