"""The app's Live mode: the browser's camera drives a photo, one JPEG frame per request, outside Gradio's queue.

Routes (FastAPI, on the Gradio server, like the live slider image of rig.app.live):
  GET  /facerig/camera                      the Live page (rig.app.camera_page: camera, output, fps, latency)
  POST /facerig/camera/photo[?key=K]        body: an image file -> a live session on it; with `key` and no
                                            body, the app page K's current face (when it is a photo)
  POST /facerig/camera/frame?session=S      body: one JPEG camera frame -> the photo following it (JPEG);
                                            409 at once when that session is still busy (the page drops the frame)
  POST /facerig/camera/record?session=S&on=1|0   start / stop recording; stop writes the labelled MP4 and the
                                            tracks (JSON, Live Link CSV) through rig.outputs and answers their links
  GET  /facerig/camera/file/<id>/<name>     a written recording
Each session is rig.live.session.LiveSession (the causal tracker + PhotoRig). A user mistake is a
one-line 4xx text; nothing a page sends can stop the server or another page's session.
"""
from __future__ import annotations

import io
import json
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fastapi import Request, Response   # module level: FastAPI resolves the route's annotations here

from ..errors import RigError
from .camera_page import link_script
from .store import LruStore

ROUTE = "/facerig/camera"
#: the head script that puts the link to the Live page on the app's page (rig.app.server)
LINK = link_script(ROUTE)
#: live sessions kept at once (least recently used dropped): each holds a fitted photo and a tracker
MAX_SESSIONS = 4
#: output height of the Live mode
SIZE = 256
#: longest recording kept in memory (frames): about a minute at the page's rate
MAX_RECORD = 1500
#: camera frames above this many pixels a side are refused (the page sends 320-640 px)
MAX_FRAME_SIDE = 1920
JPEG_QUALITY = 85


@dataclass
class CameraSession:
    """One page's live session, its lock (one frame at a time) and its recording."""

    live: object                      # rig.live.session.LiveSession
    lock: threading.Lock = field(default_factory=threading.Lock)
    recording: bool = False
    images: list = field(default_factory=list)
    targets: list = field(default_factory=list)
    times: list = field(default_factory=list)
    started: float = 0.0
    frames: int = 0


def decode_image(body: bytes, what: str = "camera frame", max_side: int | None = None) -> np.ndarray:
    """RGB uint8 of an uploaded image's bytes, decoded as every photo is (basics.images.image_to_rgb: EXIF,
    alpha, 16-bit, CMYK); RigError (one line) for anything that is not one or is larger than `max_side`."""
    from PIL import Image, UnidentifiedImageError

    from basics.images import image_to_rgb

    if not body:
        raise RigError(f"empty {what}")
    try:
        with Image.open(io.BytesIO(body)) as im:
            size = im.size
            image = None if max_side is not None and max(size) > max_side else image_to_rgb(im)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        raise RigError(f"the {what} is not an image") from None
    if image is None:   # raised out here: RigError is a ValueError, which the decoding guard above catches
        raise RigError(f"{what} of {size[0]}x{size[1]} px is too large (at most {max_side})")
    return image


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class Cameras:
    """The live sessions of the open Live pages, keyed by a random id."""

    def __init__(self, engine, folder: str | Path):
        self.engine = engine
        self.folder = Path(folder)
        self._sessions: LruStore[CameraSession] = LruStore(MAX_SESSIONS)
        self._fit_lock = threading.Lock()   # one photo fitted at a time (seconds of CPU each)

    def new(self, photo: np.ndarray | None = None, key: str | None = None) -> tuple[str, CameraSession]:
        """A session on an uploaded photo, or on the app page `key`'s current face when it is a photo."""
        from ..live.session import LiveSession, live_rig

        with self._fit_lock:
            if photo is not None:
                live, _ = LiveSession.from_photo(photo, size=SIZE, fps=25.0)
            else:
                source = self.engine.page(key).source
                rig = getattr(source, "photo_rig", None)
                if rig is None:
                    raise RigError("the app's current face is not a photo (a generated face or the bare 3DMM); "
                                   "upload a photo or load one in the app first")
                live = LiveSession(live_rig(rig, SIZE), 25.0)
        session = CameraSession(live)
        return self._sessions.add(session), session

    def get(self, sid: str | None) -> CameraSession:
        session = self._sessions.get(sid)
        if session is None:
            raise KeyError("this live session is no longer open; choose the photo again")
        return session

    def frame(self, session: CameraSession, body: bytes, t: float | None) -> tuple[bytes, dict]:
        """One camera frame through the session (the caller holds session.lock): JPEG bytes and timings."""
        t0 = time.perf_counter()
        image = decode_image(body, max_side=MAX_FRAME_SIDE)
        t1 = time.perf_counter()
        out = session.live.step(image, t)
        t2 = time.perf_counter()
        data = encode_jpeg(out.image)
        t3 = time.perf_counter()
        session.frames += 1
        if session.recording and len(session.images) < MAX_RECORD:
            now = time.perf_counter() - session.started
            session.images.append(out.image)
            session.times.append(now)
            session.targets.append(out.target)
        info = {"state": out.state, "decode_ms": 1000 * (t1 - t0), "step_ms": 1000 * (t2 - t1),
                "encode_ms": 1000 * (t3 - t2), "server_ms": 1000 * (t3 - t0)}
        return data, info

    def record(self, session: CameraSession, on: bool) -> dict:
        """Start, or stop and write: the MP4 (frames placed at their arrival times, 25 fps) and the tracks."""
        if on:
            session.images, session.targets, session.times = [], [], []
            session.started, session.recording = time.perf_counter(), True
            return {"recording": True}
        session.recording = False
        if not session.images:
            raise RigError("nothing was recorded: no frame came back while recording")
        return self._write(session)

    def _write(self, session: CameraSession) -> dict:
        from morphable.animation import params_to_values, tracks_from_params
        from morphable.livelink import write_livelink

        from ..live.run import even_frames
        from ..outputs import Outputs
        from ..provenance.label import labeller_for

        fps = 25.0
        times = np.asarray(session.times) - session.times[0]
        slots = np.minimum(np.floor(times * fps + 1e-6).astype(int), len(times) * 50)
        video = [session.images[np.searchsorted(slots, k, side="right") - 1] for k in range(int(slots[-1]) + 1)]
        rows = [(t, p) for t, p in zip(times, session.targets) if p is not None]
        folder = Path(tempfile.mkdtemp(dir=self.folder, prefix="live-"))
        provenance = labeller_for("app live recording", "photo",
                                  {"source": "camera-driven photo (rig.live)", "frames": len(session.images)})
        names = {"video": "facerig_live.mp4"}
        with Outputs(provenance=provenance) as out:
            out.video(folder / names["video"], even_frames(np.stack(video)), fps)
            if rows:
                from morphable.params import FaceParams

                params = FaceParams.cat([p for _, p in rows])
                t = [float(a) - float(rows[0][0]) for a, _ in rows]
                names["tracks"], names["csv"] = "facerig_live_tracks.json", "facerig_live.csv"
                out.file(folder / names["tracks"], tracks_from_params(params, fps, times=t).save)
                out.file(folder / names["csv"], lambda tmp: write_livelink(tmp, t, params_to_values(params), fps))
        base = f"{ROUTE}/file/{folder.name}"
        return {"recording": False, "frames": len(session.images), "tracked": len(rows),
                "files": {k: f"{base}/{v}" for k, v in names.items()}}

    def file(self, folder: str, name: str) -> Path:
        """A written recording's path; KeyError for anything else (no path escapes the recordings' folder)."""
        path = (self.folder / folder / name).resolve()
        if not folder.startswith("live-") or "/" in name or path.parent.parent != self.folder.resolve() \
                or not path.is_file():
            raise KeyError("no such recording")
        return path


