"""The peer: rclone's ``crypt`` remote over ``rclone serve webdav``, another end-to-end encrypted transfer.

``rclone serve webdav`` keeps the files on local disk under the run's temp
directory; the client side is a ``crypt`` remote (file contents and names
encrypted with a password) on a ``webdav`` remote that points at it, both in a
config file of our own so the user's rclone config is never read or written.
Uploads are ``rclone copyto FILE secret:NAME``, downloads ``rclone copyto
secret:NAME FILE``, rclone's defaults otherwise, as a user runs it.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .procs import Measured, Service, free_port, http_ok, run_measured

CONFIG = """
[dav]
type = webdav
url = {url}
vendor = other

[secret]
type = crypt
remote = dav:bench
password = {password}
"""


@dataclass
class Rclone:
    """A running ``rclone serve webdav`` and the config of a crypt remote on top of it."""

    service: Service
    config: Path
    store: Path

    @classmethod
    def start(cls, root: Path) -> Rclone:
        store = root / "store"
        store.mkdir(parents=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config = root / "rclone.conf"
        obscured = subprocess.run(
            ["rclone", "obscure", secrets.token_hex(24)], capture_output=True, text=True, check=True
        ).stdout.strip()
        config.write_text(CONFIG.format(url=url, password=obscured))
        config.chmod(0o600)
        args = ["rclone", "--config", str(config), "serve", "webdav", str(store), "--addr", f"127.0.0.1:{port}"]
        service = Service("rclone-serve", args, root / "serve.log").start()
        service.wait_ready(lambda: http_ok(url + "/"), 15)
        return cls(service, config, store)

    def stop(self) -> None:
        self.service.stop()

    def _copy(self, source: str, dest: str) -> Measured:
        return run_measured(["rclone", "--config", str(self.config), "-q", "copyto", source, dest])

    def copy(self, source: str, dest: str) -> Measured:
        """Copy a directory's files (``rclone copy``), as a user copies a tree."""
        return run_measured(["rclone", "--config", str(self.config), "-q", "copy", source, dest])

    def upload(self, source: Path, name: str) -> Measured:
        return self._copy(str(source), f"secret:{name}")

    def download(self, name: str, dest: Path) -> Measured:
        return self._copy(f"secret:{name}", str(dest))

    def forget(self, name: str) -> None:
        """Delete what was stored, through rclone (the server caches its listing), outside the timed steps."""
        run_measured(["rclone", "--config", str(self.config), "-q", "deletefile", f"secret:{name}"])


def tools_missing() -> list[str]:
    return [] if shutil.which("rclone") else ["rclone"]
