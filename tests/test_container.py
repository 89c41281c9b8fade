"""deploy/container/Containerfile copies what exists and everything the wheel needs; its settings are real.

The image is not built here (no registry is assumed); these checks catch what
breaks a build or a start after the project moves: a renamed file, a new
package under ``src/coffer`` that the image would miss, a setting renamed.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from coffer.fileserver.settings import ENV_PREFIX as FS_PREFIX
from coffer.fileserver.settings import FileserverSettings
from coffer.server.settings import ENV_PREFIX as SERVER_PREFIX
from coffer.server.settings import ServerSettings

REPO = Path(__file__).resolve().parents[1]
CONTAINERFILE = REPO / "deploy" / "container" / "Containerfile"


def instructions() -> list[tuple[str, list[str]]]:
    """Return (INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    joined = CONTAINERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), shlex.split(line.split(None, 1)[1])) for line in lines]


def copied_from_context() -> list[tuple[str, str]]:
    """Return (source, destination) of each COPY from the build context (not from an earlier stage)."""
    pairs = []
    for name, args in instructions():
        if name == "COPY" and not any(a.startswith("--from") for a in args):
            *sources, dest = args
            pairs += [(source, dest) for source in sources]
    return pairs


def test_every_path_copied_from_the_context_exists() -> None:
    missing = [source for source, _ in copied_from_context() if not (REPO / source).exists()]
    assert copied_from_context() and not missing


def test_every_package_linked_under_src_coffer_is_copied_beside_it() -> None:
    """``src/coffer/X`` are links to the top-level ``X``: a package left out would be a dangling link in the wheel."""
    linked = {p.name for p in (REPO / "src" / "coffer").iterdir() if p.is_symlink()}
    copied = {source.rstrip("/") for source, _ in copied_from_context()}
    assert linked and linked <= copied, f"not copied into the image: {sorted(linked - copied)}"


def test_the_web_page_is_built_from_the_files_its_build_reads() -> None:
    copied = {source.rstrip("/") for source, _ in copied_from_context()}
    assert {"web/package.json", "web/package-lock.json", "web/build.mjs", "web/src", "web/pages"} <= copied
    runs = " ".join(" ".join(args) for name, args in instructions() if name == "RUN")
    assert "npm ci" in runs and "node build.mjs" in runs


def test_the_roles_are_the_programs_commands_and_every_setting_is_real() -> None:
    entrypoint = next(args for name, args in instructions() if name == "ENTRYPOINT")
    assert entrypoint == ["[coffer]"], 'ENTRYPOINT ["coffer"] (as shlex reads it): the command picks the role'

    env = [args for name, args in instructions() if name == "ENV"][-1]
    names = {pair.split("=", 1)[0] for pair in env if pair.startswith("COFFER_")}
    known = {SERVER_PREFIX + n.upper() for n in ServerSettings.__dataclass_fields__} | {
        FS_PREFIX + n.upper() for n in FileserverSettings.__dataclass_fields__
    }
    assert names and names <= known, f"not settings of either program: {sorted(names - known)}"
    installs = " ".join(" ".join(args) for name, args in instructions() if name == "RUN")
    assert "[server,fileserver" in installs, "the wheel goes in with both programs' extras"
