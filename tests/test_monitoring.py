"""deploy/monitoring/ is valid for Prometheus and names only metrics the programs export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MONITORING = REPO / "deploy" / "monitoring"
SOURCES = ("server", "fileserver", "serving")
SUFFIXES = ("_total", "_bucket", "_count", "_sum")
METRIC = re.compile(r"\bcoffer_[a-z0-9_]+")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian's prometheus package: make test-tools installs it)")
    return subprocess.run(["promtool", *args], cwd=MONITORING, capture_output=True, text=True, timeout=60)


def test_the_scrape_config_and_its_rules_pass_promtool() -> None:
    done = promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_rules_pass_promtool() -> None:
    done = promtool("check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    names = set(re.findall(r"alert: (\w+)", (MONITORING / "alerts.yml").read_text()))
    assert {"CofferFileserverDown", "CofferDiskNearlyFull", "CofferServerErrors", "CofferPurgeBacklogGrowing"} <= names


def test_the_fileserver_down_alert_fires_after_a_minute_without_heartbeats() -> None:
    done = promtool("test", "rules", "alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def _exported() -> set[str]:
    """Every metric name the programs' code spells out."""
    names: set[str] = set()
    for package in SOURCES:
        for path in (REPO / package).rglob("*.py"):
            names |= set(re.findall(r'"(coffer_[a-z0-9_]+)"', path.read_text()))
    return names


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_every_metric_the_rules_and_the_dashboard_name_exists_in_the_code() -> None:
    exported = _exported()
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "coffer.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    named = set(METRIC.findall((MONITORING / "alerts.yml").read_text())) | set(METRIC.findall(" ".join(exprs)))
    assert len(named) >= 10
    missing = sorted(n for n in named if n not in exported and _base(n) not in exported)
    assert not missing, f"named in deploy/monitoring but exported by no program: {missing}"


def test_the_dashboard_reads_from_the_provisioned_data_source() -> None:
    provisioned = (MONITORING / "grafana" / "provisioning" / "datasources" / "coffer.yml").read_text()
    uid = re.search(r"uid: (\S+)", provisioned)
    assert uid is not None
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "coffer.json").read_text())
    assert {panel["datasource"]["uid"] for panel in dashboard["panels"]} == {uid.group(1)}
