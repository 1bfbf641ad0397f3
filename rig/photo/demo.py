"""The photo engine's part of `make demo`: an edit grid and a reenactment of one photo.

`make demo PHOTO=me.jpg` uses the user's photo; without one, the demo uses a stand-in that is
nobody's real face (a textured 3DMM render, rig.photo.flows.stand_in_photo) and says so, since
no real person's photo ships with facerig.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: the grid's columns: (caption, PhotoRig.target keywords, relative to the photo where it says so)
GRID = [
    ("photo", None), ("yaw -20", {"yaw": -20, "relative": True}), ("yaw +20", {"yaw": 20, "relative": True}),
    ("pitch +15", {"pitch": 15, "relative": True}), ("jawOpen .6", {"expression": {"jawOpen": 0.6}}),
    ("smile .6", {"expression": {"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6}}),
    ("blink", {"expression": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}}), ("light left", {"light": "left"}),
]
#: tiles of the grid and frames of the video are at most this tall (the single edit keeps full size)
MAX_SIDE = 384


def run_photo_demo(out: Path, photo: str | os.PathLike | None = None) -> list[Path]:
    """Write photo_edit_grid.png, photo_edit.png (photo's resolution) and photo_reenact.mp4 into `out`."""
    from morphable.clip import demo_tracks, render_clip

    from ..frames import labelled_grid, to_height
    from ..outputs import Outputs
    from ..pipeline import read_photo
    from ..provenance.label import labeller_for
    from .flows import fit_photo, reenact_photo, stand_in_photo

    if photo is None:
        image = stand_in_photo(256)
        print("photo engine: no PHOTO given, using a stand-in that is nobody's real face (a textured 3DMM render); "
              "`make demo PHOTO=me.jpg` uses yours")
    else:
        image = read_photo(photo)
        print(f"photo engine: {photo} ({image.shape[1]}x{image.shape[0]})")
    rig, notes = fit_photo(image)
    for line in notes:
        print(line)
    p = rig.params.to_dict()["pose"]
    print(f"  fitted yaw {p['yaw']:+.1f}, pitch {p['pitch']:+.1f} deg")
    tiles = [rig.image if kw is None else rig.render(rig.target(**kw)) for _, kw in GRID]
    h = min(MAX_SIDE, image.shape[0])
    # a user's photo, edited, is an edited photo; the stand-in is a warped 3DMM render (algorithmic media)
    kind = "morphable" if photo is None else "photo"
    with Outputs(provenance=labeller_for("demo", kind, {"photo": "stand-in" if photo is None else "user"})) as outputs:
        outputs.image(out / "photo_edit_grid.png",
                      labelled_grid([[to_height(t[None], h)[0] for t in tiles]], None, [[c for c, _ in GRID]]))
        outputs.image(out / "photo_edit.png", tiles[2])
        tracks = demo_tracks()
        driver, _ = render_clip(rig.model, tracks, size=128, identity_seed=2)
        result = reenact_photo(rig, (list(driver), tracks.fps), name="the demo clip")
        side = np.concatenate([to_height(driver, h), to_height(result.frames, h)], axis=2)
        outputs.video(out / "photo_reenact.mp4", side, tracks.fps)
    return list(outputs.written)
