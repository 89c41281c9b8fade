"""Remember other users' public keys by fingerprint, so the server cannot swap one later (trust on first use).

The server hands out public keys. The first time this account meets a user (sharing with
them, or opening a file they shared), the fingerprint of the key it was given is pinned in
``<config dir>/known_keys.json``, per server URL and account; from then on a different
key for that name is refused with :class:`~client.errors.KeyChanged` until the person at
the keyboard, having compared fingerprints out of band, accepts the new one
(``--fingerprint``). As SSH does with host keys: the pin protects every later use, only an
out-of-band comparison protects the first.

The file is JSON, written atomically with mode 0600 in a 0700 directory::

    {"v": 1, "servers": {"https://coffer.example.com": {"alice": {"bob": "3f9a 1c07 …"}}}}

SECURITY: a damaged file is an error, never "no pins": reading it as empty would quietly
trust whatever key the server hands out next.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coffer.format.errors import FingerprintMalformed
from coffer.format.shares import fingerprint, parse_fingerprint, same_fingerprint

from . import private_files
from .errors import KeyChanged, UsageError

VERSION = 1
FILE_NAME = "known_keys.json"


class KnownKeys:
    """The fingerprints one account on one server has pinned, by user name."""

    def __init__(self, config_dir: Path, server: str, account: str):
        self.path = config_dir / FILE_NAME
        self.server = server.rstrip("/")
        self.account = account

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {"v": VERSION, "servers": {}}
        except (OSError, ValueError) as exc:
            raise UsageError(self._damaged(f"it cannot be read ({exc})")) from exc
        if not isinstance(data, dict) or data.get("v") != VERSION or not isinstance(data.get("servers"), dict):
            raise UsageError(self._damaged("it is not a known-keys file of this version"))
        return data

    def _damaged(self, why: str) -> str:
        return (
            f"the file of known keys {self.path} is damaged: {why}. Repair it, or move it away to start over "
            "(every user's fingerprint then has to be compared again)"
        )

    def _mine(self, data: dict[str, Any]) -> dict[str, str]:
        pins = data["servers"].get(self.server, {}).get(self.account, {})
        if not isinstance(pins, dict) or not all(isinstance(v, str) for v in pins.values()):
            raise UsageError(self._damaged(f"the entry of {self.account} on {self.server} is malformed"))
        return pins

    def pinned(self, name: str) -> str | None:
        """Return the fingerprint pinned for *name*, or None if this account has not met them yet."""
        return self._mine(self._load()).get(name)

    def status(self, name: str, public_key: bytes) -> str:
        """Say how *public_key* stands against the pin for *name*: ``new``, ``pinned`` (the same) or ``changed``."""
        before = self.pinned(name)
        if before is None:
            return "new"
        return "pinned" if same_fingerprint(before, public_key) else "changed"

    def pin(self, name: str, public_key: bytes) -> None:
        """Pin *public_key* for *name*, replacing any earlier pin."""
        data = self._load()
        accounts = data["servers"].setdefault(self.server, {})
        pins = dict(self._mine(data))
        pins[name] = fingerprint(public_key)
        accounts[self.account] = pins
        private_files.write_json(self.path, data)

    def check(self, name: str, public_key: bytes, *, expect_fingerprint: str | None = None, accept: str = "") -> bool:
        """Say whether *name* is met for the first time; refuse a key that is not the pinned or the expected one.

        With *expect_fingerprint* (what the person compared out of band) the key must be
        that one, and it may replace a different pin. Without it, a key that differs from
        the pin raises :class:`KeyChanged`, whose message ends with *accept*, the command
        that accepts the new key. Writes nothing (see :meth:`pin`).
        """
        now = fingerprint(public_key)
        if expect_fingerprint is not None:
            try:
                wanted = parse_fingerprint(expect_fingerprint)
            except FingerprintMalformed as exc:
                raise UsageError(exc.message) from exc
            if not same_fingerprint(wanted, public_key):
                raise KeyChanged(
                    f"the server gives {name} a key with fingerprint {now}, not the {wanted} you gave: check what "
                    f"you typed; if it is what {name} read out to you, the server is not handing out {name}'s real "
                    "key, and nothing was done"
                )
            return self.pinned(name) is None
        before = self.pinned(name)
        if before is None:
            return True
        if same_fingerprint(before, public_key):
            return False
        hint = accept or f'coffer fingerprint {name} --fingerprint "{now}"'
        raise KeyChanged(
            f"{name}'s public key changed since you last used it (was {before}, now {now}): the server may be "
            f"handing out a false key. Compare fingerprints with {name} over another channel, then run `{hint}`"
        )

    def trust(self, name: str, public_key: bytes, *, expect_fingerprint: str | None = None, accept: str = "") -> bool:
        """:meth:`check` the key and pin it; return whether *name* was met for the first time."""
        first = self.check(name, public_key, expect_fingerprint=expect_fingerprint, accept=accept)
        if first or expect_fingerprint is not None:
            self.pin(name, public_key)
        return first
