"""The photo engine's part of `make demo`, facerig's first look: a real portrait edited and performing.

Without PHOTO the demo uses NASA's public-domain portrait of astronaut Eileen Collins, which ships in
scikit-image's wheel (skimage.data.astronaut, 512x512); `make demo PHOTO=me.jpg` uses the user's photo.
Written: an edit grid (pose, expression, light), one edit at the photo's resolution, a keyframed
performance (a smile, a blink, a head turn; captioned MP4) and a reenactment by a rendered 3DMM clip.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .photo.portrait import PORTRAIT_CREDIT, PORTRAIT_SHORT, portrait, portrait_rig  # noqa: F401


#: the grid's columns: (caption, PhotoRig.target keywords, relative to the photo where it says so)
GRID = [
    ("photo", None), ("yaw -20", {"yaw": -20, "relative": True}), ("yaw +20", {"yaw": 20, "relative": True}),
    ("pitch +15", {"pitch": 15, "relative": True}), ("jawOpen .5", {"expression": {"jawOpen": 0.5}}),
    ("smile +.6", {"expression": {"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6}, "relative": True}),
    ("blink", {"expression": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}}), ("light left", {"light": "left"}),
]
#: tiles of the grid and frames of the videos: a square crop around the face this many pixels on a side
#: (the single edit keeps the photo's full size)
MAX_SIDE = 320
#: the crop's side in fit-frame sides: the face and hair fill it, as a viewer would frame an edit
CROP_MARGIN = 1.4
#: the keyframed performance, offsets from the photo's own fit: a smile, a blink, a head turn (seconds, value)
PERFORMANCE_FPS = 12
PERFORMANCE = {
    "mouthSmileLeft": [(0.0, 0.0), (0.3, 0.0), (1.0, 0.6), (1.6, 0.6), (2.1, 0.0)],
    "mouthSmileRight": [(0.0, 0.0), (0.3, 0.0), (1.0, 0.6), (1.6, 0.6), (2.1, 0.0)],
    "eyeBlinkLeft": [(0.0, 0.0), (2.3, 0.0), (2.45, 1.0), (2.6, 1.0), (2.8, 0.0)],
    "eyeBlinkRight": [(0.0, 0.0), (2.3, 0.0), (2.45, 1.0), (2.6, 1.0), (2.8, 0.0)],
    "yaw": [(0.0, 0.0), (3.0, 0.0), (3.7, -22.0), (4.5, 22.0), (5.2, 0.0), (5.5, 0.0)],
}
#: what the performance's caption says when (start second, text)
CAPTIONS = [(0.0, "a smile"), (2.2, "a blink"), (2.9, "a head turn")]


def _smooth_keys(keys: list[tuple[float, float]], times: np.ndarray) -> np.ndarray:
    """Values at `times` eased between keys (smoothstep per segment: starts and stops without a jolt)."""
    t_keys = np.array([k[0] for k in keys])
    v_keys = np.array([k[1] for k in keys])
    i = np.clip(np.searchsorted(t_keys, times, side="right") - 1, 0, len(keys) - 2)
    span = np.maximum(t_keys[i + 1] - t_keys[i], 1e-9)
    u = np.clip((times - t_keys[i]) / span, 0.0, 1.0)
    u = u * u * (3.0 - 2.0 * u)
    return v_keys[i] + (v_keys[i + 1] - v_keys[i]) * u


def performance_targets(rig, fps: int = PERFORMANCE_FPS):
    """(FaceParams with one row per frame, captions per frame): the photo's fit plus the PERFORMANCE offsets."""
    from morphable.params import FaceParams

    duration = max(k[-1][0] for k in PERFORMANCE.values())
    times = np.arange(int(round(duration * fps)) + 1) / fps
    values = {name: _smooth_keys(keys, times) for name, keys in PERFORMANCE.items()}
    rows = []
    for f in range(len(times)):
        expr = {n: float(v[f]) for n, v in values.items() if n != "yaw"}
        rows.append(rig.target(yaw=float(values["yaw"][f]), expression=expr, relative=True))
    captions = [next(text for start, text in reversed(CAPTIONS) if t >= start) for t in times]
    return FaceParams.cat(rows), captions


