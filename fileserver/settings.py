"""The fileserver's settings: the cluster config an admin exported, plus an optional ``[fileserver]`` table.

Read once at start and checked before anything else happens, so a bad value
stops the fileserver with a message naming the file, the table and the key::

    [server]       url, public_key             the central server and its ticket-signing key
    [cluster]      id, name, generation, credential (secret)
    [[shards]]     name, read, write, backend, plus the backend's own keys (local: path);
                   a cloud shard may add cache_dir, cache_bytes, write_back (a local cache)
    [fileserver]   bind, public_url, data_dir, heartbeat_interval, workers, threads,
                   max_chunk_size, scrub_bytes_per_second, scrub_interval, scrub_delay,
                   reconcile_interval, reconcile_delay, max_transfers, body_idle_timeout,
                   min_free_bytes, header_timeout, connections_per_address, web_origins, log_level,
                   metrics_bind

Environment variables override the file: ``COFFER_FS_<NAME>`` for ``[fileserver]``
keys (``COFFER_FS_BIND``), ``COFFER_FS_SERVER_<NAME>`` and ``COFFER_FS_CLUSTER_<NAME>``
for the other two tables (``COFFER_FS_CLUSTER_CREDENTIAL`` keeps the secret out of
the file). Relative paths are resolved against the working directory at load time.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from coffer.protocol import wire
from coffer.protocol.encoding import DecodeError, b64decode
from coffer.protocol.errors import CofferError
from coffer.protocol.ids import check_id, check_name
from coffer.protocol.settings import SettingsError, load, read_toml
from coffer.protocol.signing import SigningKey, key_id
from coffer.serving.binds import check_bind
from coffer.serving.limits import DEFAULT_CONNECTIONS_PER_ADDRESS, DEFAULT_HEADER_TIMEOUT, EdgeLimits
from coffer.serving.origins import parse_origins

from . import storage
from .storage.cache import CacheOptions

ENV_PREFIX = "COFFER_FS_"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
TABLES = ("server", "cluster", "shards", "fileserver")
EXPORT_HINT = "boot from the cluster config the server exports (`coffer admin cluster-config CLUSTER`)"
T = TypeVar("T")


@dataclass(frozen=True)
class ServerSettings:
    """The central server: where to register, and the key its tickets are signed with."""

    url: str
    public_key: str

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"'url' must be an http:// or https:// address, got {self.url!r}")
        try:
            key = b64decode(self.public_key, max_length=64)
        except DecodeError as exc:
            raise ValueError(f"'public_key' is not base64url ({exc}): {EXPORT_HINT}") from exc
        if len(key) != 32:
            raise ValueError(f"'public_key' must be a 32-byte Ed25519 key: {EXPORT_HINT}")

    @property
    def public_key_bytes(self) -> bytes:
        return b64decode(self.public_key)

    @property
    def ticket_keys(self) -> dict[str, bytes]:
        """Return kid → key of the keys whose tickets this fileserver honours. SECURITY: the trust anchor."""
        key = self.public_key_bytes
        return {key_id(key): key}


@dataclass(frozen=True)
class ClusterSettings:
    """The cluster this fileserver belongs to, and its credential (the secret it signs requests with)."""

    id: str
    name: str
    generation: int
    credential: str = field(repr=False)  # SECURITY: the cluster's secret; never printed

    def __post_init__(self) -> None:
        try:
            check_id(self.id, "cluster_id")
            check_name(self.name, "cluster")
        except CofferError as exc:
            raise ValueError(exc.message) from exc
        if self.generation < 1:
            raise ValueError("'generation' must be at least 1")
        try:
            SigningKey.from_text(self.credential)
        except DecodeError as exc:
            raise ValueError(f"'credential' is not a base64url Ed25519 seed: {EXPORT_HINT}") from exc

    @property
    def signing_key(self) -> SigningKey:
        """Return the cluster credential as a key. SECURITY: signs every request to the server."""
        return SigningKey.from_text(self.credential)


@dataclass(frozen=True)
class _ShardKeys:
    """The keys every ``[[shards]]`` table has; the rest belong to its backend."""

    name: str
    read: bool = True
    write: bool = True
    backend: str = "local"

    def __post_init__(self) -> None:
        try:
            check_name(self.name, "shard")
        except CofferError as exc:
            raise ValueError(exc.message) from exc
        if not (self.read or self.write):
            raise ValueError(f"shard {self.name!r} is neither readable nor writable: set read or write to true")


@dataclass(frozen=True)
class ShardSettings:
    name: str
    read: bool
    write: bool
    backend: str
    options: Any
    """The backend's own settings, an instance of its ``Options`` dataclass."""
    cache: CacheOptions | None = None
    """The local cache in front of a cloud backend, if the table sets ``cache_dir``."""


