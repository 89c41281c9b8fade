"""Remember other users' public keys by fingerprint, so the server cannot swap one later (trust on first use).

The server hands out public keys. The first time this account shares with a user, the
fingerprint of the key it was given is *pinned* in ``<config dir>/known_keys.json``, per
server URL and account; from then on a different key for that name is refused with
:class:`~client.errors.KeyChanged` until the person at the keyboard, having compared
fingerprints out of band, accepts the new one (``--fingerprint``). As SSH does with host
keys: the pin protects every later use, only an out-of-band comparison protects the first.

A key met only on a file someone shared with us is *seen*, not pinned: a changed key is
refused as for a pin, but the next share *to* that user is still a first share, whose
fingerprint the CLI asks the person to compare. SECURITY: otherwise a server that plants a
share "from frank", boxed under a key pair it made, would have that key trusted for every
later share to frank, and the file keys boxed to frank would be boxed to the server.

The file is JSON, written atomically with mode 0600 in a 0700 directory::

    {"v": 2, "servers": {"https://coffer.example.com": {"alice": {"bob": "3f9a 1c07 …"}}},
     "seen": {"https://coffer.example.com": {"alice": {"frank": "77c1 02ee …"}}}}

A version 1 file (pins only, made by shares in both directions alike) is read with every
pin as seen: which of them were compared cannot be told, so each is shown again once.

SECURITY: a damaged file is an error, never "no pins": reading it as empty would quietly
trust whatever key the server hands out next.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from coffer.format.errors import FingerprintMalformed
from coffer.format.shares import fingerprint, parse_fingerprint, same_fingerprint

from . import private_files
from .errors import KeyChanged, UsageError

VERSION = 2
READ_VERSIONS = (1, 2)
PINNED, SEEN = "servers", "seen"
FILE_NAME = "known_keys.json"
_CHANGING = threading.Lock()
"""Held while the file is read, checked and rewritten: a command downloads several files at once
(client.batch), and two first sights written together would otherwise lose one of them."""


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
            return {"v": VERSION, PINNED: {}, SEEN: {}}
        except (OSError, ValueError) as exc:
            raise UsageError(self._damaged(f"it cannot be read ({exc})")) from exc
        if not isinstance(data, dict) or data.get("v") not in READ_VERSIONS or not isinstance(data.get(PINNED), dict):
            raise UsageError(self._damaged("it is not a known-keys file of this version"))
        if data["v"] == 1:
            return {"v": VERSION, PINNED: {}, SEEN: data[PINNED]}
        if not isinstance(data.get(SEEN), dict):
            raise UsageError(self._damaged("its list of seen keys is missing"))
        return data

    def _damaged(self, why: str) -> str:
        return (
            f"the file of known keys {self.path} is damaged: {why}. Repair it, or move it away to start over "
            "(every user's fingerprint then has to be compared again)"
        )

    def _mine(self, data: dict[str, Any], kind: str = PINNED) -> dict[str, str]:
        pins = data[kind].get(self.server, {}).get(self.account, {})
        if not isinstance(pins, dict) or not all(isinstance(v, str) for v in pins.values()):
            raise UsageError(self._damaged(f"the entry of {self.account} on {self.server} is malformed"))
        return pins

    def pinned(self, name: str) -> str | None:
        """Return the fingerprint pinned for *name*, or None if this account has not shared with them yet."""
        return self._mine(self._load()).get(name)

    def seen(self, name: str) -> str | None:
        """Return the fingerprint last seen on a file *name* shared with this account, if not pinned since."""
        return self._mine(self._load(), SEEN).get(name)

    def _known(self, name: str) -> str | None:
        data = self._load()
        return self._mine(data).get(name) or self._mine(data, SEEN).get(name)

    def status(self, name: str, public_key: bytes) -> str:
        """Say how *public_key* stands for *name*: ``new``, ``seen``, ``pinned`` (the same) or ``changed``."""
        pinned, seen = self.pinned(name), self.seen(name)
        before = pinned or seen
        if before is None:
            return "new"
        if not same_fingerprint(before, public_key):
            return "changed"
        return "pinned" if pinned else "seen"

    def pin(self, name: str, public_key: bytes) -> None:
        """Pin *public_key* for *name*, replacing any earlier pin or seen key."""
        with _CHANGING:
            self._record(name, public_key, PINNED)

    def _record(self, name: str, public_key: bytes, kind: str) -> None:
        data = self._load()
        data["v"] = VERSION
        for each in (PINNED, SEEN):
            entries = dict(self._mine(data, each))
            entries.pop(name, None)
            if each == kind:
                entries[name] = fingerprint(public_key)
            data[each].setdefault(self.server, {})[self.account] = entries
        private_files.write_json(self.path, data)

    def see(self, name: str, public_key: bytes) -> bool:
        """Accept the key of a file's owner if it is the one pinned or seen before; remember it as seen.

        Return whether *name* was met for the first time. SECURITY: a key seen this way is
        never pinned (see the module's docstring).
        """
        with _CHANGING:  # SECURITY: a first sight lost to a concurrent write would be a first sight again
            first = self._known(name) is None
            self.check(name, public_key)
            if first:
                self._record(name, public_key, SEEN)
        return first

    def check(self, name: str, public_key: bytes, *, expect_fingerprint: str | None = None, accept: str = "") -> bool:
        """Say whether *name* has no pin yet; refuse a key that is not the pinned (or seen) or the expected one.

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
        before = self._known(name)
        if before is None:
            return True
        if same_fingerprint(before, public_key):
            return self.pinned(name) is None
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
