"""Progress bars for long transfers: on a terminal only, never in a pipe or with --quiet.

tqdm draws them (rate, ETA, per file, terminal width, smoothing), which is more
than we would write well ourselves; it writes to stderr, so stdout stays for
results a script reads.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = Callable[[int, int], None]


@contextmanager
def bar(label: str, enabled: bool) -> Iterator[Progress | None]:
    """Yield an ``on_progress(done, total)`` callback that draws a bar, or None when disabled."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm  # only here: a command in a pipe or with --quiet does not pay for its import

    with tqdm(desc=label, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, leave=True) as drawn:

        def update(done: int, total: int) -> None:
            if drawn.total != total:
                drawn.total = total
            drawn.update(done - drawn.n)

        yield update
