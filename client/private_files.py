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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            if compact:
                json.dump(data, f, separators=(",", ":"))
            else:
                json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
