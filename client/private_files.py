"""Files only their owner may read, written so that a crash leaves the old version or the new, never half.

The client keeps secrets and bearer capabilities on disk (the session's token and
private key, resume states with ticket-bearing ids, pinned fingerprints, a started
link download's id): each is written here, to a 0600 temporary file in a 0700
directory, fsynced, then renamed over the old one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    """Write *data* as JSON at *path* atomically, readable by its owner only. SECURITY."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if compact:
        text = json.dumps(data, separators=(",", ":"))
    else:
        text = json.dumps(data, indent=1, sort_keys=True)
    write_text(path, text)


def write_text(path: Path, text: str) -> None:
    """Write *text* at *path* atomically as a new file readable by its owner only; its directory must exist.

    SECURITY: an existing file is replaced, never truncated and rewritten, so a
    credential written over a 0644 file does not keep that file's mode.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
