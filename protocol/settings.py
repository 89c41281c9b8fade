"""Build a typed settings object from a TOML table and environment variables, once, at start.

Each program declares a frozen dataclass of its settings with defaults. A value
comes from, in rising priority: the dataclass default, the TOML file's table,
then the environment variable ``<PREFIX><FIELD NAME IN CAPITALS>``. A wrong
name or type stops the program with a message naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


PRIVATE_UMASK = 0o077
"""SECURITY: the umask the server, the fileserver and ``coffer devnet`` run under, whatever the user's:
what they create (databases, keys, chunks, state, logs) is their owner's alone, 0600 files in 0700 directories."""


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which value and why."""


def read_toml(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as exc:
        raise SettingsError(f"config file {path} does not exist") from exc
    except OSError as exc:
        raise SettingsError(f"config file {path} cannot be read: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc


def _scalar(kind: Any, value: Any, from_env: bool) -> Any:
    if kind is bool:
        if from_env:
            if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("1", "true", "yes")
        if not isinstance(value, bool):
            raise TypeError
        return value
    if kind in (int, float):
        if from_env:
            return kind(value)
        if isinstance(value, bool) or not isinstance(value, int if kind is int else (int, float)):
            raise TypeError
        return kind(value)
    if kind in (str, Path):
        if not isinstance(value, str):
            raise TypeError
        return kind(value)
    return value


def _coerce(name: str, kind: Any, value: Any, source: str) -> Any:
    if get_origin(kind) in (Union, types.UnionType):
        if value is None or value == "":
            return None
        kind = next(a for a in get_args(kind) if a is not type(None))
    from_env = isinstance(value, str) and source.startswith("environment")
    try:
        return _scalar(kind, value, from_env)
    except (TypeError, ValueError) as exc:
        kind_name = getattr(kind, "__name__", str(kind))
        raise SettingsError(f"{source}: '{name}' must be {kind_name}, got {value!r}") from exc


def load(
    cls: type[T],
    table: Mapping[str, Any],
    *,
    env_prefix: str,
    source: str,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Return ``cls(**values)`` from *table* and the environment, checking names and types."""
    environ = os.environ if environ is None else environ
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise SettingsError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    values: dict[str, Any] = {}
    for name in fields:
        env_name = env_prefix + name.upper()
        if env_name in environ:
            values[name] = _coerce(name, hints[name], environ[env_name], f"environment variable {env_name}")
        elif name in table:
            values[name] = _coerce(name, hints[name], table[name], source)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SettingsError):
            raise
        raise SettingsError(f"{source}: {exc}") from exc
