"""Names from decrypted metadata made safe to print and to write: remote input either way.

Whoever holds a file's key chose its name, a sharer included. Printed raw, a name
with terminal controls (``ESC [``, an OSC sequence, ``\\r``) can rewrite what the
terminal shows or run its escape commands; written raw, a name such as ``.bashrc``
or ``.ssh/authorized_keys`` lands as a hidden file where the download runs (often
the home directory). So a name is escaped when printed, and renamed when written:
each unsafe character becomes ``_``, and a leading dot gets ``_`` before it
(``_.bashrc``), in every component of a tree name. ``-o FILE`` names a file as the
person likes.
"""

from __future__ import annotations

import unicodedata

from coffer.format.metadata import relative_path, safe_name

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Direction controls: they make a name display as another (``txt.exe`` shown as ``exe.txt``)."""


def unsafe(char: str) -> bool:
    """Return whether *char* must not reach a terminal or a file name: a control, a line break, a direction mark."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI


def shown(name: str) -> str:
    """Return *name* for a terminal: every unsafe character as a visible escape (``\\x1b``, ``\\u202e``)."""
    if not any(unsafe(c) for c in name):
        return name
    return "".join((f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") if unsafe(c) else c for c in name)


def local_component(part: str) -> str:
    """Return one component of a name as it may be written here: unsafe characters as ``_``, never hidden."""
    cleaned = "".join("_" if unsafe(c) else c for c in part)
    return "_" + cleaned if cleaned.startswith(".") else cleaned


def local_name(name: str, fallback: str) -> str:
    """Return the file name to write a file named *name* under: its last component, made safe. SECURITY."""
    return local_component(safe_name(name, fallback))


def local_parts(name: str) -> tuple[str, ...]:
    """Return the components of a tree name (``coffer upload -r``) as they may be written here. SECURITY.

    :func:`relative_path` first refuses what could leave the chosen directory
    (absolute, ``..``, backslash, NUL); each component is then made safe.
    """
    return tuple(local_component(part) for part in relative_path(name))
