"""The CLI's refusals name what the person typed: the flag, the missing scheme, the user name, before any prompt."""

from __future__ import annotations

import argparse
import getpass
import io
import sys

import pytest

from coffer.client.api import ServerClient
from coffer.client.cli import admin, auth, common, files, main, sharing
from coffer.client.coffer import Coffer
from coffer.client.errors import ApiError, NotFoundError, UsageError
from coffer.client.server_address import server_url

FILE_ID = "5d1f7a55-2f5e-4b7a-8e2e-6f7b1c9d0a11"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="coffer")
    commands = top.add_subparsers(dest="command", required=True)
    for register in (files.register, sharing.register, admin.register, auth.register):
        register(commands)
    return top


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


# -- --expires ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["upload", "plans.bin"], ["link", FILE_ID]], ids=["upload", "link"])
def test_an_expiry_of_zero_is_refused_naming_the_flag(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert refused([*argv, "--expires", "0"], capsys).endswith(
        "error: argument --expires: '0' would expire at once: give how long to keep it, like 7d or 12h"
    )


def test_a_server_refusal_of_an_api_field_names_the_flag_instead() -> None:
    with pytest.raises(ApiError) as raised, common.naming_flags(files.EXPIRY_FLAGS):
        raise ApiError(
            "'expires_in' (31536000 s) is beyond this server's maximum retention of 30 days (2592000 s)",
            code="retention_exceeded",
            status=400,
        )
    assert raised.value.message == (
        "--expires (31536000 s) is beyond this server's maximum retention of 30 days (2592000 s)"
    )
    assert (raised.value.code, raised.value.status) == ("retention_exceeded", 400)


def test_a_server_refusal_naming_no_flag_passes_unchanged() -> None:
    original = NotFoundError("no such file", code="file_not_found", status=404)
    with pytest.raises(NotFoundError) as raised, common.naming_flags(files.EXPIRY_FLAGS):
        raise original
    assert raised.value is original


# -- --server ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("localhost:8000/", "http://localhost:8000"),
        ("[::1]:8000", "http://[::1]:8000"),
        ("https://coffer.example/", "https://coffer.example"),
        ("http://10.0.0.5:8000", "http://10.0.0.5:8000"),
    ],
)
def test_a_server_address_gets_http_only_on_this_machine(typed: str, url: str) -> None:
    assert server_url(typed) == url
    assert ServerClient(typed).url == url


def test_a_remote_server_address_without_a_scheme_is_refused_naming_it() -> None:
    with pytest.raises(UsageError) as raised:
        server_url("coffer.example:8443")
    assert raised.value.message == (
        "the server address 'coffer.example:8443' has no scheme: write https://coffer.example:8443 "
        "(or http://coffer.example:8443 if that server really runs without TLS, which sends your login in clear)"
    )


def test_a_server_address_of_another_scheme_is_refused() -> None:
    with pytest.raises(UsageError, match=r"starts with ftp://: a Coffer server is reached over https://"):
        server_url("ftp://coffer.example")


def test_login_to_a_remote_address_without_a_scheme_fails_as_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []

    def ask(prompt: str = "") -> str:
        asked.append(prompt)
        return "a password"

    monkeypatch.setattr(getpass, "getpass", ask)
    monkeypatch.setattr(sys, "stdin", Terminal())
    assert main.main(["login", "alice", "--server", "coffer.example:8000"]) == 2
    assert capsys.readouterr().err.startswith("coffer: the server address 'coffer.example:8000' has no scheme")
    assert asked == [], "the address is refused before the password is asked"


# -- admin user create, join ----------------------------------------------------------------------------------


def test_a_bad_user_name_is_refused_before_the_password_is_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []

    def ask(prompt: str = "") -> str:
        asked.append(prompt)
        return "password1"

    monkeypatch.setattr(getpass, "getpass", ask)
    monkeypatch.setattr(sys, "stdin", Terminal())
    assert refused(["admin", "user", "create", "Bad_Name"], capsys).endswith(
        "error: argument username: 'Bad_Name' is not a user name: use 1-64 lowercase letters, digits, "
        "'.', '_' or '-', starting with a letter or digit"
    )
    assert asked == []


def test_user_create_takes_no_password_and_points_to_invite(monkeypatch: pytest.MonkeyPatch) -> None:
    """An administrator's password for a user is what invitations remove: refused before anything is sent."""
    monkeypatch.setattr(admin, "client", lambda: pytest.fail("nothing may reach the server"))
    args = parser().parse_args(["admin", "user", "create", "alice", "--password-stdin"])
    with pytest.raises(UsageError) as raised:
        args.func(args)
    assert "no longer takes a password" in raised.value.message
    assert "`coffer admin user invite alice`" in raised.value.message


def test_join_asks_for_the_new_password_twice_and_refuses_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["first password", "second password"])
    asked: list[str] = []

    def ask(prompt: str = "") -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr(getpass, "getpass", ask)
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(Coffer, "join", lambda *a, **k: pytest.fail("nothing may reach the server"))
    args = parser().parse_args(["join", "http://127.0.0.1:8000", "A" * 32])
    with pytest.raises(UsageError) as raised:
        args.func(args)
    assert raised.value.message == "the passwords differ; you have not joined yet"
    assert asked == ["Choose your password: ", "Repeat: "]


def test_join_refuses_a_malformed_code_before_the_password_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": pytest.fail("no password may be asked"))
    monkeypatch.setattr(sys, "stdin", Terminal())
    args = parser().parse_args(["join", "http://127.0.0.1:8000", "short"])
    with pytest.raises(UsageError) as raised:
        args.func(args)
    assert "invitation code" in raised.value.message
