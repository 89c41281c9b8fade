"""The metrics directory of a run: stale metric files go at start, nothing else does; a taken listener is refused."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import values

from coffer.serving import metrics


@pytest.fixture(autouse=True)
def single_process() -> Iterator[None]:
    """Put prometheus-client back as this test process had it (prepare switches it to multiprocess files)."""
    value_class, env = values.ValueClass, os.environ.get(metrics.ENV)
    yield
    values.ValueClass = value_class
    if env is None:
        os.environ.pop(metrics.ENV, None)
    else:
        os.environ[metrics.ENV] = env


def test_a_new_run_drops_the_last_runs_metric_files_and_keeps_anything_else(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_4242.db").write_bytes(b"stale")
    (directory / "notes.txt").write_text("an operator's file in a mistaken metrics_dir")
    assert metrics.prepare(directory) == directory
    assert sorted(p.name for p in directory.iterdir()) == ["notes.txt"]
    assert os.environ[metrics.ENV] == str(directory)
    metrics.finish(directory)
    assert (directory / "notes.txt").exists()


def test_a_metrics_bind_already_taken_is_refused_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(OSError, match="metrics_bind"):
            metrics.probe(bind)
