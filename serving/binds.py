"""Check a listener's ``host:port`` setting with nothing but the standard library.

The programs' settings are read before anything tells whether their extras are
installed: ``coffer server`` on a client-only install must get to the message that
names the extra to install, so this check cannot live beside the metrics code,
which imports falcon and prometheus-client.
"""

from __future__ import annotations


def check_bind(bind: str, setting: str = "metrics_bind") -> None:
    """Raise ValueError unless *bind* is empty (the listener is off) or ``host:port``."""
    if not bind:
        return
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{setting} must be empty (off) or host:port, got {bind!r}")
