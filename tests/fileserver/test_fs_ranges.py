"""Range header parsing: exact answers for what clients send, 416 for everything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffer.fileserver.data.ranges import content_range, parse_range
from coffer.fileserver.errors import BadRange


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-0", (0, 1)),
        ("bytes=0-99", (0, 100)),
        ("bytes=10-", (10, 90)),
        ("bytes=-10", (90, 10)),
        ("bytes=-1000", (0, 100)),
        ("bytes=50-5000", (50, 50)),
        ("Bytes = 1-2", (1, 2)),
    ],
)
def test_parse_range_gives_start_and_length(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=5-1",
        "bytes=100-",
        "bytes=-0",
        "bytes=1-2,3-4",
        "lines=1-2",
        "bytes=+1-2",
        "bytes=1 - 2x",
        "bytes=" + "9" * 30 + "-",
    ],
)
def test_parse_range_refuses_what_it_cannot_serve_exactly(header: str) -> None:
    with pytest.raises(BadRange) as caught:
        parse_range(header, 100)
    assert caught.value.headers == {"Content-Range": "bytes */100"}


def test_any_range_of_an_empty_chunk_is_unsatisfiable() -> None:
    with pytest.raises(BadRange):
        parse_range("bytes=-5", 0)


@given(size=st.integers(1, 10**12), a=st.integers(0, 10**12), b=st.integers(0, 10**12))
def test_a_satisfiable_range_always_lies_inside_the_chunk(size: int, a: int, b: int) -> None:
    for header in (f"bytes={a}-{b}", f"bytes={a}-", f"bytes=-{b}"):
        try:
            start, length = parse_range(header, size)  # type: ignore[misc]
        except BadRange:
            continue
        assert 0 <= start < size and 1 <= length and start + length <= size
        first, last_total = content_range(start, length, size).removeprefix("bytes ").split("/")
        assert int(last_total) == size and int(first.split("-")[1]) == start + length - 1


@given(st.text(max_size=40))
def test_parse_range_never_fails_other_than_with_bad_range(header: str) -> None:
    try:
        result = parse_range(header, 1000)
    except BadRange:
        return
    assert result is None or (0 <= result[0] < 1000 and result[0] + result[1] <= 1000)
