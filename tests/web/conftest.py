"""Fixtures of the web page's tests: one build and one headless chromium per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coffer.client.coffer import Coffer
from tests.integration.network import Network, start_network

from .app_session import PASSWORD, new_user, saving_context
from .browser import CHROMIUM_ARGS, build, chromium_path, unavailable


@pytest.fixture(scope="session")
def web_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page, built with its test pages into a directory of its own."""
    return build(tmp_path_factory.mktemp("web") / "dist")


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """Headless Debian chromium, driven by Playwright, for the web tests only.

    Playwright's sync API marks an asyncio loop as running in the main thread for as long
    as it is started: held for the session, it broke every later test of the same worker
    that runs a loop of its own (the event publisher's). Scoped to this package, it stops
    whenever a worker moves on to another package's file.
    """
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


@pytest.fixture(scope="session")
def web_network(tmp_path_factory: pytest.TempPathFactory, web_build: Path) -> Iterator[Network]:
    """A server serving the built page, and two fileservers that answer CORS for the page's origin."""
    net = start_network(tmp_path_factory.mktemp("net-web"), 2, server_extra={"COFFER_WEB_DIR": str(web_build)})
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture
def owner(web_network: Network, tmp_path: Path) -> Iterator[Coffer]:
    """A new user's client session; a module whose owner differs defines its own."""
    coffer = Coffer.login(web_network.url, new_user(web_network), PASSWORD, config_dir=tmp_path / "owner")
    try:
        yield coffer
    finally:
        coffer.close()


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    """A browser context whose downloads are saved (no save picker); a module needing another defines its own."""
    context = saving_context(chromium)
    try:
        yield context
    finally:
        context.close()
