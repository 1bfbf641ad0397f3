"""`facerig animate`: keyframed parameter tracks -> a face performing them (MP4/GIF), glTF, CSV."""
from __future__ import annotations

import argparse

from ..errors import RigError
from .common import add_bf16_arg, bounded_int, load_bundle, seed_arg
from .label_args import add_label_args, labeller


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("animate", help="animate a face with keyframed tracks: video, glTF morph animation, CSV")
    src = a.add_mutually_exclusive_group(required=True)
    src.add_argument("--seed", type=seed_arg, help="generate the face from this seed")
    src.add_argument("--latent", help="LATENT.npz from `facerig invert`")
    a.add_argument("--tracks", required=True,
                   help="TRACKS.json or .yaml (docs/animation.md), the TRACK.jsonl `facerig track` writes, or a CSV "
                        "(Live Link Face's layout, or facerig's own time,... columns)")
    a.add_argument("--fps", type=int, default=None,
                   help="timecode frame rate of a Live Link Face CSV given to --tracks (default: read from the "
                        "timecode where it passes a whole second)")
    a.add_argument("-o", "--out", required=True, help="OUT.mp4, OUT.gif, or a folder for PNG frames")
    a.add_argument("--gltf", default=None, help="also write the 3DMM head with ARKit morph targets + animation (.glb)")
    a.add_argument("--csv", default=None,
                   help="also write the performance as Live Link Face's CSV (52 ARKit weights, head and eye "
                        "rotation; docs/animation.md)")
    a.add_argument("--bundle", default=None, help="rig bundle folder (default assets/rig/dcgan64)")
    add_bf16_arg(a)
    a.add_argument("--truncation", type=float, default=1.0)
    a.add_argument("--size", type=bounded_int(16, 1024), default=256, help="output frame size (upscaled)")
    add_label_args(a)
    a.set_defaults(func=cmd_animate)


def cmd_animate(args: argparse.Namespace) -> int:
    from morphable.gltf import export_gltf
    from morphable.livelink import tracks_to_livelink

    from ..engine import flows, open_engine
    from ..inputs import read_tracks
    from ..outputs import VIDEO_SUFFIXES, Outputs

    with Outputs(provenance=labeller(args, "animate")) as outputs:
        out = outputs.expect(args.out, VIDEO_SUFFIXES, folder_ok=True)
        gltf = outputs.expect(args.gltf, (".glb",))
        csv = outputs.expect(args.csv, (".csv",))
        if args.fps is not None and args.fps < 1:
            raise RigError(f"--fps must be a positive whole number, got {args.fps}")
        tracks = read_tracks(args.tracks, rate=args.fps)
        face = open_engine(load_bundle(args), seed=args.seed, latent=args.latent, truncation=args.truncation,
                           engine="gan", size=None)
        frames, _ = flows.animate(face, tracks, progress=True)
        outputs.video(out, face.video(frames, args.size), tracks.fps)
        if gltf is not None:
            outputs.file(gltf, lambda tmp: export_gltf(face.model, tmp, params=face.params(), animation=tracks,
                                                       fps=tracks.fps))
        if csv is not None:
            outputs.file(csv, lambda tmp: tracks_to_livelink(tracks, tmp))
    print(f"wrote {out} ({len(frames)} frames at {tracks.fps:g} fps)")
    if gltf is not None:
        print(f"wrote {gltf} (3DMM head, 52 ARKit morph targets, {tracks.num_frames} keyframes)")
    if csv is not None:
        print(f"wrote {csv} (Live Link Face CSV, {tracks.num_frames} rows)")
    return 0
