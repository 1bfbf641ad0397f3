"""`facerig animate`: keyframed parameter tracks -> a face performing them (MP4/GIF), glTF, CSV."""
from __future__ import annotations

import argparse
from pathlib import Path

from .cli_args import bounded_int, check_output


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("animate", help="animate a face with keyframed tracks: video, glTF morph animation, CSV")
    src = a.add_mutually_exclusive_group(required=True)
    src.add_argument("--seed", type=bounded_int(0, 2**31 - 1), help="generate the face from this seed")
    src.add_argument("--latent", help="LATENT.npz from `facerig invert`")
    a.add_argument("--tracks", required=True, help="TRACKS.json or .yaml (docs/animation.md)")
    a.add_argument("-o", "--out", required=True, help="OUT.mp4, OUT.gif, or a folder for PNG frames")
    a.add_argument("--gltf", default=None, help="also write the 3DMM head with ARKit morph targets + animation (.glb)")
    a.add_argument("--csv", default=None, help="also write the sampled per-frame parameters (.csv)")
    a.add_argument("--bundle", default=None, help="rig bundle folder (default assets/rig/dcgan64)")
    a.add_argument("--truncation", type=float, default=1.0)
    a.add_argument("--size", type=bounded_int(16, 1024), default=256, help="output frame size (upscaled)")
    a.set_defaults(func=cmd_animate)


def cmd_animate(args: argparse.Namespace) -> int:
    from morphable.animation import load_tracks

    from .animate import render_animation
    from .cli_rig import load_rig, source_latents
    from .video import upscale, write_video

    out = Path(args.out)
    if out.suffix:
        check_output(out, (".mp4", ".gif"))
    gltf = check_output(args.gltf, (".glb",)) if args.gltf else None
    csv = check_output(args.csv, (".csv",)) if args.csv else None
    tracks = load_tracks(args.tracks)
    rig = load_rig(args.bundle)
    ws = source_latents(rig, args.latent, args.seed, args.truncation)[:1]
    frames, targets = render_animation(rig, ws, tracks)
    write_video(out, upscale(frames, args.size), tracks.fps)
    print(f"wrote {out} ({len(frames)} frames at {tracks.fps:g} fps)")
    if gltf is not None:
        from morphable.gltf import export_gltf

        export_gltf(rig.model, gltf, params=rig.params(ws), animation=tracks, fps=tracks.fps)
        print(f"wrote {gltf} (3DMM head, 52 ARKit morph targets, {tracks.num_frames} keyframes)")
    if csv is not None:
        tracks.to_csv(csv)
        print(f"wrote {csv}")
    return 0
