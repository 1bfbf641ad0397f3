"""The app's slider step on a photo, by photo size: the live route's server time with the preview crop.

    nice -n 10 python -m bench.bench_app_photo --out docs/bench_app_photo.json

Photos of 0.26 MP (NASA's astronaut portrait as shipped, 512 px), 2.1 MP (1448 px) and 12 MP
(3464 px): the portrait Lanczos-enlarged, with its fit's frame scaled the same way (the fit itself
is not timed: it runs once per upload). Each slider step is one GET of the live route (rig.app.live,
FastAPI's test client: parse, move, draw, PNG encode) alternating yaw and smile values, as a drag
sends them; timed with the preview cropped around the face (rig.engine.photo.preview_rig, the app) and
with the whole photo warped (the app before issue 25), fewer steps where that is slow.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from .common import machine_info, stats, write_result

SIZES = {"0.26MP": 512, "2.1MP": 1448, "12MP": 3464}


def _steps(client, key: str, count: int) -> list[float]:
    """Milliseconds per live-route request, `count` steps of a drag over yaw and the smile."""
    from rig.app.live import ROUTE

    out = []
    for i in range(count):
        params = {"key": key, "yaw": -10 + 2.0 * (i % 10)} if i % 2 == 0 else \
            {"key": key, "mouthSmileLeft": 0.05 * (i % 10), "mouthSmileRight": 0.05 * (i % 10)}
        t0 = time.perf_counter()
        reply = client.get(ROUTE, params=params)
        out.append(1000 * (time.perf_counter() - t0))
        assert reply.status_code == 200, reply.text
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/bench_app_photo.json")
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    import torch
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from PIL import Image

    from rig.app import live
    from rig.app.engine import Engine
    from rig.engine.photo import PhotoEngine
    from rig.photo.photo_rig import PhotoRig

    torch.set_num_threads(1)   # the app draws one face at a time
    engine = Engine(size=256)
    app = FastAPI()
    live.add_route(app, engine)
    client = TestClient(app)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = engine.portrait().photo_rig
    fit_s = time.perf_counter() - t0
    rows = {}
    for name, side in SIZES.items():
        scale = side / base.image.shape[0]
        image = base.image if side == base.image.shape[0] else \
            np.asarray(Image.fromarray(base.image).resize((side, side), Image.LANCZOS))
        rig = PhotoRig(image, base.params, [v * scale for v in base.frame], base.builder)
        row = {"photo_px": [side, side], "megapixels": round(side * side / 1e6, 2)}
        for mode in ("crop", "full"):
            src = PhotoEngine(rig)
            if mode == "full":
                src.preview_rig = rig
            key = engine.add_source(src, "photo")
            count = args.steps if mode == "crop" or side <= 512 else max(3, args.steps // 5)
            _steps(client, key, 2)   # warm-up
            ms = _steps(client, key, count)
            row[mode] = {"live_px": list(src.preview_rig.image.shape[:2]), "steps": count, **stats(ms)}
            print(f"{name} {mode}: {row[mode]}", flush=True)
        rows[name] = row
    write_result(args.out, {"machine": machine_info(), "portrait_fit_s": fit_s, "photos": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
