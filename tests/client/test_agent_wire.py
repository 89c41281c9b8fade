"""The agent's frames: what the command sends is what the agent reads, and nothing out of bounds gets through."""

from __future__ import annotations

import pytest

from coffer.client.agent.wire import (
    LENGTH_BYTES,
    MAX_FRAME,
    Frames,
    RunRequest,
    WireError,
    frame,
    number_frame,
    parse_number,
    parse_run,
    run_frame,
)


def request(**changes: object) -> RunRequest:
    fields: dict[str, object] = {
        "version": "0.1.0",
        "argv": ["upload", "--quiet", "r\u00e9sum\u00e9.pdf", "odd\udcffname", ""],
        "cwd": "/home/someone/dir with spaces",
        "umask": 0o027,
        "env": {b"HOME": b"/home/someone", b"EMPTY": b"", b"WITH_EQUALS": b"a=b=c"},
    }
    fields.update(changes)
    return RunRequest(**fields)  # type: ignore[arg-type]


def read_one(data: bytes) -> list[bytes]:
    frames = Frames().feed(data)
    assert len(frames) == 1
    return frames[0]


def test_a_run_request_reads_back_word_for_word() -> None:
    sent = request()
    got = parse_run(read_one(run_frame(sent)))
    assert (got.version, got.argv, got.cwd, got.umask, got.env) == (
        sent.version,
        sent.argv,
        sent.cwd,
        sent.umask,
        sent.env,
    )


def test_frames_split_across_reads_and_run_together_come_out_whole() -> None:
    stream = run_frame(request()) + number_frame(b"signal", 2) + frame(b"status")
    frames = Frames()
    got = [f for i in range(len(stream)) for f in frames.feed(stream[i : i + 1])]
    assert [f[0] for f in got] == [b"run", b"signal", b"status"]
    assert parse_number(got[1], b"signal") == 2
    assert frames.pending == 0


def test_a_frame_of_the_largest_size_passes_and_one_byte_more_is_refused_on_both_sides() -> None:
    largest = frame(b"x" * MAX_FRAME)
    assert len(largest) == LENGTH_BYTES + MAX_FRAME
    assert read_one(largest) == [b"x" * MAX_FRAME]
    with pytest.raises(WireError):
        frame(b"x" * (MAX_FRAME + 1))
    with pytest.raises(WireError, match="larger than"):
        Frames().feed((MAX_FRAME + 1).to_bytes(LENGTH_BYTES, "big"))


@pytest.mark.parametrize(
    "fields",
    [
        [b"status"],
        [b"run", b"2", b"0.1.0", b"/", b"22", b"0"],
        [b"run", b"1", b"0.1.0", b"/", b"999", b"0"],
        [b"run", b"1", b"0.1.0", b"/", b"nine", b"0"],
        [b"run", b"1", b"0.1.0", b"/", b"22", b"3", b"only-one-word"],
        [b"run", b"1", b"0.1.0", b"/", b"22", b"0", b"NO_EQUALS"],
        [b"run", b"1", b"0.1.0", b"/", b"22", b"0", b"=value"],
    ],
    ids=["not-run", "wire-version", "umask-range", "umask-text", "count", "env-no-equals", "env-no-name"],
)
def test_a_malformed_run_request_is_refused(fields: list[bytes]) -> None:
    with pytest.raises(WireError):
        parse_run(fields)


@pytest.mark.parametrize("fields", [[b"exit"], [b"exit", b"x"], [b"killed", b"2"], [b"exit", b"1", b"2"]])
def test_a_number_frame_must_be_of_its_kind_and_hold_one_number(fields: list[bytes]) -> None:
    with pytest.raises(WireError):
        parse_number(fields, b"exit")
