"""Fixtures shared by the app's and the live page's browser tests: the running app and the browser check."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def need_browser() -> None:
    """Skip unless a Chromium and Playwright for Python are installed."""
    from rig.app.browser import CHROMIUM

    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip("needs a browser: apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("needs Playwright for Python: pip install playwright (it drives the system chromium)")


@pytest.fixture(scope="module")
def app(tmp_path_factory, single_thread):
    """A running app (default DCGAN rig bundle, one torch thread) on a free port; closed after the module."""
    need_browser()
    from rig.app import free_port, start

    running = start(port=free_port(), download_dir=tmp_path_factory.mktemp("downloads"))
    yield running
    running.close()
