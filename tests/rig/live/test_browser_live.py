"""The Live mode in a real headless Chromium whose camera is a real clip (Chromium's fake capture device).

The page sends camera frames, the photo comes back, and its mouth opens when the clip's does: both
measured on the frames the page actually sent and got back (MediaPipe's inner lips, in inter-ocular units).
"""
from __future__ import annotations

import base64
import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.rig.conftest import need_browser

TIMEOUT = 180_000


@pytest.fixture(scope="module")
def camera_clip(real_faces, tmp_path_factory) -> Path:
    """The real clip as Y4M (what Chromium's fake camera plays, looped), 320 px, converted with imageio-ffmpeg."""
    import imageio_ffmpeg

    out = tmp_path_factory.mktemp("camera") / "xportrait.y4m"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i",
                    str(real_faces / "xportrait_driving.mp4"), "-vf", "scale=320:320", "-pix_fmt", "yuv420p",
                    str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def browser(camera_clip):
    need_browser()
    from playwright.sync_api import sync_playwright

    from rig.app.browser import CHROMIUM, CHROMIUM_FLAGS

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS + [
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera_clip}"])
        yield b
        b.close()


def _live_page(browser, app, camera: bool = True):
    ctx = browser.new_context(permissions=["camera"] if camera else [], viewport={"width": 1000, "height": 800})
    page = ctx.new_page()
    page.requested = []
    page.on("request", lambda req: page.requested.append(req.url))
    page.goto(app.url.rstrip("/") + "/facerig/camera")
    return ctx, page


def _choose(page, photo: Path) -> None:
    page.set_input_files("#live-photo", str(photo))
    page.wait_for_function("() => document.querySelector('#live-photo-state').textContent.startsWith('ready') || "
                           "document.querySelector('#live-error').textContent", timeout=TIMEOUT)


def _images(page, field: str) -> list[np.ndarray]:
    b64 = page.evaluate("""async (field) => {
      const out = [];
      for (const entry of window.facerigLive.log) {
        const bytes = new Uint8Array(await entry[field].arrayBuffer());
        let text = '';
        for (const b of bytes) text += String.fromCharCode(b);
        out.push(btoa(text));
      }
      return out;
    }""", field)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(s))).convert("RGB")) for s in b64]


def _mouth_openings(images) -> np.ndarray:
    """Inner-lip gap over the eye-corner distance per image (NaN where MediaPipe finds no face)."""
    from morphable.landmarks_mp import MediaPipeBackend

    be = MediaPipeBackend(max_faces=1)
    out = []
    for im in images:
        faces = be.detect(im)
        if not faces:
            out.append(np.nan)
            continue
        m = faces[0].mesh
        out.append(np.linalg.norm(m[13] - m[14]) / np.linalg.norm(m[33] - m[263]))
    return np.array(out)


@pytest.mark.slow
def test_camera_frames_come_back_and_the_mouth_opens_with_the_clips(browser, app, real_faces):
    ctx, page = _live_page(browser, app)
    try:
        # a real portrait (the clip's own source is a cartoon, whose drawn mouth the grader does not read)
        _choose(page, real_faces / "tpsmm_source.png")
        assert page.inner_text("#live-error") == ""
        page.evaluate("() => { window.facerigLive.keepLog = true; }")
        page.click("#live-start")
        page.wait_for_function("() => window.facerigLive.log.filter(e => e.state === 'tracking').length >= 45",
                               timeout=TIMEOUT)
        page.click("#live-stop")
        stats = page.evaluate("() => ({answered: window.facerigLive.answered, dropped: window.facerigLive.dropped,"
                              " lat: window.facerigLive.latencies, text: document.querySelector('#live-stats').textContent})")
        log_states = page.evaluate("() => window.facerigLive.log.map(e => e.state)")
        sent, got = _images(page, "sent"), _images(page, "got")
        assert all(urlparse_local(u) for u in page.requested)   # nothing left 127.0.0.1
    finally:
        ctx.close()
    assert stats["answered"] >= 45 and "fps" in stats["text"]
    keep = [i for i, s in enumerate(log_states) if s == "tracking"]
    cam, out = _mouth_openings([sent[i] for i in keep]), _mouth_openings([got[i] for i in keep])
    ok = np.isfinite(cam) & np.isfinite(out)
    assert ok.sum() >= 30
    cam, out = cam[ok], out[ok]
    assert np.ptp(cam) > 0.1   # the clip opens its mouth
    r = np.corrcoef(cam, out)[0, 1]
    wide, shut = cam >= np.quantile(cam, 0.75), cam <= np.quantile(cam, 0.25)
    assert r > 0.5 and out[wide].mean() > out[shut].mean() + 0.03, (r, out[wide].mean(), out[shut].mean())


def urlparse_local(url: str) -> bool:
    from urllib.parse import urlparse

    p = urlparse(url)
    return p.scheme in ("blob", "data") or p.hostname == "127.0.0.1"


@pytest.mark.slow
def test_bad_input_is_one_line_and_a_closed_tab_leaves_the_server_serving(browser, app, real_faces, tmp_path):
    # a photo without a face
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 240, 3), 170, np.uint8)).save(blank)
    ctx, page = _live_page(browser, app)
    _choose(page, blank)
    line = page.inner_text("#live-error")
    assert line.startswith("error:") and "face" in line and "\n" not in line.strip()
    assert page.is_disabled("#live-start")
    ctx.close()
    # no permission to use the camera
    ctx, page = _live_page(browser, app, camera=False)
    _choose(page, real_faces / "xportrait_source.png")
    page.click("#live-start")
    page.wait_for_function("() => document.querySelector('#live-error').textContent", timeout=TIMEOUT)
    assert page.inner_text("#live-error").startswith("error: no permission to use the camera")
    ctx.close()
    # two pages stream; one tab is closed mid-stream; the other keeps getting frames
    ctx_a, a = _live_page(browser, app)
    ctx_b, b = _live_page(browser, app)
    for p in (a, b):
        _choose(p, real_faces / "xportrait_source.png")
        p.click("#live-start")
    b.wait_for_function("() => window.facerigLive.answered >= 3", timeout=TIMEOUT)
    ctx_b.close()   # mid-stream, a request may be in flight
    before = a.evaluate("() => window.facerigLive.answered")
    a.wait_for_function("n => window.facerigLive.answered >= n + 5", arg=before, timeout=TIMEOUT)
    assert a.inner_text("#live-error") == ""
    ctx_a.close()
    # the app's own page links to the Live page, carrying its key when clicked
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(app.url)
    page.wait_for_selector("#live-camera-link", timeout=TIMEOUT)
    assert page.get_attribute("#live-camera-link", "href") == "/facerig/camera"
    ctx.close()
