"""Debian's Chromium, headless and offline, driven by Playwright: for the app's tests, bench and screenshot."""
from __future__ import annotations

import os

CHROMIUM = os.environ.get("FACERIG_CHROMIUM", "/usr/bin/chromium")
# no background services: this machine's network is closed, and the page must load nothing from outside
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch_chromium(playwright):
    """A headless Chromium browser (Playwright object) started from the system executable, never downloaded."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)


def open_app_page(browser, url: str, viewport: tuple[int, int] = (1400, 1000), timeout_ms: int = 120_000):
    """A new page on the running app at `url`, returned once the first face image is shown."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.goto(url)
    page.wait_for_selector("#face img", timeout=timeout_ms)
    return page
