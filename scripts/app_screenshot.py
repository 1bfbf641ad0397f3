"""Screenshot of `facerig app` in headless Chromium for the README: python scripts/app_screenshot.py docs/img/app.png"""
from __future__ import annotations

import sys
from pathlib import Path


def main(out: str = "docs/img/app.png") -> int:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from rig.app import free_port, start
    from rig.app.browser import launch_chromium, open_app_page

    running = start(port=free_port())
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = open_app_page(browser, running.url, viewport=(1280, 1150))
            for name, presses in (("yaw", 30), ("mouthSmileLeft", 40), ("mouthSmileRight", 40)):
                old = page.get_attribute("#face img", "src")
                handle = page.locator(f"#s-{name} input[type=range]")
                handle.focus()
                for _ in range(presses):
                    handle.press("ArrowRight")
                page.wait_for_function("o => document.querySelector('#face img').src !== o", arg=old,
                                       timeout=120_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=out, clip={"x": 0, "y": 0, "width": 1280, "height": 1150})
            browser.close()
    finally:
        running.close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
