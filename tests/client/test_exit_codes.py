"""The transfer engine's errors end `coffer` with the exit codes and messages they always had."""

from __future__ import annotations

import argparse

import pytest

from coffer.client.cli import main as cli
from coffer.client.errors import exit_code
from coffer.protocol import requestids
from coffer.transfer import errors


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.TransferFailed("x"), 3),
        (errors.NoLiveFileserver("x"), 3),
        (errors.FileserverUnavailable("x"), 3),
        (errors.FileserverBusy("x"), 3),
        (errors.FileserverRefused("x"), 1),
        (errors.TicketRejected("x"), 1),
        (errors.ChunkAbsent("x"), 1),
        (errors.TransferError("x"), 1),
    ],
)
def test_each_transfer_error_has_the_exit_code_of_the_client_error_it_was(
    error: errors.TransferError, code: int
) -> None:
    assert exit_code(error) == code


def test_a_transfer_error_reaching_main_is_printed_and_ends_with_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise errors.NoLiveFileserver("no live fileserver can take shard 'default'")

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=fail, command="upload")
    monkeypatch.setattr(cli, "build_parser", lambda **_: parser)
    assert cli.main([]) == 3
    request_id = requestids.command()
    assert request_id is not None  # the command's id, sent with each of its requests
    expected = f"coffer: no live fileserver can take shard 'default' (request id: {request_id})\n"
    assert capsys.readouterr().err == expected
