"""The app in a real headless browser: load, drag a slider, see the face change, download, upload."""
from __future__ import annotations

import base64
import io
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

TIMEOUT = 120_000


def face_src(page) -> str:
    return page.get_attribute("#face img", "src")


def wait_new_face(page, old: str) -> str:
    page.wait_for_function("old => { const i = document.querySelector('#face img'); return i && i.src !== old; }",
                           arg=old, timeout=TIMEOUT)
    return face_src(page)


#: the bytes of the shown face, read in the page (its src is a Gradio file URL or the live route's blob URL)
_SHOWN_BYTES = """async () => {
  const reply = await fetch(document.querySelector('#face img').src);
  const bytes = new Uint8Array(await reply.arrayBuffer());
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}"""


def shown_image(page) -> np.ndarray:
    body = base64.b64decode(page.evaluate(_SHOWN_BYTES))
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def live_requests(page) -> int:
    """How many live images (rig.app.live) the page has asked for."""
    from rig.app.live import ROUTE

    return sum(ROUTE in u for u in page.requested)


def settle(page, quiet_ms: int = 3000) -> None:
    """Wait until the face has not changed for quiet_ms (the drag's last update has landed)."""
    src = face_src(page)
    while True:
        page.wait_for_timeout(quiet_ms)
        now = face_src(page)
        if now == src:
            return
        src = now


def status_text(page) -> str:
    return page.inner_text("#status")


def move_slider(page, name: str, presses: int, key: str = "ArrowRight") -> None:
    """Drag by keyboard: focus the range input and step it, as a user does."""
    handle = page.locator(f"#s-{name} input[type=range]")
    handle.focus()
    for _ in range(presses):
        handle.press(key)


def test_page_opens_on_the_portrait_and_its_yaw_slider_turns_it_and_png_downloads(page, app, tmp_path):
    # the first look: the shipped portrait through the photo engine, the generated faces one choice away
    assert "NASA portrait" in status_text(page) and "photo engine" in status_text(page)
    assert page.is_checked("#source input[value='portrait']")
    assert page.locator("#source input[value='generated']").count() == 1
    assert not page.locator("#load").is_visible()   # nothing to press: the portrait is loaded
    before_src, before = face_src(page), shown_image(page)
    assert before.shape == (512, 512, 3) and before.std() > 10  # a picture, not a blank
    # the pose sliders stop where the photo engine's warp holds, and no slider claims a '0 .. 0' range
    from rig.photo.photo_rig import PITCH_LIMIT, YAW_LIMIT

    for name, limit in (("yaw", YAW_LIMIT), ("pitch", PITCH_LIMIT)):
        handle = page.locator(f"#s-{name} input[type=range]")
        assert -limit <= float(handle.get_attribute("min")) < 0 < float(handle.get_attribute("max")) <= limit
    assert "0 .. 0" not in page.inner_text("body")
    yaw0 = float(page.input_value("#s-yaw input[type=number]"))
    move_slider(page, "yaw", 30)  # +15 degrees in steps of 0.5
    wait_new_face(page, before_src)
    page.wait_for_function("v => Number(document.querySelector('#s-yaw input[type=number]').value) > v + 10",
                           arg=yaw0, timeout=TIMEOUT)
    settle(page)  # the last of the drag's updates (always_last) has landed
    after = shown_image(page)
    # the face turned: the mean change over the whole preview (the slider's wiring; the turn's size is tested in
    # tests/rig/photo). Since the head proxy holds the outline on the side turning away (issue 21, 726c202) the
    # hair and background move less: +15 deg reads 1.77 grey levels where it read 2.11; an unturned image reads 0
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1.0
    assert live_requests(page) >= 1 and face_src(page).startswith("blob:")  # drawn by the live route
    page.click("text=parameters (JSON)")  # the accordion with the edit's parameters
    page.wait_for_function("() => { const e = document.querySelector('#params');"
                           " return e && e.innerText.includes('\"source\": \"photo'); }", timeout=TIMEOUT)
    assert '"yaw"' in page.inner_text("#params")

    page.click("#dl-png")
    link = page.locator("#download a").first
    link.wait_for(timeout=TIMEOUT)
    with page.expect_download(timeout=TIMEOUT) as info:
        link.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.suffix == ".png"
    png = np.asarray(Image.open(path).convert("RGB"))
    # the PNG is the face on the page plus the invisible provenance watermark, and it is labelled
    from rig.provenance import verify
    from rig.provenance.watermark import psnr

    shown = shown_image(page)
    assert psnr(png, shown) >= 37.9 and psnr(png, before) < psnr(png, shown) - 3
    assert png.shape == shown.shape   # a 512 px photo: the live view is the whole photo
    assert verify(path).labelled
    # nothing outside this machine was asked for (no analytics, fonts or CDN assets)
    hosts = {urlparse(u).hostname for u in page.requested if u.startswith("http")}
    assert hosts == {"127.0.0.1"}, hosts


