"""``coffer agent``: run, start, stop and ask after the agent that runs transfers without the interpreter's start."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time

from ..agent import door
from ..errors import ConnectionFailed, UsageError
from .common import add_json_flag, print_json

WARM = (
    "coffer.client.cli.main",
    "coffer.client.upload",
    "coffer.client.download",
    "coffer.client.link_download",
    "coffer.client.sharing",
    "httpcore",
    "certifi",
    "encodings.idna",
    "tqdm",
)
"""What a transfer imports, loaded once by the agent (:func:`warm`); a test in ``tests/integration/test_agent.py`` pins
that it is all."""
START_WAIT = 15.0
COMMANDS = {"agent": "keep the client loaded between commands, so small transfers do not wait for it to start"}
"""Each command :func:`register` adds → its help line, all that is built of it when another command runs."""


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    agent = commands.add_parser(
        "agent",
        help=COMMANDS["agent"],
        description=(
            "An agent imports the client once and runs each `coffer upload` and `coffer download` typed "
            "afterwards in a fork of itself: for a file of tens of MB that halves the command's time. It "
            "serves the config directory it was started with; set COFFER_AGENT=off to run a command "
            "without it. It never reads your session or keys: each command does, as it would alone."
        ),
    )
    sub = agent.add_subparsers(dest="agent_command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="run the agent in the foreground until Ctrl-C or `coffer agent stop`")
    run.set_defaults(func=do_run)
    start = sub.add_parser("start", help="start the agent in the background; its log is agent.log beside its socket")
    start.set_defaults(func=do_start)
    stop = sub.add_parser("stop", help="stop the agent once the commands it runs have ended")
    stop.set_defaults(func=do_stop)
    status = sub.add_parser("status", help="say whether an agent runs, and what it has done")
    add_json_flag(status)
    status.set_defaults(func=do_status)


def do_run(args: argparse.Namespace) -> int:
    from ..agent.serve import Agent

    _linux_only()
    warm()
    from .main import prepared

    _log_to_stderr()
    Agent(door.socket_path(), prepared(door.AGENT_COMMANDS)).serve()
    return 0


def warm() -> None:
    """Do once, before the agent forks, what every transfer would do first: import ``WARM``, make the HTTP context."""
    for module in WARM:
        importlib.import_module(module)
    from coffer.transfer.connections import plain_context

    plain_context()


def do_start(args: argparse.Namespace) -> int:
    _linux_only()
    path = door.socket_path()
    if _ask(path, b"status") is not None:
        raise UsageError(f"an agent already runs at {path}: `coffer agent status` shows it")
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    log_path = os.path.join(os.path.dirname(path), "agent.log")
    with open(log_path, "ab") as log, open(os.devnull, "rb") as nothing:
        agent = subprocess.Popen(
            [sys.executable, "-m", "coffer", "agent", "run"],
            stdin=nothing,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=os.environ | {"COFFER_AGENT": "off"},
        )
    deadline = time.monotonic() + START_WAIT
    while (facts := _ask(path, b"status")) is None:
        if agent.poll() is not None or time.monotonic() > deadline:
            raise UsageError(f"the agent did not start: its log, {log_path}, says why")
        time.sleep(0.05)
    print(f"agent started (pid {facts['pid']}); transfers from this config directory now go through {path}")
    return 0


def do_stop(args: argparse.Namespace) -> int:
    path = door.socket_path()
    answer = _ask(path, b"stop")
    if answer is None:
        raise ConnectionFailed(f"no agent runs at {path}")
    running = int(answer.get("running", "0"))
    if running:
        print(f"agent stopping: it ends once its {running} running command(s) have")
        return 0
    deadline = time.monotonic() + START_WAIT
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    print("agent stopped")
    return 0


def do_status(args: argparse.Namespace) -> int:
    path = door.socket_path()
    facts = _ask(path, b"status")
    if facts is None:
        if args.json:
            print_json({"up": False, "socket": path})
        else:
            print(f"no agent runs at {path}: `coffer agent start` starts one")
        return 3
    if args.json:
        print_json({"up": True, "socket": path, **{k: _number(v) for k, v in facts.items()}})
        return 0
    print(f"agent       pid {facts['pid']}, coffer {facts['version']}, up {facts['up_seconds']} s")
    print(f"socket      {path}")
    print(f"commands    {facts['served']} served, {facts['running']} running")
    return 0


def _ask(path: str, kind: bytes) -> dict[str, str] | None:
    """Send *kind* (``status`` or ``stop``) to the agent at *path*; return its answer's facts, None if none answers."""
    import socket

    from ..agent.wire import Frames, frame

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as agent:
        agent.settimeout(5.0)
        try:
            agent.connect(path)
            agent.sendall(frame(kind))
            frames, answer = Frames(), None
            while answer is None and (data := agent.recv(4096)):
                answer = next(iter(frames.feed(data)), None)
        except OSError:
            return None
    if answer is None:
        return None
    return dict(field.decode().partition("=")[::2] for field in answer[1:])


def _number(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _log_to_stderr() -> None:
    """Send the agent's own lines to stderr; the root logger stays as a command's, since its forks inherit it."""
    import logging

    from coffer.protocol.logs import KeyValueFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    agent_log = logging.getLogger("coffer.agent")
    agent_log.addHandler(handler)
    agent_log.setLevel(logging.INFO)
    agent_log.propagate = False


def _linux_only() -> None:
    if not sys.platform.startswith("linux"):
        raise UsageError("the agent runs on Linux only (it checks its callers' credentials the Linux way)")
