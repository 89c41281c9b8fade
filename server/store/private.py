"""Make a SQLite file private to its owner before SQLite opens it, whatever the umask.

SECURITY: the server's database holds the ticket-signing seed and every auth key
hash; anyone who reads it can mint tickets the fileservers accept. SQLite creates
a missing file with 0644 less the umask, and its ``-wal`` and ``-shm`` files with the
database's own mode, so creating the database 0600 first keeps all three private.
A file left readable by an older version is tightened, with its journal files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

OWNER_ONLY = 0o600


def private_sqlite_file(path: Path) -> None:
    """Create *path* (and missing parents, 0700) as an empty 0600 file, or take group and other access off it.

    An existing file is never opened here: closing any descriptor of a file drops every POSIX
    lock the process holds on it, SQLite's included, and a process that already has a
    connection to the database (the server's, beside its rate limiter's) would then let
    another process take it for unused, checkpoint it and delete its ``-wal`` and ``-shm``
    files under the open connections ("disk I/O error", then "database disk image is
    malformed").
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    except FileExistsError:
        pass
    else:
        os.close(fd)  # a file just made: no connection of this process can hold a lock on it
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if stat.S_IMODE(each.stat().st_mode) & 0o077:
                each.chmod(OWNER_ONLY)
        except FileNotFoundError:
            continue
