"""The app on a free local port, and a real headless Chromium (Debian's package) driven by Playwright."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rig.app.browser import CHROMIUM, CHROMIUM_FLAGS


def _need_browser() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip("needs a browser: apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("needs Playwright for Python: pip install playwright (it drives the system chromium)")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread(single_thread):
    """Batch-1 work on one thread, as the app runs it (two threads crawl on a shared machine)."""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """A running app (default DCGAN rig bundle) on a free port; closed after the module."""
    _need_browser()
    from rig.app import free_port, start

    running = start(port=free_port(), download_dir=tmp_path_factory.mktemp("downloads"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """A fresh Chromium profile (user-data-dir) with downloads allowed."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, accept_downloads=True, viewport={"width": 1400, "height": 1000})
        yield ctx
        ctx.close()


@pytest.fixture
def page(app, browser_context):
    """The app's page, loaded, with every request's URL recorded in page.requested."""
    pg = browser_context.new_page()
    pg.requested = []
    pg.on("request", lambda req: pg.requested.append(req.url))
    pg.goto(app.url)
    pg.wait_for_selector("#face img", timeout=120_000)
    yield pg
    pg.close()
