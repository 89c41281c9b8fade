"""The web part's figures: throughput beside the CLI's, the ratio, the heap peak, and the issue's targets."""

from __future__ import annotations

from typing import Any

from bench import report, web
from tests.web.heap import MIB, Measured

GB = 10**9


def _page(up_s: float, down_s: float, heap_mib: float, growth_mib: float = 50) -> tuple[Measured, Measured]:
    heap, growth = int(heap_mib * MIB), int(growth_mib * MIB)
    return Measured(up_s, heap, growth), Measured(down_s, heap, growth + 10 * MIB)


def _figures(got: dict[str, list[Any]]) -> dict[str, Any]:
    return web._figures(got, "1 GB", [GB], MIB)


def test_the_page_at_half_the_clis_speed_with_a_small_heap_meets_the_targets() -> None:
    """The targets are judged on the browser without a network agent; Playwright's slower figures stay beside."""
    bare = [_page(10.0, 8.0, 3.5), _page(10.0, 8.0, 4.0)]
    playwright = [_page(25.0, 20.0, 4.0, growth_mib=300), _page(25.0, 20.0, 4.0, growth_mib=300)]
    got: dict[str, list[Any]] = {"cli": [(5.0, 4.0), (5.0, 4.0)], "bare": bare, "page": playwright}
    w: dict[str, Any] = {"rounds": 2, "sizes": [GB], "figures": {"1 GB": _figures(got)}}
    f = w["figures"]["1 GB"]
    assert f["mb_s"]["cli up"]["median"] == 200.0 and f["mb_s"]["bare up"]["median"] == 100.0
    assert f["up"]["ratio_to_cli"] == 0.5 and f["down"]["ratio_to_cli"] == 0.5
    assert f["up"]["ratio_to_cli_playwright"] == 0.2 and f["down"]["ratio_to_cli_playwright"] == 0.2
    assert f["up"]["heap_peak_mib"] == 4.0 and f["down"]["browser_growth_mib"] == 60.0
    assert f["down"]["browser_growth_playwright_mib"] == 310.0
    assert all(met for _, _, met in web.targets(w))
    assert any(row.startswith("| 1 GB | 200 (200–200) | 100 (100–100) | 0.50 |") for row in web.rows(w))
    assert "| 1 GB | 40 (40–40) | 0.20 | 50 (50–50) | 0.20 | 300 / 310 |" in web.rows(w)


def test_a_page_below_half_the_cli_or_a_heap_past_256_mib_misses_and_the_report_says_so() -> None:
    """A heap past the bound in the Playwright run counts too: the peak is taken over every page run."""
    bare, playwright = [_page(20.0, 8.0, 4.0)], [_page(20.0, 8.0, 300.0)]
    got: dict[str, list[Any]] = {"cli": [(5.0, 4.0)], "bare": bare, "page": playwright}
    w: dict[str, Any] = {"rounds": 1, "sizes": [GB], "figures": {"1 GB": _figures(got)}}
    missed = {what for what, _, met in web.targets(w) if not met}
    assert missed == {
        "web page up, 1 GB: ≥ 0.5 of the CLI",
        "web page up, 1 GB: JS heap < 256 MiB",
        "web page down, 1 GB: JS heap < 256 MiB",
    }
    assert ("web page up, 1 GB: ≥ 0.5 of the CLI", "0.25", False) in report.targets({"web": w})


def test_a_run_without_a_browser_says_the_web_part_was_left_out() -> None:
    meta = {"date": "2026-12-07", "machine": "m", "command": "make bench-quick"}
    section = report.tables({"meta": meta, "web_skipped": "needs chromium (`make test-tools web`)"})
    assert "Not measured: the part needs chromium (`make test-tools web`)." in section
