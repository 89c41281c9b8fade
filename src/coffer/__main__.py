"""The installed ``coffer`` program (and ``python -m coffer``), with the interpreter's own start and exit kept short.

Most of a small transfer's time is the interpreter's: importing the client makes
tens of thousands of objects and no garbage, yet the cyclic collector runs over
them again and again while it does; and at exit it walks them all once more.
Collection is off while importing and on while the command runs (a server or
fileserver command runs for days); at exit every surviving object is frozen out of
the last collection, since the process is about to give back its memory whole.
Together some 25 ms of a 0.24 s download of 25 MB. So this module imports
nothing of Coffer until :func:`run` has turned collection off, but the agent's
door (:mod:`coffer.client.agent.door`), which imports next to nothing and hands a
transfer to an agent when one runs, skipping all of the above.

httpx imports its own command-line client (rich, click, pygments) whenever those
happen to be installed, as they are beside many other tools: 0.15 CPU-s of a
0.3 s start for modules the ``coffer`` command never calls. :func:`run` marks that
module absent first, which httpx answers with the stub it keeps for an install
without them; ``httpx.main`` is not part of what Coffer uses.
"""

from __future__ import annotations

import gc
import sys

HTTPX_COMMAND = "httpx._main"


def run() -> None:
    from coffer.client.agent.door import handed_over

    handled = handed_over(sys.argv[1:])
    if handled is not None:
        sys.exit(handled)
    sys.modules.setdefault(HTTPX_COMMAND, None)  # type: ignore[arg-type]
    gc.disable()
    try:
        from coffer.cli import main
    finally:
        gc.enable()
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
