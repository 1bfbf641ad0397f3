"""`facerig reenact`: make one photo (or seed / latent) perform a driving video's expressions and motion."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .cli_args import bounded_int, check_output
from .cli_fit import LANDMARK_BACKENDS
from .errors import RigError


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("reenact", help="a photo performs a driving video (expression and head motion)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--photo", help="source photo (inverted into the rig's generator)")
    src.add_argument("--latent", help="LATENT.npz from `facerig invert` (skips inversion)")
    src.add_argument("--seed", type=bounded_int(0, 2**31 - 1), help="a generated source face")
    r.add_argument("--driver", required=True, help="driving video (MP4, ...) or a folder of frames")
    r.add_argument("-o", "--out", required=True, help="OUT.mp4, OUT.gif, or a folder for PNG frames")
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--relative", dest="relative", action="store_true", default=True,
                      help="apply the driver's motion since its first frame (default; the source keeps its neutral)")
    mode.add_argument("--absolute", dest="relative", action="store_false", help="copy the driver's values")
    r.add_argument("--blocks", default="expression,pose", help="blocks to transfer: expression, pose, light")
    r.add_argument("--no-clamp", dest="clamp", action="store_false", default=True,
                   help="do not clamp transferred pose/expression into the bundle's trained range (extrapolates)")
    r.add_argument("--side-by-side", action="store_true", help="driver frame | result in each frame")
    r.add_argument("--tracks-out", default=None, help="also write the commanded parameters as tracks (.json/.yaml)")
    r.add_argument("--bundle", default=None, help="rig bundle folder (default assets/rig/dcgan64)")
    r.add_argument("--landmarks", choices=LANDMARK_BACKENDS, default=None,
                   help="landmark backend that tracks the driver (default: the one the bundle's estimator was "
                        "labelled with, its manifest's 'landmarks'; dlib for bundles that do not say)")
    r.add_argument("--steps", type=bounded_int(1, 5000), default=300, help="inversion steps for --photo")
    r.add_argument("--max-frames", type=bounded_int(1, 100000), default=None)
    r.add_argument("--fps", type=float, default=None, help="frame rate of a frame folder (default 25)")
    r.add_argument("--size", type=bounded_int(16, 1024), default=256, help="output frame size (upscaled)")
    r.set_defaults(func=cmd_reenact)


def source_latent(rig, args, photo: np.ndarray | None = None):
    """(1,num_ws,w_dim) latent of the source: inverted photo (already read), stored latent, or seed."""
    if photo is None:
        from .cli_rig import source_latents

        return source_latents(rig, args.latent, args.seed)[:1]
    from gan.inversion import invert

    from .align import align_face
    from .cli_invert import photo_to_tensor

    aligned, _, _ = align_face(photo, rig.G.img_resolution, name=str(args.photo))
    return invert(rig.G, photo_to_tensor(aligned).to(rig.device), steps=args.steps, seed=0).ws.to(rig.device)


def cmd_reenact(args: argparse.Namespace) -> int:
    from morphable.fit.track import track_frames
    from morphable.fit.video_io import open_frames
    from morphable.landmarks_fa import backend_by_name
    from morphable.params import FaceParams

    from .cli_rig import load_rig
    from .reenact import check_blocks, reenact
    from .video import upscale, write_video

    out = Path(args.out)
    if out.suffix:
        check_output(out, (".mp4", ".gif"))
    tracks_out = check_output(args.tracks_out, (".json", ".yaml", ".yml")) if args.tracks_out else None
    blocks = check_blocks([b.strip() for b in args.blocks.split(",") if b.strip()])
    if not Path(args.driver).exists():
        raise RigError(f"driver not found: {args.driver}")
    photo = None
    if args.photo is not None:  # read it now: a bad photo fails before the driver is tracked
        from .cli_invert import read_photo

        photo = read_photo(args.photo)
    rig = load_rig(args.bundle)
    frames_iter, fps = open_frames(args.driver, fps=args.fps, max_frames=args.max_frames)
    driver_frames = list(frames_iter)
    if not driver_frames:
        raise RigError(f"no frames in {args.driver}")
    landmarks = args.landmarks or rig.landmarks
    track = track_frames(rig.model, driver_frames, fps=fps, backend=backend_by_name(landmarks), progress=True)
    ok = sum(f.ok for f in track.frames)
    if ok == 0:
        raise RigError(f"no face found in any frame of {args.driver}")
    driver = FaceParams.cat([f.params for f in track.frames])
    ws = source_latent(rig, args, photo)
    result = reenact(rig, ws, driver, blocks, relative=args.relative, clamp=args.clamp)
    frames = upscale(result.frames, args.size)
    if args.side_by_side:
        frames = np.concatenate([upscale(_square(driver_frames), args.size), frames], axis=2)
    write_video(out, frames, fps)
    print(f"wrote {out}: {len(frames)} frames at {fps:g} fps; driver face found in {ok}/{len(frames)} frames ({landmarks}); "
          f"{'relative' if args.relative else 'absolute'} {', '.join(blocks)}; {clamp_note(rig, args.clamp, result)}")
    if tracks_out is not None:
        from morphable.animation import tracks_from_params

        # the transferred performance before the rig's clamp: a 3DMM (glTF, `facerig animate`) can play it all
        tracks_from_params(result.transferred, fps, blocks=tuple(b for b in blocks if b != "light")).save(tracks_out)
        print(f"wrote {tracks_out}")
    return 0


def clamp_note(rig, clamp: bool, result) -> str:
    """How the trained-range clamp was applied, for the summary line."""
    if not clamp:
        return "not clamped (--no-clamp)"
    if rig.trained_range is None:
        return "not clamped (the bundle stores no trained range)"
    return f"clamped to the trained range in {100 * result.clamped:.0f}% of frames"


def _square(frames: list[np.ndarray]) -> np.ndarray:
    """Centre-crop frames to squares so they sit beside the generated ones."""
    h, w = frames[0].shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return np.stack([f[y:y + s, x:x + s] for f in frames])
