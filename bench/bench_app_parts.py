"""What each part of a Gradio page costs a slider's round trip, and the floor without Gradio's queue.

    python -m bench.bench_app_parts [--repeats 20] --out docs/bench_app_parts.json

Minimal pages, each timed in headless Chromium like bench_app (one ArrowRight on a slider, the
in-page time from its input event to the new 256 px image decoded):
- Gradio variants: the image alone; + 57 more slider inputs sent with every event (the app's
  sliders, before they stayed on the server); + a status Markdown output; + a JSON code box
  output (accordion closed / open); the image as an HTML data URL (PNG, WebP) instead of gr.Image.
- no Gradio queue: a script fetches the image from an extra HTTP route on each input event and
  swaps it into the page (PNG, WebP, JPEG): the floor of any page that round-trips an image here.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
from pathlib import Path

import numpy as np

from .common import machine_info, stats, write_result

#: swaps the page's image for one fetched from /facerig-bench/live on each slider input
_FETCH_JS = """
<script>
document.addEventListener('input', async (e) => {
  if (!e.target.matches('#s input[type=range]')) return;
  const reply = await fetch('/facerig-bench/live?v=' + e.target.value);
  document.querySelector('#o img').src = URL.createObjectURL(await reply.blob());
});
</script>"""


def _frame(v: float) -> np.ndarray:
    img = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    img[:8, :8] = int(float(v) * 10) % 255
    return img


def _encode(img: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt, **({"compress_level": 1} if fmt == "PNG" else {"quality": 90}))
    return buf.getvalue()


def _gradio_page(extra_inputs: int = 0, markdown: bool = False, code: str | None = None, html: str | None = None):
    """A page with slider #s and image #o; code = 'closed' / 'open' adds a JSON box in an accordion."""
    import gradio as gr

    text = json.dumps({"params": {f"id{i}": float(i) for i in range(150)}}, indent=1)
    with gr.Blocks(analytics_enabled=False) as blocks:
        slider = gr.Slider(0, 100, 0, step=1, elem_id="s")
        out = gr.HTML(elem_id="o") if html else gr.Image(value=_frame(0), type="numpy", format="png", elem_id="o")
        others = [gr.Slider(0, 1, 0, step=0.01) for _ in range(extra_inputs)]
        outputs = [out]
        if markdown:
            outputs.append(gr.Markdown("x"))
        if code:
            with gr.Accordion("json", open=code == "open"):
                outputs.append(gr.Code("", language="json"))

        def step(v, *_):
            img = _frame(v)
            first = (f'<img src="data:image/{html.lower()};base64,{base64.b64encode(_encode(img, html)).decode()}">'
                     if html else img)
            rest = ([f"**source** x\n\n<small>{v}</small>"] if markdown else []) + ([text.replace("0.0", str(v))]
                                                                                  if code else [])
            return [first, *rest] if rest else first

        slider.input(step, [slider, *others], outputs, show_progress="hidden", trigger_mode="always_last")
    return blocks


def _fetch_page(fmt: str):
    """The image component fed by a plain HTTP route instead of Gradio's queue."""
    import gradio as gr

    with gr.Blocks(analytics_enabled=False) as blocks:
        gr.Slider(0, 100, 0, step=1, elem_id="s")
        gr.Image(value=_frame(0), type="numpy", format="png", elem_id="o")
    return blocks, fmt


def measure(repeats: int) -> dict:
    from fastapi import Response
    from playwright.sync_api import sync_playwright

    from rig.app import free_port
    from rig.app.browser import launch_chromium

    from .bench_app import _trips

    variants = {
        "image": dict(), "image+57 slider inputs": dict(extra_inputs=57),
        "image+57 inputs+status": dict(extra_inputs=57, markdown=True),
        "image+57 inputs+status+json closed": dict(extra_inputs=57, markdown=True, code="closed"),
        "image+57 inputs+status+json open": dict(extra_inputs=57, markdown=True, code="open"),
        "html data url png": dict(html="PNG"), "html data url webp": dict(html="WEBP"),
    }
    out = {}
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        pages = [(name, _gradio_page(**kw), None) for name, kw in variants.items()]
        pages += [(f"no gradio queue, fetch {fmt.lower()}", *_fetch_page(fmt)) for fmt in ("PNG", "WEBP", "JPEG")]
        for name, blocks, fmt in pages:
            blocks.queue(default_concurrency_limit=1)
            port = free_port()
            blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                          ssr_mode=False, head=_FETCH_JS if fmt else None)
            if fmt:
                def live(v: float, fmt=fmt):
                    return Response(_encode(_frame(v), fmt), media_type=f"image/{fmt.lower()}")

                blocks.app.add_api_route("/facerig-bench/live", live, methods=["GET"])
                blocks.app.router.routes.insert(0, blocks.app.router.routes.pop())  # before Gradio's catch-alls
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("#s input[type=range]", timeout=120_000)
                page.locator("#s input[type=range]").focus()
                page.locator("#s input[type=range]").press("ArrowRight")
                page.wait_for_selector("#o img", state="attached", timeout=120_000)
                t = _trips(page, "#s", "#o", repeats)
                out[name] = {"in_page_ms": stats(t["in_page_ms"]), "round_trip_ms": stats(t["round_trip_ms"])}
                print(f"{name:>40}: in page {out[name]['in_page_ms']['median']:6.1f} ms "
                      f"(p90 {out[name]['in_page_ms']['p90']:.1f})", flush=True)
                page.close()
            finally:
                blocks.close()
        browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", default="docs/bench_app_parts.json")
    args = ap.parse_args(argv)
    before = machine_info()
    rows = measure(args.repeats)
    write_result(Path(args.out), {"benchmark": "what page parts cost a Gradio round trip", "repeats": args.repeats,
                                  "machine_before": before, "machine_after": machine_info(), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
