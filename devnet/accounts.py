"""The dev network's two administrators: ``devnet``, its own, and ``admin``, the person's.

The rule, as the README states it: the first run (a new ``var/``) creates ``admin``
with the password in ``COFFER_ADMIN_PASSWORD``, or with a generated one kept in
``var/admin-password``. From then on that password belongs to the person: ``coffer
passwd`` changes it, and ``coffer devnet`` never needs nor resets it (a reset on the
server would orphan the private key wrapped under the old one). ``COFFER_ADMIN_PASSWORD``
on a later run is therefore not used, and ``coffer devnet`` says so. To start over,
remove ``var/``.

So that it can still apply the topology and watch the registry, ``coffer devnet``
signs in as an administrator of its own, ``devnet``, whose generated password lives
in ``var/devnet-password`` and is never shown.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ADMIN = "admin"
OPERATOR = "devnet"
ADMIN_PASSWORD_FILE = "admin-password"
OPERATOR_PASSWORD_FILE = "devnet-password"


def write_private(path: Path, text: str) -> None:
    """Write *text* to *path*, readable by its owner alone whatever the umask. SECURITY: holds a password."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def operator_password(var: Path) -> str:
    """Return the password of ``devnet``'s own administrator: generated on the first run, then read from var/."""
    saved = var / OPERATOR_PASSWORD_FILE
    if saved.exists():
        return saved.read_text().strip()
    password = secrets.token_urlsafe(16)
    write_private(saved, password)
    return password


@dataclass(frozen=True)
class AdminPassword:
    """What to say about ``admin``'s password once the network runs."""

    created: bool
    """``admin`` was created by this run (with *password*); otherwise it existed and keeps its own."""
    from_environment: bool
    password: str | None


def first_password(var: Path, chosen: str | None) -> tuple[str, bool]:
    """Return the password a new ``admin`` gets, and whether it was generated (so must be kept in var/)."""
    if chosen:
        return chosen, False
    saved = var / ADMIN_PASSWORD_FILE
    if saved.exists():  # an admin created by a run that was stopped before it finished
        return saved.read_text().strip(), False
    return secrets.token_urlsafe(12), True


def settle_admin(var: Path, exists: bool, chosen: str | None) -> tuple[AdminPassword, str | None]:
    """Decide ``admin``'s password for this run: the password to create it with (None: it exists) and what to say.

    *chosen* is ``COFFER_ADMIN_PASSWORD``; *exists* whether ``admin`` is in the database already.
    """
    if exists:
        return AdminPassword(created=False, from_environment=bool(chosen), password=None), None
    password, generated = first_password(var, chosen)
    if generated:
        write_private(var / ADMIN_PASSWORD_FILE, password)
    elif chosen:  # a file left from an earlier var/ must not name a password admin does not have
        (var / ADMIN_PASSWORD_FILE).unlink(missing_ok=True)
    return AdminPassword(created=True, from_environment=bool(chosen), password=password), password


def notice(var: Path, admin: AdminPassword) -> str | None:
    """Return the warning for a COFFER_ADMIN_PASSWORD that this run does not use, or None."""
    if admin.created or not admin.from_environment:
        return None
    return (
        f"coffer devnet: COFFER_ADMIN_PASSWORD is not used: {ADMIN} exists already in {var}/ and keeps the "
        f"password it has (set first by COFFER_ADMIN_PASSWORD or in {var / ADMIN_PASSWORD_FILE}, changed only "
        f"by `coffer passwd`); to start over with a new password, stop and remove {var}/"
    )


def shown(var: Path, admin: AdminPassword) -> str:
    """Return how the welcome shows ``admin``'s password."""
    if admin.created and admin.from_environment:
        return "(from COFFER_ADMIN_PASSWORD)"
    if admin.created:
        return f"{admin.password}  (kept in {var / ADMIN_PASSWORD_FILE})"
    return "(the password it has: the first run's, unless changed with `coffer passwd`)"
