"""Resume state: written atomically and privately, read back exactly, and anything odd reads as no state."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffer.client import resume

FILE_ID = "0b6c43f2-4b0e-4c36-9d55-3b0c8a9e2f10"


def upload_state(**changes: object) -> resume.UploadState:
    state = resume.UploadState(
        server="http://127.0.0.1:8000",
        user="5d1f7a55-2f5e-4b7a-8e2e-6f7b1c9d0a11",
        path="/data/big.iso",
        size=3 * 1024,
        mtime_ns=1_700_000_000_123_456_789,
        shard="default",
        chunk_size=1024,
        copies=1,
        file_id=FILE_ID,
        file_key=b"k" * 32,
        chunks={
            0: resume.ChunkRecord("a" * 64, 1052, ("receipt-0",)),
            2: resume.ChunkRecord("b" * 64, 1052, ("r1", "r2")),
        },
    )
    for key, value in changes.items():
        setattr(state, key, value)
    return state


def test_an_upload_state_round_trips_through_its_file(tmp_path: Path) -> None:
    path = resume.upload_state_path(tmp_path, "http://s", "u", "/data/big.iso")
    state = upload_state()
    resume.save(path, state)
    assert resume.load_upload(path) == state


def test_state_files_are_private_and_leave_no_temp_files(tmp_path: Path) -> None:
    path = resume.upload_state_path(tmp_path, "http://s", "u", "/data/big.iso")
    resume.save(path, upload_state())
    resume.save(path, upload_state(chunks={}))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_the_key_of_a_state_file_reveals_no_path_and_separates_servers_users_and_files(tmp_path: Path) -> None:
    a = resume.upload_state_path(tmp_path, "http://s", "u", "/data/secret-plans.iso")
    assert "secret" not in a.name
    assert a != resume.upload_state_path(tmp_path, "http://t", "u", "/data/secret-plans.iso")
    assert a != resume.upload_state_path(tmp_path, "http://s", "v", "/data/secret-plans.iso")
    assert a != resume.upload_state_path(tmp_path, "http://s", "u", "/data/other.iso")
    d = resume.download_state_path(tmp_path, "http://s", "u", FILE_ID, "/data/out")
    assert d.parent.name == "downloads" and a.parent.name == "uploads"


def test_a_state_matches_only_the_same_unchanged_file_and_options() -> None:
    state = upload_state()
    same = dict(
        server=state.server,
        user=state.user,
        path=state.path,
        size=state.size,
        mtime_ns=state.mtime_ns,
        shard="default",
        chunk_size=1024,
        copies=1,
    )
    assert state.matches(**same)  # type: ignore[arg-type]
    for key, other in [
        ("size", 3 * 1024 + 1),
        ("mtime_ns", state.mtime_ns + 1),
        ("shard", "archive"),
        ("chunk_size", 2048),
        ("copies", 2),
        ("user", "someone-else"),
        ("server", "http://elsewhere"),
        ("path", "/data/other.iso"),
    ]:
        assert not state.matches(**(same | {key: other})), key  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b'{"v": 2, "kind": "upload"}',
        b'{"v": 1, "kind": "download"}',
        b'{"v": 1, "kind": "upload", "server": "s"}',
    ],
)
def test_a_damaged_or_foreign_state_reads_as_none(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    assert resume.load_upload(path) is None
    assert resume.load_download(path) is None
    assert resume.load_upload(tmp_path / "missing.json") is None


def test_a_state_with_a_wrong_field_type_reads_as_none(tmp_path: Path) -> None:
    good = upload_state().to_json()
    for key, bad in [
        ("size", -1),
        ("size", "3"),
        ("file_key", "AAAA"),
        ("file_key", "!!"),
        ("chunks", {"x": {}}),
        ("chunks", {"0": {"hash": "a", "size": True, "receipts": []}}),
        ("copies", None),
    ]:
        path = tmp_path / f"{key}.json"
        path.write_text(json.dumps(good | {key: bad}))
        assert resume.load_upload(path) is None, (key, bad)


def test_a_download_state_round_trips_and_matches_only_the_same_record(tmp_path: Path) -> None:
    layout = resume.layout_digest([(0, "a" * 64, 1052), (1, "b" * 64, 30)])
    state = resume.DownloadState("http://s", "u", FILE_ID, "/data/out.bin", 1026, layout, {0})
    path = resume.download_state_path(tmp_path, "http://s", "u", FILE_ID, "/data/out.bin")
    resume.save(path, state)
    loaded = resume.load_download(path)
    assert loaded == state
    assert loaded.matches(server="http://s", user="u", file_id=FILE_ID, dest="/data/out.bin", size=1026, layout=layout)
    swapped = resume.layout_digest([(0, "b" * 64, 1052), (1, "a" * 64, 30)])
    assert not loaded.matches(
        server="http://s", user="u", file_id=FILE_ID, dest="/data/out.bin", size=1026, layout=swapped
    )


def test_the_states_of_a_file_are_found_to_forget_them(tmp_path: Path) -> None:
    a = resume.upload_state_path(tmp_path, "http://s", "u", "/a")
    b = resume.upload_state_path(tmp_path, "http://s", "u", "/b")
    resume.save(a, upload_state())
    resume.save(b, upload_state(file_id="1b6c43f2-4b0e-4c36-9d55-3b0c8a9e2f10"))
    assert resume.states_of_file(tmp_path, FILE_ID) == [a]
    resume.discard(a)
    resume.discard(a)
    assert resume.states_of_file(tmp_path, FILE_ID) == []


def test_the_part_file_sits_beside_the_destination() -> None:
    assert resume.part_path(Path("/x/y/report.pdf")) == Path("/x/y/report.pdf.coffer-part")


def test_the_throttle_allows_a_save_once_per_interval() -> None:
    now = [0.0]
    throttle = resume.Throttle(lambda: now[0], interval=0.5)
    assert not throttle.due()
    now[0] = 0.6
    assert throttle.due()
    assert not throttle.due()
    now[0] = 1.2
    assert throttle.due()


def test_a_failed_save_leaves_the_previous_state_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = resume.upload_state_path(tmp_path, "http://s", "u", "/a")
    resume.save(path, upload_state())

    def broken(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError):
        resume.save(path, upload_state(chunks={}))
    monkeypatch.undo()
    assert resume.load_upload(path) == upload_state()
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@given(
    st.dictionaries(
        st.integers(min_value=0, max_value=10_000),
        st.tuples(
            st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
            st.integers(min_value=0, max_value=2**40),
            st.lists(st.text(max_size=40), max_size=8),
        ),
        max_size=20,
    )
)
def test_any_chunk_table_round_trips_through_json(chunks: dict[int, tuple[str, int, list[str]]]) -> None:
    state = upload_state(chunks={i: resume.ChunkRecord(h, s, tuple(r)) for i, (h, s, r) in chunks.items()})
    assert resume.UploadState.from_json(json.loads(json.dumps(state.to_json()))) == state
