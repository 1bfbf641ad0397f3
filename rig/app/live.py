"""The live image while a slider moves: a plain HTTP route beside Gradio's event queue, and the page's script.

Why: a Gradio event costs 41-79 ms here even when its handler returns a fixed image (the queue,
the message stream and the component update; docs/app.md), most or all of the 50 ms a slider
step should take. So the sliders have no Gradio event: on each slider input the page's script asks
`GET /facerig/live?key=<page>&<name>=<value>[&overlay=1]`, which stores the value in the engine
and answers the face at it (PNG, lossless: the image the source draws), and swaps it into the
face image. One request is in flight per page; values moved meanwhile go together in the next.
When no more are waiting, the script clicks the page's hidden 'sync' button, whose Gradio event
sends the status line (the trained-range warning) and the parameters JSON, after the image and
never beside it. A reply for a page key that has changed meanwhile (a new face loaded) is dropped,
and so are values moved on the old face's sliders. When Gradio draws the face itself (load, reset,
light preset, overlay toggle) after live images, the script asks once more for the face as it is
now: Gradio's image may have been drawn before the last live one.
"""
from __future__ import annotations

import numpy as np
from fastapi import Request, Response   # module level: FastAPI resolves the route's annotations here

from .engine import USER_ERRORS, PageGone, public_message

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
  const pending = new Map();          // control -> value, moved while a request was out
  let pendingKey = '', redraw = false, busy = false, needSync = false, syncTimer = null;
  let shown = null, liveShown = false, gradioSrc = null;
  const sync = () => { needSync = false; document.querySelector('#SYNC_ID')?.click(); };
  const pageKey = () => document.querySelector('#KEY_ID textarea, #KEY_ID input')?.value || '';
  async function send() {
    const key = pageKey();
    if (busy || !key) return;
    if (pendingKey !== key) pending.clear();   // moved on the sliders of a face since replaced
    if (!pending.size && !redraw) return;
    busy = true;
    redraw = false;
    clearTimeout(syncTimer);
    const query = new URLSearchParams({key});
    for (const [name, value] of pending) query.set(name, value);
    needSync = needSync || pending.size > 0;
    pending.clear();
    if (document.querySelector('#OVERLAY_ID input')?.checked) query.set('overlay', '1');
    try {
      const reply = await fetch('ROUTE?' + query, {cache: 'no-store'});
      const img = document.querySelector('#FACE_ID img');
      if (reply.ok && img && pageKey() === key) {   // not for a face loaded meanwhile
        const url = URL.createObjectURL(await reply.blob());
        img.src = url;
        if (shown) URL.revokeObjectURL(shown);
        shown = url;
        liveShown = true;
        await img.decode().catch(() => {});
      }
    } catch (err) { /* the sync event below reports a page that is gone */ }
    busy = false;
    if (pending.size || redraw) send();
    else if (needSync) syncTimer = setTimeout(sync, SYNC_DELAY_MS);   // after the drag pauses, off the image's path
  }
  document.addEventListener('input', (event) => {
    const box = event.target.closest?.('[id^="s-"]');
    if (!box || event.target.tagName !== 'INPUT') return;
    const value = parseFloat(event.target.value);
    if (!Number.isFinite(value)) return;   // a number box half typed
    if (pendingKey !== pageKey()) { pending.clear(); pendingKey = pageKey(); }
    pending.set(box.id.slice(2), value);
    send();
  });
  // A face Gradio drew (load, reset, light preset, overlay toggle) may have been drawn before the
  // last live image and land after it: after live images, ask once for the face as it is now.
  new MutationObserver(() => {
    const img = document.querySelector('#FACE_ID img');
    if (!img || img.src.startsWith('blob:') || img.src === gradioSrc) return;
    gradioSrc = img.src;
    if (liveShown) { liveShown = false; redraw = true; send(); }
  }).observe(document.documentElement, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
})();
</script>"""
for _name, _value in (("ROUTE", ROUTE), ("KEY_ID", KEY_ID), ("FACE_ID", FACE_ID), ("OVERLAY_ID", OVERLAY_ID),
                      ("SYNC_ID", SYNC_ID), ("SYNC_DELAY_MS", str(SYNC_DELAY_MS))):
    SCRIPT = SCRIPT.replace(_name, _value)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an (H,W,3) uint8 image, lossless and fast: OpenCV's encoder at level 1 with Huffman-only
    coding (measured at 512 px here: 21 ms and 443 KB, against Pillow's level 1 at 37 ms and 466 KB)."""
    import cv2

    ok, data = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]),
                            [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY])
    if not ok:
        raise ValueError("could not encode the live image as PNG")
    return data.tobytes()


def add_route(app, engine) -> None:
    """Serve the live image on the Gradio server's FastAPI `app`, ahead of Gradio's catch-all routes."""
    def live(request: Request) -> Response:
        values = dict(request.query_params)
        key, overlay = values.pop("key", None), values.pop("overlay", "") == "1"
        try:
            image = engine.live(key, values, overlay)
        except PageGone as exc:
            return Response(str(exc), status_code=404, media_type="text/plain")
        except USER_ERRORS as exc:   # an unknown control, a value that is not a number, a face that cannot be drawn
            return Response(public_message(exc), status_code=422, media_type="text/plain")
        return Response(encode_png(image), media_type="image/png", headers={"Cache-Control": "no-store"})

    app.add_api_route(ROUTE, live, methods=["GET"])
    app.router.routes.insert(0, app.router.routes.pop())
