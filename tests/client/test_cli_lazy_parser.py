"""``coffer`` builds in full only the command it runs, and answers every command line as the whole parser does."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from collections.abc import Iterator

import pytest

from coffer import cli
from coffer.client.cli import files, main

FILE_ID = "7d3c1f0e-5b2a-4c9d-8e6f-1a2b3c4d5e6f"

SAMPLES = [
    ["login", "alice", "--server", "https://coffer.example", "--password-stdin", "--json"],
    ["join", "https://coffer.example", "A" * 32, "--password-stdin"],
    ["passwd", "--password-stdin"],
    ["logout"],
    ["upload", "-r", "a.bin", "dir", "--shard", "hq", "--expires", "7d", "--copies", "2", "--site", "hq", "-q"],
    ["download", FILE_ID, FILE_ID, "-o", "out", "--overwrite", "--quiet"],
    ["ls", "--shared", "--shard", "hq", "--json"],
    ["info", FILE_ID, "--json"],
    ["rm", FILE_ID, FILE_ID],
    ["share", FILE_ID, "bob", "--fingerprint", "3f9a 1c07"],
    ["shares", FILE_ID, "--json"],
    ["unshare", FILE_ID, "bob"],
    ["link", FILE_ID, "--expires", "24h", "--max-downloads", "3", "--password"],
    ["links", FILE_ID],
    ["unlink", "https://coffer.example/s/abc"],
    ["fingerprint", "bob", "--fingerprint", "ab"],
    ["keys", "rotate", "--password-stdin", "--json"],
    ["agent", "status", "--json"],
    ["agent", "start"],
    ["quota", "--json"],
    ["admin", "user", "invite", "bob", "--role", "admin", "--expires", "2d"],
    ["admin", "apply", "shards.toml", "--prune", "--dry-run"],
    ["admin", "hold", "--user", "bob", "--reason", "audit"],
    ["admin", "links", "--state", "exhausted"],
    ["admin", "sync", "status", "--json"],
    ["admin", "fileserver", "forget", FILE_ID],
    ["server", "create-admin", "root", "--if-missing"],
    ["fileserver", "--config", "cluster.toml", "--check"],
    ["devnet", "--var", "state"],
]
"""A command line of every command."""

ANSWERED = [
    [],
    ["--help"],
    ["--version"],
    ["uplod", "a.bin"],
    ["-h", "upload"],
    ["-x", "upload"],
    ["--", "upload", "a.bin"],
    ["upload"],
    ["upload", "--copies", "9", "a.bin"],
    ["admin"],
    ["admin", "uplod"],
    ["admin", "user", "--help"],
    ["keys", "--help"],
    ["server", "--help"],
]
"""Command lines argparse answers itself: help, the version, a usage error."""


def whole_parser() -> argparse.ArgumentParser:
    return main.build_parser(*(cli.program(name) for name in cli.PROGRAMS))


def commands_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


def every_help(parser: argparse.ArgumentParser, path: str = "coffer") -> Iterator[tuple[str, str]]:
    yield path, parser.format_help()
    for name, command in commands_of(parser).items():
        yield from every_help(command, f"{path} {name}")


def answer(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = vars(parser.parse_args(argv))
        except SystemExit as exc:
            result = exc.code
    return result, out.getvalue(), err.getvalue()


def test_coffer_help_lists_every_command_as_the_whole_parser_does() -> None:
    whole = whole_parser()
    assert cli.build_parser(["--help"]).format_help() == whole.format_help()
    assert list(commands_of(cli.build_parser([]))) == list(commands_of(whole))


def test_the_help_of_every_command_and_subcommand_is_that_of_the_whole_parser() -> None:
    for name in commands_of(whole_parser()):
        built = commands_of(cli.build_parser([name, "--help"]))[name]
        whole = commands_of(whole_parser())[name]
        assert dict(every_help(built, f"coffer {name}")) == dict(every_help(whole, f"coffer {name}"))


def test_an_upload_builds_the_options_of_no_other_family_of_commands() -> None:
    built = commands_of(cli.build_parser(["upload", "big.bin"]))
    assert all(built[name]._actions for name in files.COMMANDS)
    others = {name: command._actions for name, command in built.items() if name not in files.COMMANDS}
    assert others and all(actions == [] for actions in others.values()), others


@pytest.mark.parametrize("argv", [[], ["--help"], ["--version"], ["uplod"]], ids=" ".join)
def test_a_command_line_that_runs_no_command_builds_none_in_full(argv: list[str]) -> None:
    assert all(command._actions == [] for command in commands_of(cli.build_parser(argv)).values())


def test_the_samples_run_every_command() -> None:
    assert {argv[0] for argv in SAMPLES} == set(commands_of(whole_parser()))


@pytest.mark.parametrize("argv", SAMPLES, ids=" ".join)
def test_each_command_line_parses_as_with_the_whole_parser(argv: list[str]) -> None:
    parsed, out, err = answer(cli.build_parser(argv), argv)
    assert isinstance(parsed, dict) and (out, err) == ("", ""), err
    assert parsed == answer(whole_parser(), argv)[0]


@pytest.mark.parametrize("argv", ANSWERED, ids=" ".join)
def test_help_version_and_usage_errors_print_and_exit_as_with_the_whole_parser(argv: list[str]) -> None:
    assert answer(cli.build_parser(argv), argv) == answer(whole_parser(), argv)


class _Recorded(dict[str, str]):
    """An environment that notes every name read from it."""

    def __init__(self, real: dict[str, str], read: list[str]):
        super().__init__(real)
        self.read = read

    def __getitem__(self, name: str) -> str:
        self.read.append(name)
        return super().__getitem__(name)

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.read.append(name)
        return super().get(name, default)

    def __contains__(self, name: object) -> bool:
        self.read.append(str(name))
        return super().__contains__(name)


def test_no_parser_reads_the_environment_or_the_working_directory_while_it_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``coffer agent`` builds parsers in its own environment and directory; each command runs in its caller's.

    A default taken from the environment while the parser was built would be the agent's
    (``main.prepared``). argparse itself reads two kinds of names while it builds: the
    terminal's size for a formatter it throws away (the help it prints is sized anew),
    and the locale, through gettext, for its own words, which no catalog translates.
    """
    read: list[str] = []

    def getcwd() -> str:
        read.append("the working directory")
        return "/"

    monkeypatch.setattr(os, "environ", _Recorded(dict(os.environ), read))
    monkeypatch.setattr(os, "getcwd", getcwd)
    main.build_parser()
    assert set(read) <= {"COLUMNS", "LINES", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"}, read


def test_a_prepared_parser_takes_the_environment_the_command_runs_in(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str | None, str | None]] = []
    monkeypatch.delenv("COFFER_SITE", raising=False)
    command = main.prepared(["download"])

    def run(args: argparse.Namespace) -> int:
        ran.append((args.site, files.chosen_site(args)))
        return 0

    monkeypatch.setattr(main, "run", run)
    monkeypatch.setenv("COFFER_SITE", "office-b")
    assert command(["download", FILE_ID]) == 0
    assert command(["download", FILE_ID, "--site", "office-a"]) == 0
    assert ran == [(None, "office-b"), ("office-a", "office-a")]


def test_the_agents_commands_of_one_family_share_one_prepared_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """upload and download are registered together: the agent builds their family's parser once, not once each."""
    built: list[str | None] = []
    real = main.build_parser

    def build(*more: main.Family, command: str | None = None) -> argparse.ArgumentParser:
        built.append(command)
        return real(*more, command=command)

    monkeypatch.setattr(main, "build_parser", build)
    command = main.prepared(["upload", "download", "share"])
    assert len(built) == 2, built
    seen: list[str] = []

    def run(args: argparse.Namespace) -> int:
        seen.append(args.command)
        return 0

    monkeypatch.setattr(main, "run", run)
    assert command(["upload", "a.bin"]) == 0 and command(["download", FILE_ID]) == 0
    assert seen == ["upload", "download"] and len(built) == 2
