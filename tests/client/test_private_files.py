"""Files holding credentials are written whole and readable by their owner only, whatever was there before."""

from __future__ import annotations

import stat
from pathlib import Path

from coffer.client import private_files
from coffer.client.cli.common import write_private


def test_a_credential_written_over_a_world_readable_file_is_left_readable_by_its_owner_only(tmp_path: Path) -> None:
    """SECURITY: the old file's 0644 must not survive; truncating it in place would keep it."""
    target = tmp_path / "cluster.toml"
    target.write_text("an old, longer, public text\n")
    target.chmod(0o644)
    write_private(target, "credential = 'secret'\n")
    assert target.read_text() == "credential = 'secret'\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_new_private_file_is_0600_and_leaves_no_temporary_file_behind(tmp_path: Path) -> None:
    private_files.write_text(tmp_path / "new.toml", "x")
    assert stat.S_IMODE((tmp_path / "new.toml").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["new.toml"]


def test_json_state_files_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "state" / "s.json"
    private_files.write_json(path, {"b": 1, "a": [1, 2]})
    assert path.read_text() == '{\n "a": [\n  1,\n  2\n ],\n "b": 1\n}'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
