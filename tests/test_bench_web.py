"""The web part's figures: throughput beside the CLI's, the ratio, the heap peak, and the issue's targets."""

from __future__ import annotations

from typing import Any

from bench import report, web
from bench.browser_ceiling import Moved
from bench.procs import Measured as Command
from tests.web.heap import MIB, Measured

GB = 10**9


def _page(up_s: float, down_s: float, heap_mib: float, growth_mib: float = 50) -> tuple[Measured, Measured]:
    heap, growth = int(heap_mib * MIB), int(growth_mib * MIB)
    return Measured(up_s, heap, growth, up_s), Measured(down_s, heap, growth + 10 * MIB, down_s)


def _cli(up_s: float, down_s: float) -> tuple[Command, Command]:
    return Command(up_s, 60.0, "", up_s / 2), Command(down_s, 60.0, "", down_s / 2)


def _alone(up_s: float, down_s: float, fetch_s: float) -> tuple[Moved, Moved, Moved]:
    """The browser alone: up, down to disk and down into memory, each at 5 ms of CPU per MB."""
    return Moved(up_s, 5.0), Moved(down_s, 5.0), Moved(fetch_s, 5.0)


def _figures(got: dict[str, list[Any]]) -> dict[str, Any]:
    return web._figures(got, "1 GB", [GB], MIB)


def test_the_page_at_half_the_clis_speed_with_a_small_heap_meets_the_targets() -> None:
    """The targets are judged on the browser without a network agent; Playwright's slower figures stay beside."""
    bare = [_page(10.0, 8.0, 3.5), _page(10.0, 8.0, 4.0)]
    playwright = [_page(25.0, 20.0, 4.0, growth_mib=300), _page(25.0, 20.0, 4.0, growth_mib=300)]
    alone = [_alone(8.0, 8.0, 4.0), _alone(8.0, 8.0, 4.0)]
    got: dict[str, list[Any]] = {
        "cli": [_cli(5.0, 4.0), _cli(5.0, 4.0)],
        "bare": bare,
        "page": playwright,
        "ceiling": alone,
    }
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
    got: dict[str, list[Any]] = {
        "cli": [_cli(5.0, 4.0)],
        "bare": bare,
        "page": playwright,
        "ceiling": [_alone(8.0, 16.0, 4.0)],
    }
    w: dict[str, Any] = {"rounds": 1, "sizes": [GB], "figures": {"1 GB": _figures(got)}}
    missed = {what for what, _, met in web.targets(w) if not met}
    assert missed == {
        "web page up, 1 GB: ≥ 0.5 of the CLI",
        "web page up, 1 GB: JS heap < 256 MiB",
        "web page down, 1 GB: JS heap < 256 MiB",
    }
    said = ("web page up, 1 GB: ≥ 0.5 of the CLI", "0.25 (the browser alone, no crypto: 0.62)", False)
    assert said in report.targets({"web": w})


def test_the_browser_alone_stands_beside_the_page_with_each_ones_cpu_per_mb() -> None:
    """The browser moving the same bytes with no Coffer code bounds the page: its ratio to the CLI and the page's
    share of it are reported, and the CPU per MB of the CLI, the page and the browser alone side by side."""
    got: dict[str, list[Any]] = {
        "cli": [_cli(5.0, 2.0)],
        "bare": [_page(20.0, 25.0, 4.0)],
        "page": [_page(30.0, 30.0, 4.0)],
        "ceiling": [_alone(8.0, 10.0, 4.0)],
    }
    w: dict[str, Any] = {"rounds": 1, "sizes": [GB], "figures": {"1 GB": _figures(got)}}
    f = w["figures"]["1 GB"]
    assert f["down"]["browser_alone_to_cli"] == 0.2 and f["down"]["ratio_to_browser_alone"] == 0.4
    assert f["up"]["browser_alone_to_cli"] == 0.62 and f["up"]["ratio_to_browser_alone"] == 0.4
    assert f["mb_s"]["ceiling network"]["median"] == 250.0
    rows = web.rows(w)
    assert "| 1 GB | up | 200 (200–200) | 50 (50–50) | 125 (125–125) | 0.40 | 0.62 | 2.5 / 20.0 / 5.0 |" in rows
    down = "| 1 GB | down | 500 (500–500) | 40 (40–40) | 100 (100–100); into memory only 250 (250–250) | 0.40 | 0.20 "
    assert down + "| 1.0 / 25.0 / 5.0 |" in rows
    assert ("web page down, 1 GB: ≥ 0.5 of the CLI", "0.08 (the browser alone, no crypto: 0.20)", False) in web.targets(
        w
    )


def test_a_run_without_a_browser_says_the_web_part_was_left_out() -> None:
    meta = {"date": "2026-12-07", "machine": "m", "command": "make bench-quick"}
    section = report.tables({"meta": meta, "web_skipped": "needs chromium (`make test-tools web`)"})
    assert "Not measured: the part needs chromium (`make test-tools web`)." in section
