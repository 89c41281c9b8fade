"""What `coffer` prints around a transfer: warnings above the bar, decimal figures, no stray bar, a word on Ctrl-C."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from coffer.client.cli import files, lifecycle, main, progress
from coffer.client.coffer import Coffer
from coffer.client.errors import NotFoundError
from coffer.client.upload import UploadResult
from coffer.server.settings import ServerSettings

from .fakenet import FakeNet, refuse_connections
from .test_cli_rows import BASE

CHUNK = 1000
WARNING = (
    "coffer: warning: chunk {chunk} upload failed on http://fs0.test: cannot reach the fileserver at "
    "http://fs0.test (ConnectError); trying another fileserver (shown once per fileserver and cause)"
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Held:
    """A Coffer stand-in for the commands: answers ``info`` and ``upload`` (by path) as the test says.

    Several files upload at once, in any order: each path's outcome is the test's, whichever comes first.
    """

    def __init__(self, info: Any = None, uploads: dict[Path, Any] | None = None):
        self._info = info
        self._uploads = dict(uploads or {})

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def info(self, file_id: str) -> Any:
        return self._info

    def use_site(self, site: str | None) -> None:
        pass

    def upload(self, path: Path, **kw: Any) -> UploadResult:
        outcome = self._uploads.get(path, KeyboardInterrupt())
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, UploadResult)
        return outcome


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "warning" in line]


# -- warnings ----------------------------------------------------------------------------------------


def test_a_failing_fileserver_is_told_once_with_the_chunk_the_fileserver_and_the_reason(
    net: FakeNet, coffer: Coffer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net.faults[net.by_url(0).id] = refuse_connections
    net.put_delay = 0.01  # chunks overlap, so the failing fileserver is offered some
    path = tmp_path / "plans.bin"
    path.write_bytes(os.urandom(12 * CHUNK))
    # stderr is no terminal here: no bar, and the warnings all the same
    with progress.bar("plans.bin", enabled=True) as on_progress:
        result = coffer.upload(path, chunk_size=CHUNK, on_progress=on_progress)
    assert result.retries >= 1
    lines = _warnings(capsys.readouterr().err)
    assert len(lines) == 1
    chunk = lines[0].removeprefix("coffer: warning: chunk ").split(" ")[0]
    assert lines[0] == WARNING.format(chunk=chunk)


def test_each_fileserver_and_cause_is_told_once_however_often_it_fails() -> None:
    written: list[str] = []
    log = logging.getLogger("coffer.transfer.failover")
    handler = progress.TransferWarnings(written.append)
    log.addHandler(handler)
    try:
        for chunk, fs, code, reason in [
            (1, "http://a", "fileserver_unavailable", "cannot reach the fileserver at http://a (ConnectError)"),
            (2, "http://a", "fileserver_unavailable", "cannot reach the fileserver at http://a (ConnectError)"),
            (3, "http://a", "storage_full", "http://a: the disk is full"),
            (3, "http://b", "fileserver_unavailable", "cannot reach the fileserver at http://b (ConnectError)"),
        ]:
            kv = {"chunk": chunk, "fs": fs, "error": code, "reason": reason}
            log.warning("chunk %s failed", "download", extra={"kv": kv})
        log.warning("resume state unreadable", extra={"kv": {"error": "bad_json"}})
    finally:
        log.removeHandler(handler)
    tail = "; trying another fileserver (shown once per fileserver and cause)"
    assert written == [
        "coffer: warning: chunk 1 download failed on http://a: cannot reach the fileserver at http://a (ConnectError)"
        + tail,
        f"coffer: warning: chunk 3 download failed on http://a: http://a: the disk is full{tail}",
        "coffer: warning: chunk 3 download failed on http://b: cannot reach the fileserver at http://b (ConnectError)"
        + tail,
        "coffer: warning: resume state unreadable (bad_json)",
    ]


def test_a_warning_during_a_bar_is_written_above_it_on_a_line_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    with progress.bar("big.bin", enabled=True) as on_progress:
        assert on_progress is not None
        on_progress(20_000_000, 50_000_000)
        logging.getLogger("coffer.transfer.failover").warning(
            "chunk %s failed", "upload", extra={"kv": {"chunk": 3, "fs": "http://fs0", "error": "x", "reason": "gone"}}
        )
        on_progress(50_000_000, 50_000_000)
    lines = screen.getvalue().replace("\r", "\n").splitlines()
    told = "coffer: warning: chunk 3 upload failed on http://fs0: gone; trying another fileserver"
    assert [line for line in lines if "warning" in line] == [f"{told} (shown once per fileserver and cause)"]


# -- units and bars ----------------------------------------------------------------------------------


def test_the_bar_counts_in_the_decimal_units_of_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    with progress.bar("big.bin", enabled=True) as on_progress:
        assert on_progress is not None
        on_progress(50_000_000, 50_000_000)
    last = screen.getvalue().rstrip("\n").split("\r")[-1]
    assert re.fullmatch(r"big\.bin: 100%\|#+\| 50\.0 MB/50\.0 MB \[00:00<00:00, \d+\.\d (KB|MB|GB|TB)/s\]", last), last
    assert progress.bar_figures(52_428_800, 134_217_728, 134_217_728) == {
        "done": "52.4 MB",
        "size": "134.2 MB",
        "speed": "134.2 MB/s",
    }


def test_a_failed_transfer_leaves_no_bar_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    with pytest.raises(NotFoundError), progress.bar("0b8f5a52", enabled=True):
        raise NotFoundError("no such file")
    assert screen.getvalue() == ""
    with pytest.raises(NotFoundError), progress.bar("0b8f5a52", enabled=True) as on_progress:
        assert on_progress is not None
        on_progress(1_000_000, 5_000_000)
        raise NotFoundError("no such file")
    assert screen.getvalue().split("\r")[-1] == "", "the bar's line is wiped, not left for the message to follow"
    assert screen.getvalue().split("\r")[-2].strip() == ""


def test_the_default_quota_is_a_round_100_gb_and_shown_so(capsys: pytest.CaptureFixture[str]) -> None:
    limit = ServerSettings().default_quota_bytes
    lifecycle._print_quota({"bytes": {"used": 52_428_800, "limit": limit}, "files": {"used": 1, "limit": 100_000}})
    assert capsys.readouterr().out.splitlines()[0] == "bytes: 52.4 MB of 100.0 GB (0%)"


def test_the_help_states_the_unit_convention() -> None:
    assert (
        "sizes and rates are decimal everywhere (bars, summaries, ls, info, quotas): 1 KB = 1000 bytes,\n"
        "  1 MB = 1000 KB, 1 GB = 1000 MB" in main.build_parser().format_help()
    )


# -- coffer info -------------------------------------------------------------------------------------


def test_info_prints_no_empty_problem_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(files, "open_coffer", lambda: Held(info=BASE))
    assert main.main(["info", BASE.id]) == 0
    out = capsys.readouterr().out
    assert "problem" not in out and "        name: report.pdf\n" in out
    broken = dataclasses.replace(BASE, name="", problem="the metadata does not decrypt")
    monkeypatch.setattr(files, "open_coffer", lambda: Held(info=broken))
    assert main.main(["info", BASE.id]) == 0
    assert "     problem: the metadata does not decrypt\n" in capsys.readouterr().out


# -- Ctrl-C ------------------------------------------------------------------------------------------


def _uploaded(path: Path) -> UploadResult:
    return UploadResult(file_id="0b8f5a52-5c2b-4d67-9a55-8d1c1d2f9f00", name=path.name, bytes=10, chunk_count=1)


def test_ctrl_c_during_an_upload_says_that_running_it_again_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plans.bin"
    path.write_bytes(b"x" * 10)
    monkeypatch.setattr(files, "open_coffer", lambda: Held(uploads={path: KeyboardInterrupt()}))
    assert main.main(["upload", str(path)]) == 130
    assert capsys.readouterr().err == (
        "coffer: upload interrupted; run the same command again to resume: "
        "what was already transferred is not sent again\n"
    )


def test_ctrl_c_after_some_files_of_an_upload_names_where_to_resume_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, third = (tmp_path / name for name in ("a.bin", "b.bin", "c.bin"))
    for path in (first, second, third):
        path.write_bytes(b"x" * 10)
    outcomes = {first: _uploaded(first), second: KeyboardInterrupt()}
    monkeypatch.setattr(files, "open_coffer", lambda: Held(uploads=outcomes))
    assert main.main(["upload", "--quiet", str(first), str(second), str(third)]) == 130
    captured = capsys.readouterr()
    assert captured.out == "0b8f5a52-5c2b-4d67-9a55-8d1c1d2f9f00\n"
    assert captured.err == (
        f"coffer: upload interrupted after 1 of 3 files: to resume, run it again with {second} and the files after it "
        "(what was already sent of it is not sent again)\n"
    )


def test_ctrl_c_during_a_download_says_that_running_it_again_resumes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted() -> Held:
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "open_coffer", interrupted)
    assert main.main(["download", BASE.id]) == 130
    assert capsys.readouterr().err == (
        "coffer: download interrupted; run the same command again to resume: "
        "what was already transferred is not sent again\n"
    )


def test_ctrl_c_elsewhere_promises_no_resume(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted() -> Held:
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "open_coffer", interrupted)
    assert main.main(["ls"]) == 130
    assert capsys.readouterr().err == "coffer: interrupted\n"
