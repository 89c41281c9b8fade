"""The rule for the dev network's admin password: chosen on the first run, the admin's own after that."""

from __future__ import annotations

import stat
from pathlib import Path

from coffer.devnet import accounts


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_first_run_without_a_choice_generates_a_password_and_keeps_it_private(tmp_path: Path) -> None:
    admin, password = accounts.settle_admin(tmp_path, exists=False, chosen=None)
    assert password and admin.created and admin.password == password
    assert (tmp_path / "admin-password").read_text() == password + "\n"
    assert mode(tmp_path / "admin-password") == 0o600
    assert accounts.shown(tmp_path, admin).startswith(password)
    assert accounts.notice(tmp_path, admin) is None


def test_a_first_run_with_coffer_admin_password_uses_it_and_writes_no_file(tmp_path: Path) -> None:
    (tmp_path / "admin-password").write_text("left-from-an-older-var\n")
    admin, password = accounts.settle_admin(tmp_path, exists=False, chosen="chosen-pw")
    assert password == "chosen-pw" and admin.created
    assert not (tmp_path / "admin-password").exists()
    assert accounts.shown(tmp_path, admin) == "(from COFFER_ADMIN_PASSWORD)"


def test_a_later_run_never_sets_the_password_and_says_when_the_variable_goes_unused(tmp_path: Path) -> None:
    admin, password = accounts.settle_admin(tmp_path, exists=True, chosen="a-new-value")
    assert password is None and not admin.created
    warning = accounts.notice(tmp_path, admin)
    assert warning is not None and "COFFER_ADMIN_PASSWORD is not used" in warning and "remove" in warning


def test_a_later_run_without_the_variable_says_nothing(tmp_path: Path) -> None:
    admin, password = accounts.settle_admin(tmp_path, exists=True, chosen=None)
    assert password is None and accounts.notice(tmp_path, admin) is None
    assert "coffer passwd" in accounts.shown(tmp_path, admin)


def test_the_devnet_account_password_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = accounts.operator_password(tmp_path)
    assert accounts.operator_password(tmp_path) == first
    assert mode(tmp_path / "devnet-password") == 0o600
