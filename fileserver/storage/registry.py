"""Pick a storage backend by the name a config gives it, importing it only when a shard uses it.

Cloud backends import their SDK at the top of their own module; since that
module is imported only here, on demand, a fileserver that keeps everything on
local disk never needs boto3, google-cloud-storage or azure-storage-blob, and one
that does gets a message naming the extra to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coffer.protocol.messages import BACKENDS as PROTOCOL_BACKENDS
from coffer.protocol.settings import load

from .base import Backend
from .errors import BackendUnavailable


@dataclass(frozen=True)
class _Entry:
    module: str
    cls: str
    extra: str | None = None
    """The ``coffer[...]`` extra that installs the backend's SDK, if it needs one."""


_REGISTRY: dict[str, _Entry] = {
    "local": _Entry("coffer.fileserver.storage.local", "LocalBackend"),
    "s3": _Entry("coffer.fileserver.storage.s3", "S3Backend", extra="s3"),
    "gcs": _Entry("coffer.fileserver.storage.gcs", "GcsBackend", extra="gcs"),
    "azure": _Entry("coffer.fileserver.storage.azure", "AzureBackend", extra="azure"),
}


def known_kinds() -> list[str]:
    """Return the backend names this installation can use."""
    return sorted(_REGISTRY)


def backend_class(kind: str) -> type[Backend]:
    """Return the backend class for *kind*, importing its module (and SDK) now."""
    entry = _REGISTRY.get(kind)
    if entry is None:
        known = ", ".join(known_kinds())
        if kind in PROTOCOL_BACKENDS:
            raise BackendUnavailable(f"storage backend {kind!r} is not available in this version; available: {known}")
        raise BackendUnavailable(f"unknown storage backend {kind!r}; known: {known}")
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        hint = f"install the coffer[{entry.extra}] extra" if entry.extra else "reinstall coffer"
        raise BackendUnavailable(f"storage backend {kind!r} cannot load ({exc}): {hint}") from exc
    cls: type[Backend] = getattr(module, entry.cls)
    return cls


def parse_options(kind: str, table: Mapping[str, Any], *, source: str) -> Any:
    """Check a shard's backend-specific keys against the backend's ``Options``; return them typed."""
    return load(backend_class(kind).Options, table, env_prefix="", source=source, environ={})


def create_backend(kind: str, options: Any, *, shard: str, data_dir: Path) -> Backend:
    """Return a ready backend of *kind* for *shard*."""
    return backend_class(kind).from_options(options, shard=shard, data_dir=data_dir)
