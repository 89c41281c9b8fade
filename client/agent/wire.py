"""What the ``coffer`` command and its agent say over the agent's socket.

A message is one frame: four bytes of length, big-endian, then its fields
separated by NUL bytes, the first naming the message. NUL cannot occur in an
argument, a path or an environment variable, so no field needs escaping.

The command sends ``run`` (with its three standard streams attached to the
frame as file descriptors), then ``signal`` for each signal it is sent; or
``status`` or ``stop``. The agent answers ``run`` with ``started`` and the
process's id once it runs, then ``exit`` or ``killed`` once it has reaped it; or
``refused`` with the reason if it will not run it. Then it closes the connection.
A command that ends by itself sends ``exit`` first, before its process is torn
down; the caller takes the first ``exit`` or ``killed`` it reads.

Pure: no sockets. It imports nothing, because the door loads it before the
interpreter has loaded anything else, on every ``coffer`` command.
"""

from __future__ import annotations

WIRE_VERSION = b"1"
MAX_FRAME = 1 << 20
"""The largest frame either side accepts: an environment of 1 MiB is far beyond a real shell's."""
LENGTH_BYTES = 4


def command_word(argv: list[str]) -> str:
    """Return the command *argv* runs: its first word that is not an option (``coffer`` takes none with a value)."""
    return next((word for word in argv if not word.startswith("-")), "")


class WireError(Exception):
    """A frame that breaks the rules above: the other side is not a ``coffer`` of this wire version."""


class RunRequest:
    """A command to run as if started where the caller stands: its words, directory, umask and environment."""

    __slots__ = ("version", "argv", "cwd", "umask", "env")

    def __init__(self, version: str, argv: list[str], cwd: str, umask: int, env: dict[bytes, bytes]) -> None:
        self.version, self.argv, self.cwd, self.umask, self.env = version, argv, cwd, umask, env


def frame(*fields: bytes) -> bytes:
    """Return *fields* as one frame; raise WireError when it would exceed MAX_FRAME."""
    body = b"\0".join(fields)
    if len(body) > MAX_FRAME:
        raise WireError(f"a message of {len(body)} bytes is larger than the agent takes ({MAX_FRAME})")
    return len(body).to_bytes(LENGTH_BYTES, "big") + body


def run_frame(request: RunRequest) -> bytes:
    words = [_raw(w) for w in request.argv]
    env = [key + b"=" + value for key, value in request.env.items()]
    head = [b"run", WIRE_VERSION, request.version.encode(), _raw(request.cwd)]
    return frame(*head, b"%o" % request.umask, b"%d" % len(words), *words, *env)


def parse_run(fields: list[bytes]) -> RunRequest:
    """Return the request of a ``run`` frame's *fields*; raise WireError for anything else."""
    if len(fields) < 6 or fields[0] != b"run":
        raise WireError("not a run request")
    if fields[1] != WIRE_VERSION:
        raise WireError(f"wire version {fields[1]!r}, this agent speaks {WIRE_VERSION!r}")
    try:
        umask, count = int(fields[4], 8), int(fields[5])
    except ValueError as exc:
        raise WireError("a run request's umask or argument count is not a number") from exc
    if not 0 <= umask <= 0o777 or not 0 <= count <= len(fields) - 6:
        raise WireError("a run request's umask or argument count is out of range")
    words, pairs = fields[6 : 6 + count], fields[6 + count :]
    env: dict[bytes, bytes] = {}
    for pair in pairs:
        key, equals, value = pair.partition(b"=")
        if not key or not equals:
            raise WireError("a run request's environment holds an entry without a name")
        env[key] = value
    return RunRequest(fields[2].decode("ascii", "replace"), [_text(w) for w in words], _text(fields[3]), umask, env)


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def number_frame(kind: bytes, number: int) -> bytes:
    return frame(kind, b"%d" % number)


def parse_number(fields: list[bytes], kind: bytes) -> int:
    """Return the number of a two-field frame of *kind* (``exit``, ``killed``, ``signal``)."""
    if len(fields) != 2 or fields[0] != kind:
        raise WireError(f"expected a {kind.decode()} message")
    try:
        return int(fields[1])
    except ValueError as exc:
        raise WireError(f"a {kind.decode()} message without a number") from exc


class Frames:
    """Split a byte stream into frames as it arrives."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Add *data*; return the fields of every frame now complete. Raise WireError for an oversized frame."""
        self._buffer += data
        done: list[list[bytes]] = []
        while len(self._buffer) >= LENGTH_BYTES:
            size = int.from_bytes(self._buffer[:LENGTH_BYTES], "big")
            if size > MAX_FRAME:
                raise WireError(f"a frame of {size} bytes is larger than the agent takes ({MAX_FRAME})")
            end = LENGTH_BYTES + size
            if len(self._buffer) < end:
                break
            done.append(bytes(self._buffer[LENGTH_BYTES:end]).split(b"\0"))
            del self._buffer[:end]
        return done

    @property
    def pending(self) -> int:
        """Return how many bytes of an unfinished frame are held."""
        return len(self._buffer)
