"""Directories: `upload -r` keeps each file's relative path in its sealed name, and a download restores it safely.

The name in metadata is written by whoever holds the file key, a sharer included: a
hostile one must not place a file outside the directory the downloader chose.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coffer.client.cli.files import upload_sources
from coffer.client.coffer import Coffer
from coffer.client.errors import UsageError
from coffer.format.errors import IntegrityError
from coffer.format.metadata import relative_path


def make_tree(root: Path) -> dict[str, bytes]:
    files = {"a.txt": os.urandom(300), "sub/b.bin": os.urandom(2000), "sub/deeper/c": b""}
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    (root / "empty").mkdir()
    return files


def test_a_tree_is_uploaded_under_names_relative_to_the_directory_given(tmp_path: Path) -> None:
    make_tree(tmp_path / "photos")
    sources = upload_sources([tmp_path / "photos"], recursive=True)
    assert [name for _, name in sources] == ["photos/a.txt", "photos/sub/b.bin", "photos/sub/deeper/c"]


def test_a_directory_without_r_says_to_use_r(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(UsageError, match=r"d is a directory: use -r to upload it and everything in it") as caught:
        upload_sources([tmp_path / "d"], recursive=False)
    assert caught.value.exit_code == 2


def test_a_tree_round_trips_with_its_paths(coffer: Coffer, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "photos")
    ids = [coffer.upload(path, name=name).file_id for path, name in upload_sources([tmp_path / "photos"], True)]
    out = tmp_path / "restored"
    out.mkdir()
    written = [coffer.download(file_id, out) for file_id in ids]
    assert written == [out / "photos" / relative for relative in files]
    assert all((out / "photos" / relative).read_bytes() == data for relative, data in files.items())


@pytest.mark.parametrize(
    "name",
    ["../escaped.txt", "photos/../../escaped.txt", "/escaped-absolute.txt", "photos//x", "photos/./x", "a\\b/c", "x/"],
)
def test_a_hostile_relative_name_is_refused_and_nothing_is_written(coffer: Coffer, tmp_path: Path, name: str) -> None:
    source = tmp_path / "payload"
    source.write_bytes(b"owned")
    file_id = coffer.upload(source, name=name).file_id  # what a malicious sharer can seal
    out = tmp_path / "out" / "inner"
    out.mkdir(parents=True)
    with pytest.raises(IntegrityError, match="-o FILE"):
        coffer.download(file_id, out)
    assert not list((tmp_path / "out").rglob("*escaped*")) and list(out.iterdir()) == []
    assert not Path("/escaped-absolute.txt").exists()


def test_a_symbolic_link_planted_below_the_target_is_not_followed(coffer: Coffer, tmp_path: Path) -> None:
    source = tmp_path / "payload"
    source.write_bytes(b"owned")
    file_id = coffer.upload(source, name="photos/x.txt").file_id
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "photos").symlink_to(elsewhere)
    with pytest.raises(IntegrityError, match="symbolic link"):
        coffer.download(file_id, out)
    assert list(elsewhere.iterdir()) == []


def test_a_hostile_name_is_harmless_when_the_downloader_names_the_file(coffer: Coffer, tmp_path: Path) -> None:
    source = tmp_path / "payload"
    source.write_bytes(b"data")
    file_id = coffer.upload(source, name="../../x").file_id
    assert coffer.download(file_id, tmp_path / "chosen.txt").read_bytes() == b"data"


@pytest.mark.parametrize("name", ["a/b", "photos/2024/img 1.jpg", "x/.hidden"])
def test_safe_relative_names_are_accepted(name: str) -> None:
    assert "/".join(relative_path(name)) == name
