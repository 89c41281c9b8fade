"""Where the client keeps its state: one rule, read alike by every command and by the agent's door.

The door (:mod:`.agent.door`) runs before anything else is imported, so this
module imports only :mod:`os`, which the interpreter has loaded already.
"""

from __future__ import annotations

import os


def config_home() -> str:
    """Return the config directory: ``COFFER_CONFIG_DIR``, else ``coffer`` in ``$XDG_CONFIG_HOME`` or ``~/.config``."""
    return os.environ.get("COFFER_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "coffer"
    )
