"""The web page beside the CLI: one network, one user, the same files up and down through both.

Headless Debian chromium drives the app page as a person would: the file chosen through the file
input, the download saved through the page's Service Worker stream (no File System Access API in a
headless context). The ``coffer`` CLI moves the same file on the same network in the same round, so
the page's figures come with their ratio to the CLI's. Each round moves each file four ways, the
order turned round every other round: with the CLI; through the page in chromium driven over its
DevTools pipe with no network agent (:mod:`bench.bare_browser`), as a person's browser runs it;
through the page under Python Playwright; and through the browser alone, the same chromium moving
the same bytes with no Coffer code (:mod:`bench.browser_ceiling`), the page's own ceiling. Every
page transfer samples the page's JS heap (DevTools ``Runtime.getHeapUsage``) and the browser's
whole memory (PSS of its processes) every quarter second; the copies are checked by SHA-256.

The issue's targets are judged on the runs without the network agent: Playwright enables the
DevTools network domain on every page, and that agent copies and keeps request and response bodies
for its own records, which costs the page about a third of its throughput and keeps chunks alive in
the browser. The Playwright figures stay beside them, as a lower bound.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .browser_ceiling import BrowserCeiling
from .coffer_net import CofferNet, coffer_command
from .datafiles import label, make_file, sha256_of
from .procs import run_measured
from .stats import mb_per_s, ratio, summary

HEAP_TARGET_MIB = 256
RATIO_TARGET = 0.5


def tools_missing() -> list[str]:
    """Name what the part needs and this machine lacks (chromium, Node.js, Playwright)."""
    missing = [] if shutil.which("node") else ["node"]
    if not Path("/usr/bin/chromium").exists():
        missing.append("chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright")
    return missing


@dataclass
class _Movers:
    """The CLI's session and the signed-in page, on one network: each moves a file up and back down."""

    work: Path
    env: dict[str, str]
    watch: Any
    chooser: Any
    url: str
    user: str
    password: str
    executable: str
    browser_limit: BrowserCeiling

    def cli(self, source: Path, digest: str) -> tuple[Any, Any]:
        named = source.with_name(f"cli-{source.name}")  # one name per file in the page's list
        named.hardlink_to(source)
        up = run_measured(coffer_command("upload", "--quiet", str(named)), env=self.env)
        named.unlink()
        copy = self.work / "cli-copy.bin"
        down = run_measured(coffer_command("download", "--quiet", up.stdout.split()[-1], "-o", str(copy)), env=self.env)
        if sha256_of(copy) != digest:
            raise RuntimeError("the CLI's copy differs from the file")
        copy.unlink()
        return up, down

    def page(self, source: Path, digest: str) -> tuple[Any, Any]:
        from tests.web.heap import download, upload

        up = upload(self.watch, lambda: self.chooser.set_input_files(str(source)), source.name)
        copy = self.work / "page-copy.bin"
        down = download(self.watch, source.name, copy)
        if sha256_of(copy) != digest:
            raise RuntimeError("the page's copy differs from the file")
        copy.unlink()
        return up, down

    def bare(self, source: Path, digest: str) -> tuple[Any, Any]:
        """Move *source* up and down through the page in a chromium with no DevTools network agent."""
        from tests.web.heap import Measured

        from .bare_browser import transfer

        named = source.with_name(f"bare-{source.name}")  # one name per file in the page's list
        named.hardlink_to(source)
        try:
            got = transfer(self.executable, self.work / "bare", self.url, self.user, self.password, named)
        finally:
            named.unlink()
        saved = self.work / "bare" / "bare-downloads" / named.name
        if sha256_of(saved) != digest:
            raise RuntimeError("the page's copy differs from the file (no DevTools network agent)")
        saved.unlink()
        up, down = (
            Measured(got[f"{d}_s"], int(got[f"{d}_heap_peak"]), int(got[f"{d}_growth"]), got[f"{d}_cpu"])
            for d in ("up", "down")
        )
        return up, down

    def ceiling(self, source: Path, digest: str) -> tuple[Any, Any, Any]:
        """Move *source*'s bytes up, to disk and into memory with no Coffer code (:mod:`bench.browser_ceiling`)."""
        limit = self.browser_limit
        return limit.upload(source), limit.download(source), limit.fetch_only(source)


