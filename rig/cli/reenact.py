"""`facerig reenact`: make one photo (or seed / latent) perform a driving video's expressions and motion."""
from __future__ import annotations

import argparse
import sys

from .common import (FPS_RANGE, LANDMARK_BACKENDS, add_bf16_arg, add_face_arg, bounded_int, face_of, load_bundle,
                     photo_engine_bf16_note, positive_float, seed_arg)
from .label_args import PHOTO_ENGINE, add_label_args, labeller


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("reenact", help="a photo performs a driving video (expression and head motion)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--photo", help="source photo (warped by the photo engine; --engine gan inverts it)")
    src.add_argument("--latent", help="LATENT.npz from `facerig invert` (skips inversion)")
    src.add_argument("--seed", type=seed_arg, help="a generated source face")
    r.add_argument("--driver", required=True, help="driving video (MP4, ...) or a folder of frames")
    r.add_argument("--engine", choices=("warp", "gan"), default=None,
                   help="warp: the photo's own pixels move along the fitted 3DMM (default with --photo; keeps "
                        "the person and the photo's resolution); gan: invert the photo into the rig's generator")
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
    add_bf16_arg(r)
    r.add_argument("--landmarks", choices=LANDMARK_BACKENDS, default=None,
                   help="landmark backend that tracks the driver (default: the one the bundle's estimator was "
                        "labelled with, its manifest's 'landmarks'; dlib for bundles that do not say)")
    r.add_argument("--steps", type=bounded_int(1, 5000), default=300, help="inversion steps for --photo")
    r.add_argument("--max-frames", type=bounded_int(1, 10_000), default=None,
                   help="read at most this many driver frames (at most 10,000)")
    r.add_argument("--fps", type=positive_float(FPS_RANGE[1]), default=None,
                   help=f"frame rate of a frame folder (default 25; above 0, at most {FPS_RANGE[1]:g})")
    r.add_argument("--size", type=bounded_int(16, 1024), default=None,
                   help="output frame size: the GAN engine's square frames (default 256); the photo engine keeps "
                        "the photo's resolution unless this is given, then scales its frames to this height")
    add_face_arg(r)
    add_label_args(r)
    r.set_defaults(func=cmd_reenact)


def cmd_reenact(args: argparse.Namespace) -> int:
    """The source face (rig.engine.open_engine: a photo warped or inverted, a seed, a latent) performs the driver."""
    from ..engine import flows, open_engine
    from ..engine.choose import default_engine
    from ..errors import RigError
    from ..inputs import open_driver, read_photo
    from ..outputs import VIDEO_SUFFIXES, Outputs
    from morphable.transfer import check_blocks

    engine = args.engine or default_engine(bool(args.photo))
    if engine == "warp" and not args.photo:
        raise RigError("--engine warp needs --photo (a seed or latent has no photo to warp; use --engine gan)")
    if engine == "gan" and args.face is not None:
        raise RigError("--face picks a face for the photo engine; the gan engine aligns the photo's largest face")
    warp = engine == "warp"
    with Outputs(provenance=labeller(args, "reenact", source=_label_source(args), bundle=PHOTO_ENGINE if warp else None),
                 inputs=[args.photo, args.latent, args.driver]) as outputs:
        out = outputs.expect(args.out, VIDEO_SUFFIXES, folder_ok=True)
        face = face_of(args) if warp else 1
        tracks_out = outputs.expect(args.tracks_out, (".json", ".yaml", ".yml"))
        blocks = check_blocks([b.strip() for b in args.blocks.split(",") if b.strip()])
        if warp:
            photo_engine_bf16_note(args)
        rig = None if warp else load_bundle(args)
        photo = read_photo(args.photo) if args.photo else None         # both inputs checked before any fit
        clip = open_driver(args.driver, fps=args.fps, max_frames=args.max_frames)
        face_engine = open_engine(rig, photo=photo, seed=args.seed, latent=args.latent, engine=engine, face=face,
                                  landmarks=args.landmarks, inversion_steps=args.steps, size=None, name=args.photo,
                                  progress=True)
        result = flows.reenact(face_engine, clip, blocks, relative=args.relative, clamp=args.clamp,
                               landmarks=args.landmarks, progress=True, name=str(args.driver))
        for line in face_engine.notes + result.notes:
            print(line, file=sys.stderr)
        frames = face_engine.video(result.frames, args.size)
        if args.side_by_side:
            frames = face_engine.beside(result.driver.frames, frames, args.size)
        outputs.video(out, frames, result.driver.fps)
        if tracks_out is not None:
            from morphable.animation import tracks_from_params

            # the transferred performance before any clamp: a 3DMM (glTF, `facerig animate`) can play it all
            played = tracks_from_params(result.transferred, result.driver.fps,
                                        blocks=tuple(b for b in blocks if b != "light"))
            outputs.file(tracks_out, played.save)
    d = result.driver
    mode = f"{'relative' if args.relative else 'absolute'} {', '.join(blocks)}"
    if warp:
        print(f"wrote {out}: {len(frames)} frames of {frames.shape[2]}x{frames.shape[1]} at {d.fps:g} fps (photo "
              f"engine); driver face found in {d.found}/{len(frames)} frames ({d.landmarks}); {mode}")
    else:
        print(f"wrote {out}: {len(frames)} frames at {d.fps:g} fps; driver face found in {d.found}/{len(frames)} "
              f"frames ({d.landmarks}); {mode}; {clamp_note(rig, args.clamp, result)}")
    if tracks_out is not None:
        print(f"wrote {tracks_out}")
    return 0


def clamp_note(rig, clamp: bool, result) -> str:
    """How the trained-range clamp was applied, for the summary line."""
    if not clamp:
        return "not clamped (--no-clamp)"
    if rig.trained_range is None:
        return "not clamped (the bundle stores no trained range)"
    return f"clamped to the trained range in {100 * result.clamped:.0f}% of frames"


def _label_source(args: argparse.Namespace) -> str:
    """A warped real photo is a composite; a generated (or inverted and re-synthesised) face is generated."""
    return "edited-photo" if getattr(args, "photo", None) and getattr(args, "engine", None) != "gan" else "generated"
