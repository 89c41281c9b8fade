"""Fixtures of the web page's tests: one build and one headless chromium per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser import CHROMIUM_ARGS, build, chromium_path, unavailable


@pytest.fixture(scope="session")
def web_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page, built with its test pages into a directory of its own."""
    return build(tmp_path_factory.mktemp("web") / "dist")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Headless Debian chromium, driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Python playwright is not installed: pip install -e '.[dev]'")
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
