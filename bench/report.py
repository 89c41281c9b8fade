"""Turn a run's JSON into what people read: a PNG chart and the tables of docs/performance.md.

The tables go between ``<!-- bench:table -->`` and ``<!-- /bench:table -->`` in the
document; the text around them is written by hand and left alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import web
from .datafiles import label
from .transfer import CEILING

START, END = "<!-- bench:table -->", "<!-- /bench:table -->"
NAMES = {
    "nginx": "nginx + curl (ceiling)",
    "rclone": "rclone crypt",
    "coffer-sqlite": "Coffer, SQLite",
    "coffer-postgresql": "Coffer, PostgreSQL",
    "coffer-sqlite-agent": "Coffer, SQLite, through coffer agent",
    "coffer-postgresql-agent": "Coffer, PostgreSQL, through coffer agent",
}
TARGETS = {"up": 0.55, "down": 0.70}
PAST_RCLONE = 1.5
"""Issue 20: the design's average file both ways, and the large download, at 1.5 times rclone crypt or more."""
AVERAGE_FILE = 25_000_000
FLAT_MIB = 64


def _cell(c: dict[str, float]) -> str:
    return f"{c['median']:.0f} ({c['min']:.0f}–{c['max']:.0f})"


def _yes(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def transfer_table(t: dict[str, Any], cores: int) -> list[str]:
    targets = list(t["mb_s"])
    coffer = [n for n in targets if n.startswith("coffer-")]
    head = ["size", "direction", *(NAMES.get(n, n) for n in targets)]
    head += [f"{NAMES[n]} / ceiling" for n in coffer] + [f"{NAMES[n]} / rclone" for n in coffer]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for size in t["sizes"]:
        for direction in ("up", "down"):
            cells = [label(size), direction]
            cells += [_cell(t["mb_s"][n][label(size)][direction]) for n in targets]
            cells += [f"{t['ratios'][n][label(size)][direction]['vs_ceiling']:.2f}" for n in coffer]
            cells += [f"{t['ratios'][n][label(size)][direction]['vs_rclone']:.2f}" for n in coffer]
            rows.append("| " + " | ".join(cells) + " |")
    crypto = t.get("crypto_one_thread_mb_s", {})
    if crypto:
        rows += ["", "Sealing and hashing alone, one thread (MB/s): "]
        rows[-1] += "; ".join(f"{size}: up {c['up']:.0f}, down {c['down']:.0f}" for size, c in crypto.items()) + "."
    rows += hash_floor_rows(t, cores)
    return rows


HASH_PASSES = {"up": 3, "down": 1}
"""SHA-256 passes over every byte of a transfer: up, the plaintext (metadata), the chunk's name, the fileserver's
check; down, the plaintext (the whole-file check; the GCM tag authenticates each chunk)."""


def hash_floor_rows(t: dict[str, Any], cores: int) -> list[str]:
    """Return the sentence stating what SHA-256 alone costs per GB here and the share of the ceiling it leaves.

    The plaintext's SHA-256 is one sequential pass per file, so no transfer is faster than one thread hashes.
    """
    rate = t.get("sha256_mb_s")
    if not rate:
        return []
    large = label(max(t["sizes"]))
    parts = []
    for direction, passes in HASH_PASSES.items():
        seconds = passes * 1000 / rate
        cap = min(cores * 1000 / seconds, rate)
        ceiling = t["mb_s"][CEILING][large][direction]["median"]
        parts.append(
            f"{direction}, {passes} pass{'es' if passes > 1 else ''}: {seconds:.2f} CPU-s per GB, "
            f"at most {cap:.0f} MB/s on {cores} cores doing nothing else ({cap / ceiling:.2f} of the {large} ceiling)"
        )
    return [
        "",
        f"SHA-256 runs at {rate:.0f} MB/s in one thread on this machine. Hashing alone: " + "; ".join(parts) + ".",
    ]


def cpu_rows(t: dict[str, Any], cores: int) -> list[str]:
    """Return CPU seconds per GB of each target at the largest size, and the MB/s those allow on *cores*."""
    large = label(max(t["sizes"]))
    rows = [
        f"| {large}, CPU-s per GB | up: client + serving side | the most {cores} cores allow | "
        f"down: client + serving side | the most {cores} cores allow |",
        "|---|---|---|---|---|",
    ]
    for name, cells in t["mb_s"].items():
        parts = []
        for direction in ("up", "down"):
            c = cells[large][direction]
            client, server = c.get("client_cpu_s_per_gb", 0.0), c.get("server_cpu_s_per_gb", 0.0)
            total = client + server
            parts += [
                f"{client:.2f} + {server:.2f} = {total:.2f}",
                f"{cores * 1000 / total:.0f} MB/s" if total else "–",
            ]
        rows.append(f"| {NAMES.get(name, name)} | " + " | ".join(parts) + " |")
    return rows


def memory_rows(t: dict[str, Any]) -> tuple[list[str], dict[str, float]]:
    """Return the memory table (smallest vs largest size) and the growth of each measured peak."""
    small, large = label(min(t["sizes"])), label(max(t["sizes"]))
    rows = [f"| peak RSS, MiB | {small} | {large} | growth |", "|---|---|---|---|"]
    growth: dict[str, float] = {}
    for name, cells in t["mb_s"].items():
        for direction in ("up", "down"):
            for who, key in (("client", "client_peak_rss_mib"), ("fileserver", "fileserver_peak_rss_mib")):
                a, b = cells[small][direction].get(key), cells[large][direction].get(key)
                if a is None or b is None:
                    continue
                growth[f"{name} {who} {direction}"] = b - a
                rows.append(f"| {NAMES.get(name, name)}: {who}, {direction} | {a:.0f} | {b:.0f} | {b - a:+.0f} |")
    return rows, growth


def load_rows(load: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| engine | users (at once) | file | errors | aggregate MB/s | login p50 / p95 / p99 s | "
        "upload p50 / p95 / p99 s | download p50 / p95 / p99 s | "
        "chunk PUT p50 / p95 / p99 ms | chunk GET p50 / p95 / p99 ms | "
        "peak RSS MiB: server · fileserver · simulator |",
        "|" + "---|" * 11,
    ]
    for x in load:
        f, c = x["per_file"], x["per_chunk"]

        def sec(d: dict[str, float]) -> str:
            return f"{d['p50_ms'] / 1000:.1f} / {d['p95_ms'] / 1000:.1f} / {d['p99_ms'] / 1000:.1f}"

        def ms(d: dict[str, float] | None) -> str:
            return f"{d['p50_ms']:.0f} / {d['p95_ms']:.0f} / {d['p99_ms']:.0f}" if d else "–"

        server = max((p["peak_rss_mib"] for p in x["processes"] if str(p["role"]).startswith("server")), default=0)
        rows.append(
            f"| {x['engine']} | {x['users']} ({'all' if x.get('at_once') else x['concurrency']}) | {x['file']} | "
            f"{x['errors']} | "
            f"{x['aggregate_mb_s']:.0f} | {sec(f['login'])} | {sec(f['upload'])} | {sec(f['download'])} | "
            f"{ms(c.get('PUT'))} | "
            f"{ms(c.get('GET'))} | {server:.0f} · {x['fileserver_peak_rss_mib']:.0f} · "
            f"{max(x['simulator_peak_rss_mib']):.0f} |"
        )
    idle = [max(i["largest_mib"] for i in x["fileserver_idle_rss_mib"]) for x in load]
    rows += ["", f"A fileserver at rest before the load: largest process {max(idle):.0f} MiB resident."]
    for x in load:
        if x.get("phase_seconds"):
            rows.append(
                f"All at once on {x['engine']}: every upload started together and took "
                f"{x['phase_seconds']['upload']} s ({x['phase_mb_s']['upload']:.0f} MB/s), every download "
                f"{x['phase_seconds']['download']} s ({x['phase_mb_s']['download']:.0f} MB/s); "
                f"{x['in_flight'] or 'the default'} chunk(s) in flight per user, each from its own address."
            )
    return rows


def control_rows(cp: dict[str, Any]) -> list[str]:
    rows = ["| endpoint | req/s | p50 / p95 / p99 ms | errors |", "|---|---|---|---|"]
    for name in ("heartbeat", "ticket", "file_create"):
        if name in cp:
            x = cp[name]
            lat = x["latency"]
            rows.append(
                f"| {name} | {x['req_s']:.0f} | {lat['p50_ms']:.0f} / {lat['p95_ms']:.0f} / {lat['p99_ms']:.0f} | "
                f"{x['errors']} |"
            )
    rows += ["", f"{cp['threads']} threads in another process, {cp['seconds']:.0f} s per endpoint, on {cp['engine']}."]
    return rows


METRIC_NAMES = {
    "up": "upload",
    "down": "download",
    "heartbeat": "heartbeat",
    "ticket": "ticket",
    "file_create": "file create",
}


def metrics_rows(m: dict[str, Any]) -> list[str]:
    """Metrics on against off: each figure's median (min–max) on both networks, the ratio and each round's, and CPU."""
    s = m.get("scraper", {})
    period = s.get("period_s", 1.0)
    rows = [
        f"| measure | off | on (scraped every {period:g} s) | on / off | each round | CPU off / on | CPU on / off |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, x in m["measures"].items():
        name = METRIC_NAMES.get(key, key) + (f" {label(m['size'])}" if key in ("up", "down") else "")
        rounds = ", ".join(f"{r:.2f}" for r in x["round_ratios"])
        cpu = x.get("cpu")
        spent = f"{cpu['off']:.3g} / {cpu['on']:.3g} {cpu['unit']}" if cpu else "–"
        cpu_ratio = f"{cpu['ratio']:.3f}" if cpu else "–"
        cells = [
            f"{name} ({x['unit']})",
            _cell(x["off"]),
            _cell(x["on"]),
            f"{x['ratio']:.3f}",
            rounds,
            spent,
            cpu_ratio,
        ]
        rows.append("| " + " | ".join(cells) + " |")
    rows += [
        "",
        f"{m['rounds']} rounds, A B / B A interleaved, on {m['engine']}; control plane {m['threads']} threads, "
        f"{m['cp_seconds']:.0f} s per endpoint; the scraper read {s.get('targets', '?')} programs "
        f"({s.get('scraped', 'all')}) every {period:g} s, "
        f"{s.get('scrapes', '?')} times, {s.get('failures', '?')} failures, in {s.get('seconds', '?')} s of scraping "
        f"(its own CPU: {s.get('cpu_s', '?')} s). CPU: the server's and fileservers' processes during one step, "
        "and for a transfer the CLI's (up and down together), median; on / off is the median of each round's.",
    ]
    return rows


def past_rclone(name: str, cells: dict[str, Any], sizes: list[int]) -> list[tuple[str, str, bool]]:
    """Return issue 20's targets for *name*: the average file both ways and the largest download, each ≥ 1.5x rclone."""
    found: list[tuple[str, str, bool]] = []
    if AVERAGE_FILE in sizes:
        r = cells[label(AVERAGE_FILE)]
        found.append(
            (
                f"{NAMES[name]}, {label(AVERAGE_FILE)}: ≥ ×{PAST_RCLONE} rclone crypt both ways",
                f"up ×{r['up']['vs_rclone']:.2f}, down ×{r['down']['vs_rclone']:.2f}",
                min(r["up"]["vs_rclone"], r["down"]["vs_rclone"]) >= PAST_RCLONE,
            )
        )
    large = label(max(sizes))
    if max(sizes) > AVERAGE_FILE:
        down = cells[large]["down"]["vs_rclone"]
        found.append(
            (f"{NAMES[name]}, {large} down: ≥ ×{PAST_RCLONE} rclone crypt", f"×{down:.2f}", down >= PAST_RCLONE)
        )
    return found


def targets(report: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Return (target, what was measured, met) for every figure the issue sets."""
    found: list[tuple[str, str, bool]] = []
    t = report.get("transfers")
    if t:
        large = label(max(t["sizes"]))
        for name, cells in t["ratios"].items():
            r = cells[large]
            for d, want in TARGETS.items():
                found.append(
                    (
                        f"{NAMES[name]}, {large} {d}: ≥ {want:.0%} of the ceiling",
                        f"{r[d]['vs_ceiling']:.0%}",
                        r[d]["vs_ceiling"] >= want,
                    )
                )
            ahead = r["up"]["vs_rclone"] > 1 and r["down"]["vs_rclone"] > 1
            found.append(
                (
                    f"{NAMES[name]}, {large}: ahead of rclone crypt both ways",
                    f"up ×{r['up']['vs_rclone']:.2f}, down ×{r['down']['vs_rclone']:.2f}",
                    ahead,
                )
            )
            found += past_rclone(name, cells, t["sizes"])
        _, growth = memory_rows(t)
        coffer = {k: v for k, v in growth.items() if k.startswith("coffer-")}
        if coffer:
            worst = max(coffer, key=lambda k: coffer[k])
            found.append(
                (
                    f"memory flat: {large} peaks within {FLAT_MIB} MiB of {label(min(t['sizes']))}",
                    f"largest growth {coffer[worst]:+.0f} MiB ({worst})",
                    coffer[worst] <= FLAT_MIB,
                )
            )
    m = report.get("metrics")
    if m:
        for key, x in m["measures"].items():
            found.append(
                (
                    f"metrics on: {METRIC_NAMES.get(key, key)} within {1 - m['target_ratio']:.0%} of off",
                    f"on / off {x['ratio']:.3f}",
                    bool(x["met"]),
                )
            )
            if "cpu" in x:
                found.append(
                    (
                        f"metrics on: {METRIC_NAMES.get(key, key)} CPU within {1 - m['target_ratio']:.0%} of off",
                        f"on / off {x['cpu']['ratio']:.3f}",
                        bool(x["cpu"]["met"]),
                    )
                )
    if "web" in report:
        found += web.targets(report["web"])
    for x in report.get("load", []):
        found.append((f"{x['users']} users on {x['engine']}, 0 errors", f"{x['errors']} errors", x["errors"] == 0))
    return found


def tables(report: dict[str, Any]) -> str:
    """Return the generated section of docs/performance.md as Markdown."""
    meta = report["meta"]
    out = [f"Run of {meta['date']} on {meta['machine']}, code at {meta.get('revision', '?')}; `{meta['command']}`.", ""]
    if "transfers" in report:
        t = report["transfers"]
        out += [f"### One client, one file (MB/s, median (min–max) of {t['rounds']} interleaved rounds)", ""]
        out += transfer_table(t, int(meta.get("cores", 2)))
        out += ["", "### CPU: what one transfer costs the machine", ""]
        out += cpu_rows(t, int(meta.get("cores", 2)))
        out += ["", "### Memory: peak RSS of one transfer", ""]
        out += memory_rows(t)[0]
    if report.get("load"):
        out += ["", "### Many users at once", ""] + load_rows(report["load"])
    if "control_plane" in report:
        out += ["", "### Control plane", ""] + control_rows(report["control_plane"])
    if "small_files" in report:
        out += ["", "### Many small files in one upload", ""] + small_file_rows(report["small_files"])
    if "metrics" in report:
        out += ["", "### The cost of metrics", ""] + metrics_rows(report["metrics"])
    if "web" in report:
        out += ["", "### Web page beside the CLI", ""] + web.rows(report["web"])
    elif "web_skipped" in report:
        out += ["", "### Web page beside the CLI", "", f"Not measured: the part {report['web_skipped']}."]
    found = targets(report)
    if found:
        out += ["", "### Targets", "", "| target | measured | |", "|---|---|---|"]
        out += [f"| {what} | {measured} | {_yes(ok)} |" for what, measured, ok in found]
    if report.get("profile"):
        p = report["profile"]
        out += ["", f"Profile of the slowest path ({p['path']}): `{p['file']}`."]
    if report.get("failures"):
        out += ["", "Parts that failed: " + "; ".join(f"{k}: {v}" for k, v in report["failures"].items())]
    return "\n".join(out) + "\n"


def small_file_rows(s: dict[str, Any]) -> list[str]:
    """One upload of many small files: files/s unthrottled and under the default limits; where the time goes."""
    rows = [
        f"{s['files']} files of {s['size'] // 1000} KB in one `coffer upload` ({s['engine']}; "
        f"{s['requests_per_file']} server requests and one chunk PUT a file; one command alone takes "
        f"{s['one_command_s']} s).",
        "",
        "| what | files/s | seconds | rate-limit waits (s waited) |",
        "|---|---|---|---|",
    ]
    for name, label_ in (
        ("unthrottled", "upload, rate limits lifted"),
        ("default_limits", "upload, default rate limits"),
    ):
        r = s[name]
        waits = f"{r['rate_limit_waits']} ({r['seconds_waited']:.0f})"
        rows.append(f"| {label_} | {r['files_s']} | {r['seconds']} | {waits} |")
    if "download" in s:
        d = s["download"]
        rows.append(f"| download, one `coffer download ID … -o DIR` | {d['files_s']} | {d['seconds']} | – |")
    for way in ("up", "down") if "rclone" in s else ():
        r = s["rclone"][way]
        rows.append(f"| rclone crypt, `rclone copy` {way} | {r['files_s']} | {r['seconds']} | – |")
    shares = ", ".join(f"{k.replace('_', ' ')} {v:.0%}" for k, v in s["profile"]["shares"].items())
    rows += ["", f"Where the client's main thread spends an unthrottled upload (cProfile): {shares}."]
    return rows


def rewrite_docs(doc: Path, section: str) -> None:
    """Replace the generated part of *doc* with *section*; refuse if the markers are missing."""
    text = doc.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise RuntimeError(f"{doc} has no {START} … {END} markers to put the tables between")
    doc.write_text(pattern.sub(lambda _: f"{START}\n{section}{END}", text))


def chart(report: dict[str, Any], path: Path) -> None:
    """Draw the transfer medians (min–max bars) per size and direction, with the load's figures in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = report["transfers"]
    names = list(t["mb_s"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    width = 0.8 / len(names)
    for ax, direction in zip(axes, ("up", "down"), strict=True):
        for i, name in enumerate(names):
            cells = [t["mb_s"][name][label(s)][direction] for s in t["sizes"]]
            xs = [k + (i - (len(names) - 1) / 2) * width for k in range(len(t["sizes"]))]
            medians = [c["median"] for c in cells]
            spread = [[c["median"] - c["min"] for c in cells], [c["max"] - c["median"] for c in cells]]
            ax.bar(xs, medians, width, yerr=spread, capsize=3, label=NAMES.get(name, name))
        ax.set_xticks(range(len(t["sizes"])), [label(s) for s in t["sizes"]])
        ax.set_title(f"{direction}load, one client" if direction == "up" else "download, one client")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("MB/s (median, min–max)")
    axes[1].legend(loc="upper left", fontsize=8)
    meta = report["meta"]
    subtitle = f"{meta['date']} · {meta['machine']}"
    for x in report.get("load", []):
        subtitle += f" · {x['users']} users on {x['engine']}: {x['aggregate_mb_s']:.0f} MB/s, {x['errors']} errors"
    fig.suptitle(f"Coffer next to nginx + curl and rclone crypt on loopback\n{subtitle}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