def captioned(frames: np.ndarray, captions: list[str], credit: str) -> np.ndarray:
    """Frames with a strip below each: the caption (what the face does) and the photo's credit."""
    from PIL import Image, ImageDraw, ImageFont

    t, h, w = frames.shape[:3]
    strip = max(28, h // 10)
    big = ImageFont.load_default(size=max(12, strip // 2))
    small = ImageFont.load_default(size=max(9, strip // 4))
    out = np.zeros((t, h + strip, w, 3), np.uint8)
    out[:, :h] = frames
    for i, text in enumerate(captions):
        canvas = Image.fromarray(out[i])
        draw = ImageDraw.Draw(canvas)
        draw.text((8, h + 2), text, fill=(255, 255, 255), font=big)
        draw.text((8, h + strip - strip // 4 - 3), f"facerig photo engine -- {credit}", fill=(170, 170, 170),
                  font=small)
        out[i] = np.asarray(canvas)
    return out


def run_photo_demo(out: Path, photo: str | os.PathLike | None = None, reenact: bool = True) -> list[Path]:
    """Write photo_edit_grid.png, photo_edit.png (photo's resolution), photo_performance.mp4 and (with
    `reenact`) photo_reenact.mp4 into `out`."""
    from morphable.clip import demo_tracks, render_clip

    from .frames import labelled_grid, to_height
    from .outputs import Outputs
    from .inputs import read_photo
    from .provenance.label import labeller_for
    from .engine import flows
    from .engine.photo import PhotoEngine, fit_photo, preview_rig

    import time

    t0 = time.perf_counter()
    if photo is None:
        image, credit = portrait(), PORTRAIT_SHORT
        print(f"photo engine: {PORTRAIT_CREDIT}; `make demo PHOTO=me.jpg` uses yours")
        rig = portrait_rig()
        notes = [f"warning: {w}" for w in rig.fit_warnings]
    else:
        image, credit = read_photo(photo), Path(photo).name
        print(f"photo engine: {photo} ({image.shape[1]}x{image.shape[0]})")
        rig, notes = fit_photo(image)
    for line in notes:
        print(line)
    p = rig.params.to_dict()["pose"]
    print(f"  fitted yaw {p['yaw']:+.1f}, pitch {p['pitch']:+.1f} deg ({time.perf_counter() - t0:.1f} s)")
    # the grid and videos warp a crop around the face (rig.engine.photo.preview_rig): the face fills the frame
    face = preview_rig(rig, MAX_SIDE, CROP_MARGIN)
    tiles = [face.image if kw is None else face.render(face.target(**kw)) for _, kw in GRID]
    h = min(MAX_SIDE, face.image.shape[0])
    with Outputs(provenance=labeller_for("demo", "photo", {"photo": "shipped portrait" if photo is None else "user"})) \
            as outputs:
        outputs.image(out / "photo_edit_grid.png",
                      labelled_grid([[to_height(t[None], h)[0] for t in tiles]], None, [[c for c, _ in GRID]]))
        outputs.image(out / "photo_edit.png", rig.render(rig.target(
            yaw=15, expression={"mouthSmileLeft": 0.4, "mouthSmileRight": 0.4}, relative=True)))
        print(f"  edits ({time.perf_counter() - t0:.1f} s)")
        targets, captions = performance_targets(face)
        frames = to_height(face.frames(targets), h)
        outputs.video(out / "photo_performance.mp4", captioned(frames, captions, credit), PERFORMANCE_FPS)
        print(f"  performance, {len(frames)} frames ({time.perf_counter() - t0:.1f} s)")
        if reenact:
            tracks = demo_tracks()
            driver, _ = render_clip(face.model, tracks, size=128, identity_seed=2)
            result = flows.reenact(PhotoEngine(face), (list(driver), tracks.fps), name="the demo clip")
            side = np.concatenate([to_height(driver, h), to_height(result.frames, h)], axis=2)
            outputs.video(out / "photo_reenact.mp4", side, tracks.fps)
            print(f"  reenactment by a rendered 3DMM clip ({time.perf_counter() - t0:.1f} s)")
    return list(outputs.written)