SIDES = ("cli", "bare", "page", "ceiling")
"""Each round's movers: the CLI; the page as a person's browser runs it; the page under Playwright; the browser
alone (no Coffer code)."""


def run(work: Path, sizes: list[int], rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Move each size up and down *rounds* times with the CLI and through the page; return the figures."""
    missing = tools_missing()
    if missing:
        raise RuntimeError(f"the web part needs {', '.join(missing)}: `make test-tools web`")
    from playwright.sync_api import sync_playwright

    from tests.web.app_session import PASSWORD, app_page
    from tests.web.browser import CHROMIUM_ARGS, build, chromium_path
    from tests.web.heap import MIB, HeapWatch

    work.mkdir(parents=True, exist_ok=True)
    net = CofferNet.start(work / "net", "sqlite", web_dir=build(work / "dist"))
    runs: dict[str, dict[str, list[Any]]] = {}
    browser_limit: BrowserCeiling | None = None
    try:
        browser_limit = BrowserCeiling.start(work / "browser-limit", chromium_path())
        net.create_user("bench", PASSWORD)
        env = net.login_cli("bench", PASSWORD, work / "cli")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            context, page = app_page(browser, net.url, "bench")
            chooser = page.get_by_label("Choose files to upload")
            watch = HeapWatch(context, page)
            movers = _Movers(work, env, watch, chooser, net.url, "bench", PASSWORD, chromium_path(), browser_limit)
            for r in range(rounds):
                for size in sizes:
                    got = runs.setdefault(label(size), {side: [] for side in SIDES})
                    source = work / f"web-{label(size).replace(' ', '')}-{r}.bin"
                    digest = make_file(source, size)
                    for side in SIDES if r % 2 == 0 else SIDES[::-1]:
                        got[side].append(getattr(movers, side)(source, digest))
                    log(f"web: {label(size)} round {r + 1} done")
                    source.unlink()
            browser.close()
    finally:
        if browser_limit is not None:
            browser_limit.stop()
        net.stop()
    figures = {k: _figures(v, k, sizes, MIB) for k, v in runs.items()}
    return {"rounds": rounds, "sizes": sizes, "figures": figures}


def _figures(got: dict[str, list[Any]], size_label: str, sizes: list[int], mib: int) -> dict[str, Any]:
    """Medians per mover and direction; the ratios to the CLI and to the browser alone; the heap's peak."""
    size = next(s for s in sizes if label(s) == size_label)
    megabytes = size / 1e6
    rates: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for side in ("cli", "bare", "page", "ceiling"):
        for d, direction in enumerate(("up", "down")):
            rates[f"{side} {direction}"] = [mb_per_s(size, moved[d].seconds) for moved in got[side]]
            if side != "page":  # Playwright's runs take no CPU figure
                cpu[f"{side} {direction}"] = [1000 * moved[d].cpu_seconds / megabytes for moved in got[side]]
    rates["ceiling network"] = [mb_per_s(size, moved[2].seconds) for moved in got["ceiling"]]
    out: dict[str, Any] = {
        "mb_s": {k: summary(v) for k, v in rates.items()},
        "cpu_ms_per_mb": {k: summary(v) for k, v in cpu.items()},
    }
    for d, direction in enumerate(("up", "down")):
        cli = statistics.median(rates[f"cli {direction}"])
        alone = statistics.median(rates[f"ceiling {direction}"])
        bare = [pair[d] for pair in got["bare"]]
        playwright = [pair[d] for pair in got["page"]]
        out[direction] = {
            "ratio_to_cli": ratio(statistics.median(rates[f"bare {direction}"]), cli),
            "ratio_to_cli_playwright": ratio(statistics.median(rates[f"page {direction}"]), cli),
            "browser_alone_to_cli": ratio(alone, cli),
            "ratio_to_browser_alone": ratio(statistics.median(rates[f"bare {direction}"]), alone),
            "heap_peak_mib": round(max(m.heap_peak for m in bare + playwright) / mib, 1),
            "browser_growth_mib": round(max(m.browser_growth for m in bare) / mib, 1),
            "browser_growth_playwright_mib": round(max(m.browser_growth for m in playwright) / mib, 1),
        }
    return out


def rows(w: dict[str, Any]) -> list[str]:
    """The web part's tables for docs/performance.md."""
    out = [
        f"MB/s, median (min–max) of {w['rounds']} interleaved rounds; the page in headless chromium with no "
        "DevTools network agent (what a person's browser does; the targets are judged on it).",
        "",
        "| file | CLI up | page up | page / CLI | CLI down | page down | page / CLI | JS heap peak up / down (MiB) "
        "| browser memory growth up / down (MiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cells = []
    for size_label, f in w["figures"].items():
        cell = {k: f"{v['median']:.0f} ({v['min']:.0f}–{v['max']:.0f})" for k, v in f["mb_s"].items()}
        up, down = f["up"], f["down"]
        cells.append((size_label, cell, f))
        out.append(
            f"| {size_label} | {cell['cli up']} | {cell['bare up']} | {up['ratio_to_cli']:.2f} "
            f"| {cell['cli down']} | {cell['bare down']} | {down['ratio_to_cli']:.2f} "
            f"| {up['heap_peak_mib']:.0f} / {down['heap_peak_mib']:.0f} "
            f"| {up['browser_growth_mib']:.0f} / {down['browser_growth_mib']:.0f} |"
        )
    out += [
        "",
        "The browser alone, in the same rounds: the same chromium moving the same bytes with no Coffer code and no "
        "crypto, through the paths the page uses (up, 8 MiB chunks read into memory and sent as Blob bodies; down, "
        "saved through a Service Worker stream; `bench/browser_ceiling.py`). CPU is the client's: the CLI's process, "
        "or all the browser's processes.",
        "",
        "| file | way | CLI | page | browser alone | page / browser alone | browser alone / CLI "
        "| CPU ms per MB: CLI / page / browser alone |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size_label, cell, f in cells:
        c = {k: v["median"] for k, v in f["cpu_ms_per_mb"].items()}
        for way in ("up", "down"):
            x = f[way]
            alone = cell[f"ceiling {way}"]
            if way == "down":
                alone += f"; into memory only {cell['ceiling network']}"
            out.append(
                f"| {size_label} | {way} | {cell[f'cli {way}']} | {cell[f'bare {way}']} | {alone} "
                f"| {x['ratio_to_browser_alone']:.2f} | {x['browser_alone_to_cli']:.2f} "
                f"| {c[f'cli {way}']:.1f} / {c[f'bare {way}']:.1f} / {c[f'ceiling {way}']:.1f} |"
            )
    out += [
        "",
        "The same rounds through the page under Playwright (its DevTools network agent copies and keeps every body):",
        "",
        "| file | page up | page / CLI | page down | page / CLI | browser memory growth up / down (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    for size_label, cell, f in cells:
        up, down = f["up"], f["down"]
        out.append(
            f"| {size_label} | {cell['page up']} | {up['ratio_to_cli_playwright']:.2f} "
            f"| {cell['page down']} | {down['ratio_to_cli_playwright']:.2f} "
            f"| {up['browser_growth_playwright_mib']:.0f} / {down['browser_growth_playwright_mib']:.0f} |"
        )
    return out


def targets(w: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The issue's targets at the largest size: half the CLI's throughput both ways, the heap under 256 MiB.

    Beside the page's ratio stands the browser's own (no Coffer code, no crypto): a ratio the browser
    alone does not reach is one no page can.
    """
    largest = label(max(w["sizes"]))
    f = w["figures"][largest]
    found = []
    for direction in ("up", "down"):
        x = f[direction]
        found.append(
            (
                f"web page {direction}, {largest}: ≥ {RATIO_TARGET} of the CLI",
                f"{x['ratio_to_cli']:.2f} (the browser alone, no crypto: {x['browser_alone_to_cli']:.2f})",
                x["ratio_to_cli"] >= RATIO_TARGET,
            )
        )
        found.append(
            (
                f"web page {direction}, {largest}: JS heap < {HEAP_TARGET_MIB} MiB",
                f"{x['heap_peak_mib']:.0f} MiB",
                x["heap_peak_mib"] < HEAP_TARGET_MIB,
            )
        )
    return found


if __name__ == "__main__":  # pragma: no cover - a quick look: python -m bench.web SIZE_MB
    import json
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="coffer-bench-web-") as tmp:
        sized = [int(x) * 1_000_000 for x in (sys.argv[1:] or ["25"])]
        print(json.dumps(run(Path(tmp), sized, 1, lambda t: print(t, file=sys.stderr)), indent=1))