@dataclass(frozen=True)
class FileserverSettings:
    """How this fileserver runs: where it listens, keeps its data, and how hard it works."""

    bind: str = "127.0.0.1:8101"
    public_url: str = ""
    """The address clients use; default ``http://<bind>``."""
    data_dir: Path = Path("var/fileserver")
    heartbeat_interval: float = 10.0
    workers: int = 2
    threads: int = 32
    """Threads per worker: a chunk PUT holds one through its fsync, so more threads than cores keep the disk
    and the cores busy. With 400 uploads at once on 2 cores, 32 finished them in 43-47 s against 60-64 s
    with 8 (docs/performance.md, *400 users at the same moment*); each costs memory only while it moves a chunk."""
    max_chunk_size: int = wire.MAX_CHUNK_SIZE
    scrub_bytes_per_second: int = 20_000_000
    scrub_interval: float = 3600.0
    scrub_delay: float = 60.0
    """Seconds after a first start (no pass recorded yet) before the first scrub pass."""
    reconcile_interval: float = 6 * 3600.0
    """Seconds between orphan reconciliations (chunks of files the server no longer knows); 0 disables them."""
    reconcile_delay: float = 300.0
    """Seconds after start before the first reconciliation, so a restart storm does not list every bucket at once."""
    max_transfers: int | None = None
    """Chunk transfers (PUT, GET) at once, all workers together; more get 429 ``fileserver_busy``.
    Unset: workers × (threads − 1), so each worker keeps a thread to answer at once; 0: no cap."""
    body_idle_timeout: float = wire.DEFAULT_BODY_IDLE_TIMEOUT
    """Seconds a chunk upload may send nothing before it is answered 408, its connection closed, nothing stored."""
    min_free_bytes: int = wire.MAX_CHUNK_SIZE
    """Free bytes a local shard's disk keeps: below them the shard counts as full, its heartbeats announce it not
    writable and every chunk upload is refused with 507 ``storage_full``, until space is freed. Default: one chunk
    of the largest size, which could no longer be sure to fit."""
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    """Seconds a connection may take to send a whole request head before it is answered 408 and closed."""
    connections_per_address: int = DEFAULT_CONNECTIONS_PER_ADDRESS
    """Connections one client address may hold open in one worker; 0: no cap (behind a load balancer)."""
    web_origins: str = ""
    """Comma-separated origins of the web page (the server's address, e.g. https://coffer.example.com) whose
    browsers may send and fetch chunks here: answered with CORS headers, preflight included. Empty: no CORS."""
    log_level: str = "info"
    metrics_bind: str = ""
    """Where the agent serves Prometheus metrics (``127.0.0.1:9101``); empty: no metrics listener."""

    def __post_init__(self) -> None:
        parse_bind(self.bind)
        check_bind(self.metrics_bind)
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ValueError(f"'public_url' must be an http:// or https:// address, got {self.public_url!r}")
        _positive(heartbeat_interval=self.heartbeat_interval, workers=self.workers, threads=self.threads)
        _positive(max_chunk_size=self.max_chunk_size, scrub_interval=self.scrub_interval)
        if self.max_chunk_size > wire.MAX_CHUNK_SIZE:
            raise ValueError(f"'max_chunk_size' cannot exceed the protocol's limit of {wire.MAX_CHUNK_SIZE} bytes")
        if self.scrub_bytes_per_second < 0:
            raise ValueError("'scrub_bytes_per_second' must be 0 (no scrub) or more")
        if not (math.isfinite(self.reconcile_interval) and self.reconcile_interval >= 0):
            raise ValueError("'reconcile_interval' must be 0 (no reconciliation) or a finite number of seconds")
        for name in ("reconcile_delay", "scrub_delay"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"'{name}' must be 0 or a finite number of seconds")
        if self.max_transfers is not None and self.max_transfers < 0:
            raise ValueError("'max_transfers' must be 0 (no cap) or more; leave it unset for workers × (threads − 1)")
        if self.min_free_bytes < 0:
            raise ValueError("'min_free_bytes' must be 0 (full only when nothing fits) or more")
        if not 0 < self.body_idle_timeout <= 3600:
            raise ValueError("'body_idle_timeout' must be more than 0 and at most 3600 seconds")
        self.edge_limits()
        try:
            self.cors_origins()
        except ValueError as exc:
            raise ValueError(f"'web_origins': {exc}") from exc
        if self.log_level.lower() not in LOG_LEVELS:
            raise ValueError(f"'log_level' must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")

    def edge_limits(self) -> EdgeLimits:
        """Return the limits the worker holds connections to before a request reaches the app."""
        return EdgeLimits(self.header_timeout, self.connections_per_address)

    def cors_origins(self) -> tuple[str, ...]:
        """Return the web page origins this fileserver answers CORS for (none: no CORS headers at all)."""
        return parse_origins(self.web_origins)

    @property
    def transfer_cap(self) -> int:
        """Return the cap on concurrent transfers in force (0: none)."""
        if self.max_transfers is not None:
            return self.max_transfers
        return max(1, self.workers * (self.threads - 1))


