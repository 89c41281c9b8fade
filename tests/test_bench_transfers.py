"""The bench's transfer targets: issue 20's 1.5 times rclone crypt, judged on the figures it was given."""

from __future__ import annotations

from typing import Any

from bench.report import past_rclone


def cells(**ratios: tuple[float, float]) -> dict[str, Any]:
    return {size: {"up": {"vs_rclone": up}, "down": {"vs_rclone": down}} for size, (up, down) in ratios.items()}


def test_the_average_file_meets_only_when_both_ways_reach_one_and_a_half() -> None:
    sizes = [25_000_000, 10**9]
    met = past_rclone("coffer-sqlite-agent", cells(**{"25 MB": (1.5, 1.62), "1 GB": (1.7, 1.5)}), sizes)
    assert [ok for _, _, ok in met] == [True, True]
    short = past_rclone("coffer-sqlite", cells(**{"25 MB": (1.79, 1.49), "1 GB": (1.7, 1.49)}), sizes)
    assert [(what.split(": ")[-1], ok) for what, _, ok in short] == [
        ("≥ ×1.5 rclone crypt both ways", False),
        ("≥ ×1.5 rclone crypt", False),
    ]


def test_sizes_not_measured_set_no_target() -> None:
    assert past_rclone("coffer-sqlite", cells(**{"4 MB": (3.0, 3.0)}), [4_000_000]) == []
