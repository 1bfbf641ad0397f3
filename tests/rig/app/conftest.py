"""The app on a free local port (tests/rig/conftest.py), and a real headless Chromium (Debian's package) driven by Playwright."""
from __future__ import annotations

import pytest

from rig.app.browser import CHROMIUM, CHROMIUM_FLAGS
from tests.rig.conftest import need_browser as _need_browser


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread(single_thread):
    """Batch-1 work on one thread, as the app runs it (two threads crawl on a shared machine)."""


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