def upload(page, path) -> None:
    """Drop a file on the photo box (clearing the one shown first)."""
    clear = page.locator("#photo button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    page.locator("#photo input[type=file]").wait_for(state="attached", timeout=TIMEOUT)
    page.set_input_files("#photo input[type=file]", str(path))


@pytest.mark.slow
def test_upload_utkface_photo_and_bad_files(page, utkface_photos, tmp_path):
    photo = tmp_path / "face.png"
    Image.fromarray(utkface_photos(1, seed=4)[0]).save(photo)
    old = face_src(page)
    upload(page, photo)
    new = wait_new_face(page, old)
    assert "uploaded photo" in status_text(page)
    img = shown_image(page)
    assert img.std() > 10
    move_slider(page, "jawOpen", 40)
    wait_new_face(page, new)

    assert not page.locator("#load").is_visible()   # upload = load: no button to press after it

    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    upload(page, text)
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('error')", timeout=TIMEOUT)
    assert "not a readable image" in status_text(page) and "notes.png" in status_text(page)
    assert "/tmp" not in status_text(page)   # the server's copy of the upload is not named
    # the file box is cleared: the old face is not shown under the failed file's name
    page.wait_for_function("() => !document.querySelector('#photo').innerText.includes('notes.png')", timeout=TIMEOUT)

    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((128, 128, 3), 200, np.uint8)).save(blank)
    upload(page, blank)
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('no face')", timeout=TIMEOUT)
    # the page kept its face: a slider still edits it, and the error line goes with that update
    move_slider(page, "yaw", 4)
    page.wait_for_function("() => !document.querySelector('#status').innerText.includes('error')", timeout=TIMEOUT)
    assert "uploaded photo" in status_text(page)
    # the app still works afterwards; picking a source loads it
    page.check("#source input[value='generated']")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('generated face')",
                           timeout=TIMEOUT)


def slider_value(page, name: str) -> float:
    return float(page.input_value(f"#s-{name} input[type=number]"))


@pytest.mark.slow
def test_controls_are_kept_by_the_server_and_reset_per_block(page, app):
    """A slider event sends only its own value; the engine keeps the rest, and 'reset pose' leaves the expression."""
    yaw0, jaw0 = slider_value(page, "yaw"), slider_value(page, "jawOpen")
    old = face_src(page)
    move_slider(page, "yaw", 20)       # +10 degrees
    move_slider(page, "jawOpen", 30)   # +0.30
    wait_new_face(page, old)
    settle(page)
    yaw1, jaw1 = slider_value(page, "yaw"), slider_value(page, "jawOpen")   # snapped to the 0.5 / 0.01 steps
    assert yaw1 > yaw0 + 9 and jaw1 > jaw0 + 0.29
    stored = next(reversed(app.engine._pages.values())).controls   # the page moved last
    assert stored.yaw == pytest.approx(yaw1, abs=1e-3)
    assert stored.expression["jawOpen"] == pytest.approx(jaw1, abs=1e-3)
    moved = shown_image(page)
    old = face_src(page)
    page.click("text=reset pose")
    wait_new_face(page, old)
    settle(page)
    page.wait_for_function("v => Math.abs(Number(document.querySelector('#s-yaw input[type=number]').value) - v) < 0.01",
                           arg=round(yaw0, 3), timeout=TIMEOUT)
    assert slider_value(page, "jawOpen") == pytest.approx(jaw1, abs=1e-3)
    stored = next(reversed(app.engine._pages.values())).controls
    assert stored.yaw == pytest.approx(yaw0, abs=0.01)
    assert stored.expression["jawOpen"] == pytest.approx(jaw1, abs=1e-3)
    assert np.abs(shown_image(page).astype(int) - moved.astype(int)).mean() > 1.0   # the face turned back


@pytest.mark.slow
def test_the_live_image_is_the_engines_face_with_the_overlay_when_on(page, app):
    """The slider's live image (rig.app.live) is the source's own drawing at the stored controls, byte for
    byte, and with the overlay toggled on it carries the 3DMM's landmarks."""
    old = face_src(page)
    page.check("#source input[value='morphable']")   # picking a source loads it
    old = wait_new_face(page, old)
    page.check("#overlay input")
    old = wait_new_face(page, old)
    asked = live_requests(page)
    move_slider(page, "yaw", 20)
    wait_new_face(page, old)
    settle(page)
    assert live_requests(page) > asked and face_src(page).startswith("blob:")
    stored = next(reversed(app.engine._pages.values()))          # the page moved last
    plain = stored.source.preview(stored.controls)
    shown = shown_image(page)
    assert np.array_equal(shown, stored.source.overlay(plain, stored.controls))
    assert not np.array_equal(shown, plain)


@pytest.mark.slow
def test_typing_in_a_sliders_number_box_moves_the_face(page, app):
    """The number box beside a slider goes the same live way as dragging; past the slider's end it is clamped."""
    old = face_src(page)
    box = page.locator("#s-yaw input[type=number]")
    box.fill("-20")
    wait_new_face(page, old)
    settle(page)
    stored = next(reversed(app.engine._pages.values())).controls
    assert stored.yaw == pytest.approx(-20.0)
    assert np.array_equal(shown_image(page), next(reversed(app.engine._pages.values())).source.preview(stored))
    box.fill("75")   # beyond the slider's end: the widget clamps it on leaving the box, the route at once
    settle(page)
    stored = next(reversed(app.engine._pages.values()))
    assert stored.controls.yaw == pytest.approx(stored.source.control_limits("yaw")[1])
    # the image has no download / share button of its own (those would hand out an unlabelled copy)
    assert page.locator("#face button[aria-label='Download'], #face [data-testid='download-link'],"
                        " #face button[aria-label='Share']").count() == 0


@pytest.mark.slow
def test_reset_after_a_drag_shows_the_face_as_loaded(page, app):
    """Gradio's redraw after 'reset pose' has the very pixels it sent at load; it must still replace the
    live image the drag left (Gradio names images by their bytes, so each of its draws is tagged)."""
    first, old = shown_image(page), face_src(page)
    move_slider(page, "yaw", 20)
    wait_new_face(page, old)
    settle(page)
    assert not np.array_equal(shown_image(page), first)
    old = face_src(page)
    page.click("text=reset pose")
    wait_new_face(page, old)
    settle(page)
    stored = next(reversed(app.engine._pages.values()))
    shown = shown_image(page)
    assert np.array_equal(shown, first)
    assert np.array_equal(shown, stored.source.preview(stored.controls))
