"""The app's slider step on a photo, by photo size: the live route's server time with the preview crop.

    nice -n 10 python -m bench.bench_app_photo --out docs/bench_app_photo.json

Photos of 0.26 MP (NASA's astronaut portrait as shipped, 512 px), 2.1 MP (1448 px), 12 MP (3464 px)
and 48 MP (8000x6000, a phone's frame: the portrait enlarged to 6000 px and mirrored out at the sides):
the portrait Lanczos-enlarged, with its fit's frame scaled and moved the same way (the fit itself is not
timed: it runs once per upload; what the page builds on top of it, PhotoEngine and its preview crop, is
timed as "preview_build_ms"). Each slider step is one GET of the live route (rig.app.live, FastAPI's test
client: parse, move, draw, PNG encode) alternating yaw and smile values, as a drag sends them.

The preview cropped around the face (rig.engine.photo.preview_rig, the app) is timed in rounds that visit
every size in turn, so all sizes share the same minutes of a shared machine's load; per step: the route's
wall time, the process's CPU time (less sensitive to other jobs) and the server's own time (Engine.live,
without the PNG and the client). Then the whole photo warped (the app before issue 25), fewer steps where
that is slow, up to 12 MP only (a 48 MP step takes seconds and says nothing new).
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

from .common import machine_info, stats, write_result

#: name -> (width, height)
SIZES = {"0.26MP": (512, 512), "2.1MP": (1448, 1448), "12MP": (3464, 3464), "48MP": (8000, 6000)}
#: the whole-photo mode is timed up to this many pixels
FULL_MAX_PIXELS = 12_000_000


def _steps(client, engine, key: str, count: int, start: int = 0) -> list[tuple[float, float, float]]:
    """(wall ms, CPU ms, server ms) per live-route request: `count` steps of a drag over yaw and the smile,
    the drag's position continuing from step `start`."""
    from rig.app.live import ROUTE

    out = []
    for i in range(start, start + count):
        params = {"key": key, "yaw": -10 + 2.0 * (i % 10)} if i % 2 == 0 else \
            {"key": key, "mouthSmileLeft": 0.05 * (i % 10), "mouthSmileRight": 0.05 * (i % 10)}
        c0, t0 = time.process_time(), time.perf_counter()
        reply = client.get(ROUTE, params=params)
        out.append((1000 * (time.perf_counter() - t0), 1000 * (time.process_time() - c0), engine.update_ms[-1]))
        assert reply.status_code == 200, reply.text
    return out


def _timings(rows: list[tuple[float, float, float]]) -> dict:
    a = np.asarray(rows, dtype=float).reshape(-1, 3)
    return {"steps": len(a), "ms": stats(a[:, 0]), "cpu_ms": stats(a[:, 1]), "server_ms": stats(a[:, 2])}


def photo_of(image: np.ndarray, frame: list[float], size: tuple[int, int]) -> tuple[np.ndarray, list[float]]:
    """A square photo enlarged to `size`'s height (Lanczos), mirrored out at the sides to its width, and the
    fit frame [x0, y0, side] moved with it."""
    from PIL import Image

    w, h = size
    scale = h / image.shape[0]
    big = image if h == image.shape[0] else np.asarray(Image.fromarray(image).resize((h, h), Image.LANCZOS))
    left = (w - h) // 2
    if w > h:
        big = np.ascontiguousarray(np.pad(big, ((0, 0), (left, w - h - left), (0, 0)), mode="symmetric"))
    return big, [frame[0] * scale + left, frame[1] * scale, frame[2] * scale]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/bench_app_photo.json")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per size in the crop mode")
    ap.add_argument("--rounds", type=int, default=4, help="rounds over the sizes the crop mode's steps are split in")
    args = ap.parse_args(argv)
    import torch
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from rig.app import live
    from rig.app.engine import Engine
    from rig.engine.photo import PhotoEngine
    from rig.photo.photo_rig import PhotoRig

    torch.set_num_threads(1)   # the app draws one face at a time
    load_start = list(os.getloadavg())
    engine = Engine(size=256)
    app = FastAPI()
    live.add_route(app, engine)
    client = TestClient(app)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = engine.portrait().photo_rig
    fit_s = time.perf_counter() - t0
    rows, rigs, keys = {}, {}, {}
    for name, size in SIZES.items():
        image, frame = photo_of(base.image, base.frame, size)
        rigs[name] = PhotoRig(image, base.params, frame, base.builder)
        t0 = time.perf_counter()
        src = PhotoEngine(rigs[name])
        build_ms = 1000 * (time.perf_counter() - t0)
        keys[name] = engine.add_source(src, "photo")
        _steps(client, engine, keys[name], 2)   # warm-up (the crop's eyes are found on its first render)
        rows[name] = {"photo_px": list(size), "megapixels": round(size[0] * size[1] / 1e6, 2),
                      "preview_build_ms": build_ms, "crop": {"live_px": list(src.preview_rig.image.shape[:2])}}
    per_round = max(1, args.steps // args.rounds)
    crop: dict[str, list] = {name: [] for name in SIZES}
    for r in range(args.rounds):   # every size in each round: the sizes share the machine's load
        for name in SIZES:
            crop[name] += _steps(client, engine, keys[name], per_round, start=r * per_round)
    for name in SIZES:
        rows[name]["crop"].update(_timings(crop[name]))
        print(f"{name} crop: {rows[name]['crop']}", flush=True)
    for name, (w, h) in SIZES.items():
        if w * h > FULL_MAX_PIXELS:
            rows[name]["full"] = f"not timed above {FULL_MAX_PIXELS / 1e6:g} MP"
            continue
        src = PhotoEngine(rigs[name])
        src.preview_rig = rigs[name]
        key = engine.add_source(src, "photo")
        count = args.steps if max(w, h) <= 512 else max(3, args.steps // 5)
        _steps(client, engine, key, 2)   # warm-up
        rows[name]["full"] = {"live_px": list(src.preview_rig.image.shape[:2]), **_timings(_steps(client, engine, key, count))}
        print(f"{name} full: {rows[name]['full']}", flush=True)
    write_result(args.out, {"machine": {**machine_info(), "loadavg_start": load_start}, "portrait_fit_s": fit_s,
                            "rounds": args.rounds, "photos": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
