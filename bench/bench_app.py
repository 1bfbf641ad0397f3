"""Speed of the app: server time per slider update, and the round trip a real browser sees.

    nice -n 10 python -m bench.bench_app [--repeats 15] [--threads 1] [--no-browser] --out docs/bench_app.json

Server time: what the page's update handler does for one slider change (render the face at the
new controls with rig.engine, and the parameters JSON), timed in-process, with the yaw stepping
so every update is a real change. Sources: the bare 3DMM at 256 px; the default DCGAN rig
bundle (64 px, shown at 256); and, because no trained 128 px StyleGAN2 rig bundle exists, a stand-in
for a 128 px StyleGAN2 bundle: the DCGAN rig's own overhead (estimator + RigNet for the target)
plus a randomly initialised default-architecture 128 px StyleGAN2 synthesis (inference path,
fp32 and bf16), the upscale to 256 and the JSON.

Browser: the app on a free local port, Chromium (Debian's package) through Playwright; one
ArrowRight on the yaw slider (0.5 deg), timed twice: in the page (the slider's input event to
the new image decoded, performance.now) and from outside (the key press to the page's console
report of that, which adds Playwright's own calls); 'step' pauses 400 ms after each key so the
page settles, 'drag' presses the next key as soon as the image is shown. Goals (issue 16): <= 50 ms for the 3DMM and the DCGAN rig at
256 px, <= 150 ms for a 128 px StyleGAN2 bundle. Where ../shared has UTKFace, the photo
engine's load (the fit) and update times on one 128 px photo are recorded too (no goal), and so
are the real 64 px StyleGAN2 bundle's (assets/rig/utkface64) fp32 render and bf16 preview.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


from .common import machine_info, write_result, stats

GOALS_MS = {"morphable-256": 50.0, "dcgan-rig-256": 50.0, "stylegan2-128-standin-fp32": 150.0,
            "stylegan2-128-standin-bf16": 150.0, "portrait-photo-512": 120.0}


def _time(fn, repeats: int) -> list[float]:
    fn()
    out = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        out.append(1000 * (time.perf_counter() - t0))
    return out


def _utkface_photo(index: int = 100):
    """One UTKFace photo (128 px) from ../shared, or None where the data is absent."""
    import io
    import zipfile

    from PIL import Image

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface" / "utkface-128-webp.zip"
    if not path.exists():
        return None
    with zipfile.ZipFile(path) as zf:
        name = sorted(zf.namelist())[index]
        return np.asarray(Image.open(io.BytesIO(zf.read(name))).convert("RGB"))


def _page_updates(src, repeats: int, draw=None) -> list[float]:
    """ms per page update of one source: draw (default src.render) at the next yaw, + the parameters JSON."""
    draw = draw or src.render
    c0 = src.controls()

    def update(i=0):
        c = c0.with_values(yaw=c0.yaw + 0.5 * (i % 20))
        draw(c)
        json.dumps(src.to_dict(c))

    return _time(update, repeats)


def standin_sources(gen) -> dict:
    """What a 128 px StyleGAN2 rig bundle's page update would do, as engines ('fp32', 'bf16'): the
    DCGAN rig's own work for the target (estimator + RigNet), then a randomly initialised
    default-architecture 128 px StyleGAN2 synthesis (speed does not depend on the weights) in that
    dtype, the upscale to 256; controls, JSON and status are the DCGAN source's."""
    from gan.networks import Generator
    from rig.frames import upscale

    torch.manual_seed(0)
    G = Generator(img_resolution=128).eval()
    with torch.no_grad():
        ws128 = G.mapping(torch.randn(1, G.z_dim), truncation_psi=0.7)

    class StandIn(type(gen)):
        def __init__(self, dtype):
            self.__dict__.update(gen.__dict__)
            self.dtype = dtype
            self.description = f"128 px StyleGAN2 stand-in ({'bf16' if dtype == torch.bfloat16 else 'fp32'})"

        def preview(self, c):
            self.rig.edit(self.ws, **self.edit_kwargs(c))                   # estimator + RigNet
            with torch.no_grad():
                img = G.synthesis(ws128, noise_mode="const", compute_dtype=self.dtype).clamp(-1, 1)
            return upscale(self.rig.to_uint8(img), self.size, fast=True)[0]

    return {"fp32": StandIn(torch.float32), "bf16": StandIn(torch.bfloat16)}