@dataclass(frozen=True)
class Settings:
    """Everything a fileserver needs to start, checked."""

    server: ServerSettings
    cluster: ClusterSettings
    shards: tuple[ShardSettings, ...]
    fileserver: FileserverSettings
    source: str = "settings"

    @property
    def data_dir(self) -> Path:
        return self.fileserver.data_dir

    @property
    def public_url(self) -> str:
        return self.fileserver.public_url


def parse_bind(bind: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` for IPv6) into its parts, or raise ValueError."""
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"'bind' must be host:port with a port of 1-65535, got {bind!r}")
    return host.strip("[]"), int(port)


def _positive(**values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"'{name}' must be more than 0, got {value!r}")


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check the config file at *path*; raise :class:`SettingsError` saying what is wrong."""
    return settings_from_table(read_toml(path), source=str(path), environ=environ)


def settings_from_table(table: Mapping[str, Any], *, source: str, environ: Mapping[str, str] | None = None) -> Settings:
    """Check a parsed config (a TOML document as a dict) and the environment; return the settings."""
    env = os.environ if environ is None else environ
    unknown = sorted(set(table) - set(TABLES))
    if unknown:
        raise SettingsError(f"{source}: unknown table(s) {', '.join(unknown)}; known: {', '.join(TABLES)}")
    server = _section(ServerSettings, table, "server", "COFFER_FS_SERVER_", source, env)
    cluster = _section(ClusterSettings, table, "cluster", "COFFER_FS_CLUSTER_", source, env)
    fileserver = _fileserver(_section(FileserverSettings, table, "fileserver", ENV_PREFIX, source, env), source)
    return Settings(
        server=server,
        cluster=cluster,
        shards=_shards(table.get("shards"), source),
        fileserver=fileserver,
        source=source,
    )


def _section(
    cls: type[T], document: Mapping[str, Any], name: str, prefix: str, source: str, env: Mapping[str, str]
) -> T:
    table = document.get(name, {})
    where = f"{source} [{name}]"
    if not isinstance(table, dict):
        raise SettingsError(f"{where} must be a table")
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in table and prefix + f.name.upper() not in env:
            raise SettingsError(f"{where}: '{f.name}' is required: {EXPORT_HINT}")
    return load(cls, table, env_prefix=prefix, source=where, environ=env)


def _fileserver(fs: FileserverSettings, source: str) -> FileserverSettings:
    """Make ``data_dir`` absolute and fill in ``public_url`` from ``bind`` if it was not given."""
    public_url = fs.public_url
    if not public_url:
        host, port = parse_bind(fs.bind)
        if host in ("0.0.0.0", "::", "*"):
            raise SettingsError(
                f"{source} [fileserver]: bind {fs.bind!r} listens on every interface, so the address clients "
                "should use cannot be guessed: set public_url (or COFFER_FS_PUBLIC_URL)"
            )
        public_url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    return dataclasses.replace(fs, public_url=public_url.rstrip("/"), data_dir=fs.data_dir.expanduser().absolute())


def _shards(value: object, source: str) -> tuple[ShardSettings, ...]:
    if not isinstance(value, list) or not value:
        raise SettingsError(f"{source}: no [[shards]]: a fileserver serves at least one shard; {EXPORT_HINT}")
    shards: list[ShardSettings] = []
    for number, item in enumerate(value, 1):
        where = f"{source} [[shards]] #{number}"
        if not isinstance(item, dict):
            raise SettingsError(f"{where} must be a table")
        common_names = {f.name for f in dataclasses.fields(_ShardKeys)}
        if "name" not in item:
            raise SettingsError(f"{where}: 'name' is required")
        keys = load(
            _ShardKeys, {k: v for k, v in item.items() if k in common_names}, env_prefix="", source=where, environ={}
        )
        where = f"{source} [[shards]] {keys.name!r}"
        cache = _cache(keys.backend, {k: v for k, v in item.items() if k in CACHE_KEYS}, where)
        try:
            options = storage.parse_options(
                keys.backend,
                {k: v for k, v in item.items() if k not in common_names and k not in CACHE_KEYS},
                source=where,
            )
        except CofferError as exc:
            raise SettingsError(f"{where}: {exc.message}") from exc
        shards.append(ShardSettings(keys.name, keys.read, keys.write, keys.backend, options, cache))
    _no_duplicates([s.name for s in shards], f"{source}: shard(s) {{}} are listed twice")
    _no_duplicates(
        [s.cache.cache_dir for s in shards if s.cache], f"{source}: cache_dir {{}} is used by more than one shard"
    )
    # SECURITY: a shard's reconciliation deletes what the server does not know in that shard, so two shards
    # sharing one directory would delete each other's chunks as orphans.
    _no_duplicates(
        [os.path.normpath(s.options.path or f"chunks/{s.name}") for s in shards if s.backend == "local"],
        f"{source}: path {{}} is used by more than one local shard: give each shard its own directory",
    )
    return tuple(shards)


CACHE_KEYS = frozenset(f.name for f in dataclasses.fields(CacheOptions))


def _cache(backend: str, table: dict[str, Any], where: str) -> CacheOptions | None:
    """Check a shard's cache keys, kept apart so no backend's ``Options`` has to know about caching."""
    if not table:
        return None
    if backend == "local":
        raise SettingsError(f"{where}: a cache only helps in front of a cloud backend; remove {', '.join(table)}")
    if not table.get("cache_dir"):
        raise SettingsError(f"{where}: {', '.join(sorted(table))} need 'cache_dir' (where the local cache lives)")
    return load(CacheOptions, table, env_prefix="", source=where, environ={})


def _no_duplicates(values: list[str], message: str) -> None:
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise SettingsError(message.format(", ".join(duplicates)))
