"""The live image while a slider moves: a plain HTTP route beside Gradio's event queue, and the page's script.

Why: a Gradio event costs 41-79 ms here even when its handler returns a fixed image (the queue,
the message stream and the component update; docs/app.md), most or all of the 50 ms a slider
step should take. So the sliders have no Gradio event: on each slider input the page's script asks
`GET /facerig/live?key=<page>&<name>=<value>[&overlay=1]`, which stores the value in the engine
and answers the face at it (PNG, lossless: the image the source draws), and swaps it into the
face image. One request is in flight per page; values moved meanwhile go together in the next.
When no more are waiting, the script clicks the page's hidden 'sync' button, whose Gradio event
sends the status line (the trained-range warning) and the parameters JSON, after the image and
never beside it.
"""
from __future__ import annotations

import io

import numpy as np
from fastapi import Request, Response   # module level: FastAPI resolves the route's annotations here

from basics.errors import UserError

from .engine import PageGone

ROUTE = "/facerig/live"
#: elem_ids the script relies on: the sliders are s-<control name>
KEY_ID, FACE_ID, OVERLAY_ID, SYNC_ID = "page-key", "face", "overlay", "live-sync"
#: the status and JSON follow this long after the last live image: a Gradio event beside the next image
#: slows it (a one-off comparison when this was built: DCGAN steps of 41-68 ms in the page with the
#: sync sent right after each image, 27-43 ms with it held back)
SYNC_DELAY_MS = 150

#: injected into the page's <head>
SCRIPT = """
<script>
(() => {
  const pending = new Map();
  let busy = false, shown = null, syncTimer = null;
  const sync = () => document.querySelector('#SYNC_ID')?.click();
  const pageKey = () => document.querySelector('#KEY_ID textarea, #KEY_ID input')?.value || '';
  async function send() {
    const key = pageKey();
    if (busy || !pending.size || !key) return;
    busy = true;
    clearTimeout(syncTimer);
    const query = new URLSearchParams({key});
    for (const [name, value] of pending) query.set(name, value);
    pending.clear();
    if (document.querySelector('#OVERLAY_ID input')?.checked) query.set('overlay', '1');
    try {
      const reply = await fetch('ROUTE?' + query, {cache: 'no-store'});
      const img = document.querySelector('#FACE_ID img');
      if (reply.ok && img) {
        const url = URL.createObjectURL(await reply.blob());
        img.src = url;
        if (shown) URL.revokeObjectURL(shown);
        shown = url;
        await img.decode().catch(() => {});
      }
    } catch (err) { /* the sync event below reports a page that is gone */ }
    busy = false;
    if (pending.size) send();
    else syncTimer = setTimeout(sync, SYNC_DELAY_MS);   // after the drag pauses, off the image's path
  }
  document.addEventListener('input', (event) => {
    const box = event.target.closest?.('[id^="s-"]');
    if (!box || event.target.tagName !== 'INPUT') return;
    const value = parseFloat(event.target.value);
    if (!Number.isFinite(value)) return;   // a number box half typed
    pending.set(box.id.slice(2), value);
    send();
  });
})();
</script>"""
for _name, _value in (("ROUTE", ROUTE), ("KEY_ID", KEY_ID), ("FACE_ID", FACE_ID), ("OVERLAY_ID", OVERLAY_ID),
                      ("SYNC_ID", SYNC_ID), ("SYNC_DELAY_MS", str(SYNC_DELAY_MS))):
    SCRIPT = SCRIPT.replace(_name, _value)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an (H,W,3) uint8 image, fastest compression (lossless; ~4 ms at 256 px here)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def add_route(app, engine) -> None:
    """Serve the live image on the Gradio server's FastAPI `app`, ahead of Gradio's catch-all routes."""
    def live(request: Request) -> Response:
        values = dict(request.query_params)
        key, overlay = values.pop("key", None), values.pop("overlay", "") == "1"
        try:
            image = engine.live(key, values, overlay)
        except PageGone as exc:
            return Response(str(exc), status_code=404, media_type="text/plain")
        except UserError as exc:   # an unknown control or a value that is not a number
            return Response(str(exc), status_code=422, media_type="text/plain")
        return Response(encode_png(image), media_type="image/png", headers={"Cache-Control": "no-store"})

    app.add_api_route(ROUTE, live, methods=["GET"])
    app.router.routes.insert(0, app.router.routes.pop())
