"""The sizes and times the lifecycle commands read from the command line."""

from __future__ import annotations

import argparse
import time
from datetime import datetime

import pytest

from coffer.client.cli.lifecycle import parse_since, parse_size
from coffer.protocol.units import human_bytes, human_rate


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1 << 20), ("10GB", 10 * 10**9), ("512MiB", 512 << 20), ("1.5 kb", 1500), ("2tib", 2 << 40)],
)
def test_sizes_are_read_in_decimal_and_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "ten", "-1GB", "5 PB", "1e9"])
def test_a_size_that_is_not_one_is_a_usage_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)


def test_since_reads_a_duration_back_from_now_or_a_date() -> None:
    assert abs(parse_since("1h") - (time.time() - 3600)) < 5
    assert parse_since("2026-11-23") == datetime(2026, 11, 23).timestamp()
    with pytest.raises(argparse.ArgumentTypeError):
        parse_since("last tuesday")


def test_human_sizes_and_rates_use_decimal_units_only() -> None:
    assert [human_bytes(n) for n in (999, 1000, 25 * 10**6, 10**15)] == ["999 B", "1.0 KB", "25.0 MB", "1.0 PB"]
    assert [human_bytes(n) for n in (1024, 100 * 10**9, 100 << 30)] == ["1.0 KB", "100.0 GB", "107.4 GB"]
    assert human_rate(134_217_728) == "134.2 MB/s"
