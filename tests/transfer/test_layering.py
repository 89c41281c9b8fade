"""The transfer engine stands on the protocol alone, so a fileserver can use it without the client."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("coffer.client", "coffer.server", "coffer.fileserver", "coffer.format")


def test_importing_every_transfer_module_loads_no_client_server_fileserver_or_format_module() -> None:
    probe = (
        "import pkgutil, sys, importlib, coffer.transfer as t; "
        "[importlib.import_module(f'coffer.transfer.{m.name}') for m in pkgutil.iter_modules(t.__path__)]; "
        f"print(' '.join(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "", f"coffer.transfer loaded: {done.stdout.strip()}"


def test_the_probe_sees_every_transfer_module() -> None:
    probe = (
        "import pkgutil, coffer.transfer as t; "
        "print(' '.join(sorted(m.name for m in pkgutil.iter_modules(t.__path__))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert {"balancer", "errors", "failover", "http", "tickets"} <= set(done.stdout.split())
