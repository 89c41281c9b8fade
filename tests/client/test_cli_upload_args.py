"""What `coffer upload` reads from the command line about copies."""

from __future__ import annotations

import argparse

import pytest

from coffer.client.cli import files


def parse(*argv: str) -> argparse.Namespace:
    top = argparse.ArgumentParser(prog="coffer")
    files.register(top.add_subparsers(dest="command", required=True))
    return top.parse_args(["upload", "big.bin", *argv])


def test_copies_default_to_one_so_the_shards_own_count_decides() -> None:
    assert parse().copies == 1


def test_copies_asked_for_are_passed_on() -> None:
    assert parse("--copies", "3").copies == 3


@pytest.mark.parametrize("text", ["0", "9", "two", "-1", "2.5"])
def test_copies_outside_1_to_8_are_a_usage_error(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse("--copies", text)
    assert info.value.code == 2
    assert "from 1 to 8" in capsys.readouterr().err