def _text(message: str, status: int) -> Response:
    return Response(message, status_code=status, media_type="text/plain")


def add_routes(app, engine, folder: str | Path | None = None) -> Cameras:
    """Serve the Live page and its routes on the Gradio server's FastAPI `app`, ahead of Gradio's catch-all."""
    from fastapi.responses import FileResponse, HTMLResponse

    from .camera_page import page_html
    from .engine import USER_ERRORS, public_message

    cams = Cameras(engine, folder or tempfile.mkdtemp(prefix="facerig-live-"))

    def page() -> HTMLResponse:
        return HTMLResponse(page_html(ROUTE), headers={"Cache-Control": "no-store"})

    async def photo(request: Request) -> Response:
        body, key = await request.body(), request.query_params.get("key")
        try:
            image = decode_image(body, "photo") if body else None
            if image is None and not key:
                raise RigError("choose a photo first")
            sid, session = await _in_thread(cams.new, image, key)
        except USER_ERRORS as exc:
            return _text(public_message(exc), 422)
        h, w = session.live.size
        return Response(json.dumps({"session": sid, "width": w, "height": h}), media_type="application/json")

    async def frame(request: Request) -> Response:
        body = await request.body()
        try:
            session = cams.get(request.query_params.get("session"))
        except KeyError as exc:
            return _text(str(exc.args[0]), 404)
        if not session.lock.acquire(blocking=False):
            return _text("busy: this frame is dropped", 409)
        try:
            t = request.query_params.get("t")
            t = float(t) / 1000.0 if t and t.replace(".", "", 1).isdigit() else None
            data, info = await _in_thread(cams.frame, session, body, t)
        except USER_ERRORS as exc:
            return _text(public_message(exc), 422)
        finally:
            session.lock.release()
        headers = {"Cache-Control": "no-store", "X-Facerig-State": info["state"],
                   "X-Facerig-Server-Ms": f"{info['server_ms']:.1f}", "Access-Control-Expose-Headers": "*"}
        return Response(data, media_type="image/jpeg", headers=headers)

    async def record(request: Request) -> Response:
        try:
            session = cams.get(request.query_params.get("session"))
        except KeyError as exc:
            return _text(str(exc.args[0]), 404)
        try:   # not under the session's lock: a frame in flight may add itself to the recording, no harm
            result = await _in_thread(cams.record, session, request.query_params.get("on") == "1")
        except USER_ERRORS as exc:
            return _text(public_message(exc), 422)
        return Response(json.dumps(result), media_type="application/json")

    def file(folder: str, name: str) -> Response:
        try:
            path = cams.file(folder, name)
        except KeyError as exc:
            return _text(str(exc.args[0]), 404)
        return FileResponse(path, filename=name)

    app.add_api_route(ROUTE, page, methods=["GET"])
    app.add_api_route(f"{ROUTE}/photo", photo, methods=["POST"])
    app.add_api_route(f"{ROUTE}/frame", frame, methods=["POST"])
    app.add_api_route(f"{ROUTE}/record", record, methods=["POST"])
    app.add_api_route(ROUTE + "/file/{folder}/{name}", file, methods=["GET"])
    for _ in range(5):   # ahead of Gradio's catch-all routes
        app.router.routes.insert(0, app.router.routes.pop())
    return cams


async def _in_thread(fn, *args):
    """Run blocking work off the event loop (the server keeps answering other pages meanwhile)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)
