"""Constants of the HTTP wire: header names, limits and content types."""

TICKET_SCHEME = "Ticket"
BEARER_SCHEME = "Bearer"
JSON = "application/json"
OCTETS = "application/octet-stream"

MAX_JSON_BODY = 1024 * 1024
MAX_HEADER_BYTES = 8 * 1024
MAX_METADATA_BYTES = 64 * 1024
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
MAX_CHUNK_SIZE = 64 * 1024 * 1024

DEFAULT_BODY_IDLE_TIMEOUT = 30.0
"""Seconds a request body may send nothing before its request is dropped with 408 (``body_idle_timeout``):
far above a slow but moving link's pauses, short enough that a stalled client soon frees its thread."""