def server_times(repeats: int) -> dict[str, list[float]]:
    """ms per update of each source (render + JSON), yaw stepping by 0.5 deg per update."""
    from morphable.formats import load_model

    from rig.engine import open_engine
    from rig.pipeline import load_rig

    rig = load_rig()
    out = {}
    srcs = {"morphable-256": open_engine(engine="morph", model=load_model("default"), identity_seed=0, size=256),
            "dcgan-rig-256": open_engine(rig, seed=3, truncation=0.7, engine="gan", size=256)}
    for name, src in srcs.items():
        out[name] = _page_updates(src, repeats)
    photo = _utkface_photo()
    if photo is not None:  # the photo engine (no goal in the issue; reported for what the page feels like)
        t0 = time.perf_counter()
        src = open_engine(rig, photo=photo, size=256)
        out["photo-load-s"] = [time.perf_counter() - t0]
        out["photo-engine-128"] = _page_updates(src, repeats)
    utk = Path(__file__).resolve().parents[1] / "assets" / "rig" / "utkface64"
    if (utk / "manifest.json").exists():  # the real 64 px StyleGAN2 bundle: the page's preview (bf16) and render (fp32)
        src = open_engine(load_rig(utk), seed=3, truncation=0.7, engine="gan", size=256, preview_dtype=torch.bfloat16)
        for label, draw in (("fp32", src.render), ("bf16-preview", src.preview)):
            out[f"stylegan2-64-utkface64-bundle-{label}"] = _page_updates(src, repeats, draw)
    # stand-in: the rig's own work for a target + a 128 px StyleGAN2 synthesis + upscale + JSON
    for label, standin in standin_sources(srcs["dcgan-rig-256"]).items():
        out[f"stylegan2-128-standin-{label}"] = _page_updates(standin, repeats, standin.preview)
    return out


