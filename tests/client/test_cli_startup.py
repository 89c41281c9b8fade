"""The `coffer` command starts without loading what only the server and fileserver programs need."""

from __future__ import annotations

import subprocess
import sys


def test_building_the_cli_loads_no_database_driver_server_app_program_or_progress_bar() -> None:
    probe = (
        "import sys; from coffer.cli import build_parser; build_parser(); "
        "late = ('psycopg', 'falcon', 'gunicorn', 'boto3', 'coffer.server.store.db', 'tqdm', "
        "'coffer.server.cli', 'coffer.fileserver.cli', 'coffer.devnet.command'); "
        "print(' '.join(m for m in late if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "", f"loaded at start-up: {done.stdout.strip()}"


def run_entry(prelude: str) -> subprocess.CompletedProcess[str]:
    code = f"import sys; sys.argv = ['coffer', '--version']; {prelude}; from coffer.__main__ import run; run()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_the_installed_program_runs_its_command_with_garbage_collection_on() -> None:
    probe = run_entry("import gc, coffer.cli as m; m.main = lambda: 0 if gc.isenabled() else 9")
    assert probe.returncode == 0, probe.stderr


def test_the_installed_program_exits_with_its_commands_code() -> None:
    assert run_entry("import coffer.cli as m; m.main = lambda: 6").returncode == 6
    version = run_entry("pass")
    assert version.returncode == 0 and version.stdout.startswith("coffer ")


def test_a_program_command_still_parses_with_its_own_options() -> None:
    from coffer.cli import build_parser

    argv = ["server", "create-admin", "root", "--if-missing"]
    args = build_parser(argv).parse_args(argv)
    assert (args.command, args.name, args.if_missing) == ("server", "root", True)


def test_the_installed_program_leaves_httpx_own_command_line_client_unloaded() -> None:
    probe = run_entry(
        "import atexit; atexit.register(lambda: print(' '.join(m for m in ('rich', 'click', 'pygments', "
        "'httpx._main') if sys.modules.get(m) is not None)))"
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines()[-1].strip() == "", f"loaded: {probe.stdout}"


def test_the_transfer_commands_load_no_model_of_accounts_sharing_keys_or_administration() -> None:
    """A ``coffer upload`` or ``download`` is a new process: building models it never uses costs its start-up."""
    probe = (
        "import sys; from coffer.cli import build_parser; build_parser(); "
        "import coffer.client.cli.files, coffer.client.coffer, coffer.client.upload, coffer.client.download; "
        "late = [m for m in sys.modules if m.startswith(('coffer.protocol.api.', 'coffer.client.'))"
        " and m.rsplit('.', 1)[1] in ('admin', 'auth', 'sharing', 'keys', 'lifecycle', 'invitations', 'quotas',"
        " 'deletions', 'key_rotation') and not m.startswith('coffer.client.cli.')]; "
        "late += [m for m in ('coffer.protocol.messages',) if m in sys.modules]; print(' '.join(sorted(late)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "", f"loaded at start-up: {done.stdout.strip()}"
