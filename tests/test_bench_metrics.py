"""The metrics-overhead figure: on / off ratios of medians, judged against the 3% target, and shown as a table."""

from __future__ import annotations

import re
from pathlib import Path

from bench import report
from bench.metrics_overhead import DEPLOYED_PERIOD, scraped_urls, summarize


def figures(off: list[float], on: list[float]) -> dict[str, dict[str, list[float]]]:
    return {"off": {"up": off, "heartbeat": off}, "on": {"up": on, "heartbeat": on}}


def test_a_cost_within_three_percent_meets_the_target() -> None:
    m = summarize(figures([100.0, 90.0, 110.0], [98.0, 88.0, 108.0]), 10**9, 3, 16, 3.0, "sqlite")
    assert m["measures"]["up"]["ratio"] == 0.98
    assert m["measures"]["up"]["met"] is True
    assert m["measures"]["heartbeat"]["unit"] == "req/s"


def test_a_cost_above_three_percent_misses_it_and_the_table_says_so() -> None:
    m = summarize(figures([100.0, 100.0], [96.0, 96.0]), 10**9, 2, 16, 3.0, "sqlite")
    assert m["measures"]["up"]["met"] is False
    rows = report.metrics_rows(m | {"scraper": {"targets": 3, "scrapes": 30, "failures": 0}})
    assert any(row.startswith("| upload 1 GB (MB/s) |") and "0.960" in row for row in rows)
    found = report.targets({"metrics": m})
    assert ("metrics on: upload within 3% of off", "on / off 0.960", False) in found


def test_no_figure_off_is_not_a_met_target() -> None:
    m = summarize(figures([0.0], [5.0]), 10**6, 1, 4, 1.0, "sqlite")
    assert m["measures"]["up"]["met"] is False


def test_the_scraper_can_read_one_side_only_to_tell_which_pays() -> None:
    urls = ["http://s/metrics", "http://f1/metrics", "http://f2/metrics"]
    assert scraped_urls(urls, "all") == urls
    assert scraped_urls(urls, "server") == urls[:1]
    assert scraped_urls(urls, "fileservers") == urls[1:]


def test_the_cpu_cost_is_judged_per_round_and_within_three_percent_meets_the_target() -> None:
    cpu = {
        "off": {"up": [4.0, 5.0, 4.0], "heartbeat": [2.0, 2.0, 2.0]},
        "on": {"up": [4.1, 5.1, 4.1], "heartbeat": [2.2, 2.2, 2.2]},
    }
    m = summarize(figures([100.0, 90.0, 110.0], [98.0, 88.0, 108.0]), 10**9, 3, 16, 3.0, "sqlite", cpu)
    up, heartbeat = m["measures"]["up"]["cpu"], m["measures"]["heartbeat"]["cpu"]
    assert (up["unit"], up["ratio"], up["met"]) == ("s/transfer", 1.025, True)
    assert (heartbeat["unit"], heartbeat["ratio"], heartbeat["met"]) == ("ms/request", 1.1, False)
    found = report.targets({"metrics": m})
    assert ("metrics on: heartbeat CPU within 3% of off", "on / off 1.100", False) in found
    rows = report.metrics_rows(m | {"scraper": {"targets": 3, "scrapes": 3, "failures": 0, "period_s": 15.0}})
    assert rows[0].startswith("| measure | off | on (scraped every 15 s) |")


def test_the_bench_scrapes_as_often_as_the_shipped_prometheus_config() -> None:
    config = (Path(__file__).resolve().parents[1] / "deploy" / "monitoring" / "prometheus.yml").read_text()
    [interval] = re.findall(r"^\s*scrape_interval:\s*(\d+)s\s*$", config, re.MULTILINE)
    assert float(interval) == DEPLOYED_PERIOD