#: in-page clock: the slider's input event -> the new image decoded in the page (performance.now),
#: reported as a console message, so the bench waits on an event instead of polling the page
_PAGE_CLOCK = """sel => {
  let t0 = null;
  document.addEventListener('input', () => { t0 = performance.now(); }, true);
  let last = document.querySelector(sel + ' img')?.src;
  new MutationObserver(() => {
    const img = document.querySelector(sel + ' img');
    if (!img || img.src === last) return;
    last = img.src;
    const done = () => { if (t0 !== null) console.log('facerig-trip ' + (performance.now() - t0)); t0 = null; };
    img.decode().then(done, done);
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def _trips(page, slider: str, image: str, repeats: int, engine=None, pause_ms: float = 0.0) -> dict[str, list]:
    """Single ArrowRight/Left steps on a slider: the round trip Playwright sees (key press -> the page's
    report that the new image is decoded, including Playwright's own calls), the in-page time (input
    event -> the new image decoded) and the server time of each update (the app's Engine records it).
    pause_ms: idle time after each step (0: the next key right after the image, as in a drag)."""
    handle = page.locator(f"{slider} input[type=range]")
    page.evaluate(_PAGE_CLOCK, image)
    out = {"round_trip_ms": [], "in_page_ms": [], "server_ms": []}
    for i in range(repeats + 1):
        handle.focus()
        t0 = time.perf_counter()
        with page.expect_console_message(lambda m: m.text.startswith("facerig-trip "), timeout=120_000) as info:
            handle.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
        ms = 1000 * (time.perf_counter() - t0)
        if i:  # the first is a warm-up
            out["round_trip_ms"].append(ms)
            out["in_page_ms"].append(float(info.value.text.split()[1]))
            out["server_ms"].append(engine.update_ms[-1] if engine is not None and engine.update_ms else float("nan"))
        if pause_ms:
            page.wait_for_timeout(pause_ms)
    return out


def gradio_floor(repeats: int, page_factory) -> list[float]:
    """Round trips of a page that does nothing but return a 256 px image per slider step (Gradio's own cost)."""
    import gradio as gr

    from rig.app import free_port

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)

    def step(v):
        img = base.copy()
        img[:8, :8] = int(v * 10) % 255
        return img

    with gr.Blocks(analytics_enabled=False) as blocks:
        slider = gr.Slider(0, 100, 0, step=1, elem_id="floor-s")
        image = gr.Image(type="numpy", format="png", elem_id="floor-img")
        slider.input(step, slider, image, show_progress="hidden", trigger_mode="always_last")
    blocks.queue(default_concurrency_limit=1)
    port = free_port()
    blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        page = page_factory()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#floor-s input[type=range]", timeout=120_000)
        page.locator("#floor-s input[type=range]").focus()
        page.locator("#floor-s input[type=range]").press("ArrowRight")
        page.wait_for_selector("#floor-img img", timeout=120_000)
        return _trips(page, "#floor-s", "#floor-img", repeats)
    finally:
        blocks.close()


#: idle time after each key step: 'step' lets the page settle (the app's status/JSON event follows
#: the live image by 150 ms and takes ~80 ms), 'drag' presses the next key as soon as the image is shown
BROWSER_MODES = {"step": 400.0, "drag": 0.0}


def browser_times(repeats: int) -> dict:
    """Round trips (ms) in Chromium for the DCGAN rig and the 3DMM ('step' and 'drag'), with the page's own
    server times, and the floor of a Gradio page that only returns an image."""
    from playwright.sync_api import sync_playwright

    from rig.app import free_port, start

    from rig.app.browser import launch_chromium, open_app_page

    running = start(port=free_port())
    result = {}
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = open_app_page(browser, running.url)
            # the page opens on the portrait (photo engine, 512 px live view); picking a source loads it
            for name, kind in (("portrait-photo-512", "portrait"), ("dcgan-rig-256", "generated"),
                               ("morphable-256", "morphable")):
                if kind != "portrait":
                    old = page.get_attribute("#face img", "src")
                    page.check(f"#source input[value='{kind}']")
                    page.wait_for_function("o => document.querySelector('#face img').src !== o", arg=old,
                                           timeout=120_000)
                result[name] = {mode: _trips(page, "#s-yaw", "#face", repeats, running.engine, pause)
                                for mode, pause in BROWSER_MODES.items()}
            # the 128 px StyleGAN2 stand-ins, through the same page: the live script sends the key in
            # the page's key box, so pointing it at a stand-in's key draws that source
            gen = running.engine.page(running.engine.new_source("generated", 3, 0.7)[0]).source
            for label, standin in standin_sources(gen).items():
                key = running.engine.add_source(standin)
                page.evaluate("k => { document.querySelector('#page-key textarea, #page-key input').value = k; }", key)
                result[f"stylegan2-128-standin-{label}"] = {
                    "step": _trips(page, "#s-yaw", "#face", repeats, running.engine, BROWSER_MODES["step"])}
            result["gradio-floor"] = {"step": gradio_floor(repeats, browser.new_page)}
            browser.close()
    finally:
        running.close()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: faster for batch-1 work on this shared 2-core machine)")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--out", default="docs/bench_app.json")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    before = machine_info()
    server = server_times(args.repeats)
    rows = {name: {"server_ms": stats(v), "goal_ms": GOALS_MS.get(name)} for name, v in server.items()
            if name != "photo-load-s"}
    if "photo-load-s" in server:
        rows["photo-engine-128"]["load_s"] = server["photo-load-s"][0]
    for name, r in rows.items():
        print(f"{name:>28} server {r['server_ms']['median']:7.1f} ms (p90 {r['server_ms']['p90']:.1f}), "
              f"goal {r['goal_ms']}", flush=True)
    if not args.no_browser:
        for name, modes in browser_times(args.repeats).items():
            row = rows.setdefault(name, {"goal_ms": GOALS_MS.get(name)})
            for mode, b in modes.items():
                tag = "" if mode == "step" else f"_{mode}"
                row[f"browser{tag}_round_trip_ms"] = stats(b["round_trip_ms"])   # as Playwright sees it
                row[f"browser{tag}_in_page_ms"] = stats(b["in_page_ms"])         # input event -> new image decoded
                if name != "gradio-floor":
                    row[f"server{tag}_ms_in_page"] = stats(b["server_ms"])
                print(f"{name:>28} browser {mode}: in page {row[f'browser{tag}_in_page_ms']['median']:6.1f} ms "
                      f"(p90 {row[f'browser{tag}_in_page_ms']['p90']:.1f}), round trip "
                      f"{row[f'browser{tag}_round_trip_ms']['median']:.1f} ms"
                      + (f", server {row[f'server{tag}_ms_in_page']['median']:.0f} ms" if name != "gradio-floor"
                         else " (a Gradio page that only returns a 256 px image)"), flush=True)
    result = {"benchmark": "app update speed", "threads": args.threads, "repeats": args.repeats,
              "machine_before": before, "machine_after": machine_info(), "rows": rows,
              "raw_server_ms": {k: [round(x, 2) for x in v] for k, v in server.items()}}
    write_result(out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
