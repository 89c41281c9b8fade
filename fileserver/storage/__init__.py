"""Where chunks are kept: one interface (:class:`Backend`), backends chosen by name from a registry."""

from .base import BLOCK_SIZE, Backend, ChunkStat, ChunkStream, LocalFile, Readable, VerifyingReader, filler
from .registry import backend_class, create_backend, known_kinds, parse_options

__all__ = [
    "BLOCK_SIZE",
    "Backend",
    "ChunkStat",
    "ChunkStream",
    "LocalFile",
    "Readable",
    "VerifyingReader",
    "filler",
    "backend_class",
    "create_backend",
    "known_kinds",
    "parse_options",
]
