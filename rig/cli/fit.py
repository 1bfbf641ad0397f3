"""`facerig fit` (one photo -> params JSON, overlay, mesh) and `facerig track` (video -> JSONL)."""
from __future__ import annotations

import argparse
import json

from ..errors import RigError
from .common import LANDMARK_BACKENDS, MESH_SUFFIXES, bounded_int


def register(sub: argparse._SubParsersAction) -> None:
    fit = sub.add_parser("fit", help="fit the 3D morphable model to a photo (params JSON, overlay, mesh)")
    fit.add_argument("photo", help="image file (PNG, JPEG, WebP, ...)")
    fit.add_argument("-o", "--out", required=True, help="output PARAMS.json")
    fit.add_argument("--model", default="default", help="'default', a .npz, an ICT folder, FLAME .pkl, BFM .mat/.h5")
    fit.add_argument("--overlay", default=None, help="also write the photo with the fit drawn on it (.png/.jpg)")
    fit.add_argument("--mesh", default=None, help="also write the fitted mesh (.glb, .obj or .ply)")
    fit.add_argument("--landmarks-only", action="store_true", help="skip the photometric stage (fast)")
    fit.add_argument("--frame", choices=("auto", "image", "face"), default="auto",
                     help="fit in the whole image or a square around the face (auto: whole image when "
                          "it is square and the face is large)")
    fit.add_argument("--allow-unreliable", action="store_true",
                     help="write the fit even when the landmark residual is over the threshold (flagged)")
    fit.add_argument("--landmarks", choices=LANDMARK_BACKENDS, default="auto",
                     help="landmark detector (auto: MediaPipe's face mesh when installed, else dlib; "
                          "face-alignment only where its weights are already cached)")
    fit.set_defaults(func=cmd_fit)

    track = sub.add_parser("track", help="track a face through a video or a folder of frames (JSONL, Live Link Face CSV)")
    track.add_argument("source", help="video file (MP4, ...) or a folder of frames (sorted by name)")
    track.add_argument("-o", "--out", default=None, help="output TRACK.jsonl (per-frame parameters)")
    track.add_argument("--csv", default=None,
                       help="output the performance as Live Link Face's CSV (52 ARKit weights, head and eye "
                            "rotation, timecode at the clip's frame rate; docs/animation.md)")
    track.add_argument("--model", default="default")
    track.add_argument("--smooth", choices=("one-euro", "savgol", "none"), default="one-euro",
                       help="temporal filter on pose and expression (default: one-euro, causal)")
    track.add_argument("--fps", type=float, default=None, help="frame rate of a frame folder (default 25)")
    track.add_argument("--identity-frames", type=bounded_int(1, 1000), default=8,
                       help="frames used to estimate the shared identity")
    track.add_argument("--max-frames", type=bounded_int(1, 10**7), default=None)
    track.add_argument("--photometric", action="store_true",
                       help="per-frame photometric refinement (slow on a CPU; default: landmarks + closed-form light)")
    track.add_argument("--landmarks", choices=LANDMARK_BACKENDS, default="auto",
                       help="landmark detector (auto: MediaPipe's face mesh when installed, else dlib)")
    track.set_defaults(func=cmd_track)


def cmd_fit(args: argparse.Namespace) -> int:
    import warnings

    from morphable.export import export_mesh
    from morphable.fit import fit_image
    from morphable.fit.overlay import overlay_image
    from morphable.formats import load_model
    from morphable.landmark_backends import finding_backend

    from ..outputs import Outputs
    from ..inputs import read_photo

    with Outputs() as outputs:
        out = outputs.expect(args.out, (".json",))
        overlay = outputs.expect(args.overlay, (".png", ".jpg", ".jpeg"))
        mesh = outputs.expect(args.mesh, MESH_SUFFIXES)
        photo = read_photo(args.photo)
        backend = finding_backend(args.landmarks)   # faces of any size found first (morphable.face_finder)
        model = load_model(args.model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit_image(model, photo, photometric=not args.landmarks_only, frame_mode=args.frame,
                               allow_unreliable=args.allow_unreliable, backend=backend)
        diag = result.diagnostics[0]
        record = result.params.to_dict(0)
        record["model"] = model.name
        record["image"] = str(args.photo)
        record["diagnostics"] = diag.to_dict()
        outputs.text(out, json.dumps(record, indent=1) + "\n")
        if overlay is not None:
            outputs.image(overlay, overlay_image(model, photo, result.params, diag))
        if mesh is not None:
            outputs.file(mesh, lambda tmp: export_mesh(model, result.params, tmp))
    for w in diag.warnings:
        print(f"warning: {w}")
    print(f"wrote {out}: yaw {float(result.params.yaw[0]):+.1f}, pitch {float(result.params.pitch[0]):+.1f}, "
          f"roll {float(result.params.roll[0]):+.1f} deg; landmark residual {diag.landmark_error:.1f}% "
          f"of inter-ocular distance")
    for path in outputs.written[1:]:
        print(f"wrote {path}")
    return 0


def cmd_track(args: argparse.Namespace) -> int:
    from morphable.fit.track import track_frames, write_jsonl
    from morphable.fit.video_io import open_frames
    from morphable.formats import load_model
    from morphable.landmark_backends import backend_by_name
    from morphable.livelink import track_to_livelink

    from ..outputs import Outputs

    if args.fps is not None and not args.fps > 0:
        raise RigError(f"--fps must be positive, got {args.fps:g}")
    if args.out is None and args.csv is None:
        raise RigError("give an output: -o TRACK.jsonl and/or --csv TAKE.csv")
    with Outputs() as outputs:
        out = outputs.expect(args.out, (".jsonl",))
        csv = outputs.expect(args.csv, (".csv",))
        frames, fps = open_frames(args.source, fps=args.fps, max_frames=args.max_frames)
        backend = backend_by_name(args.landmarks)
        model = load_model(args.model)
        track = track_frames(model, frames, fps=fps, smooth=args.smooth, identity_frames=args.identity_frames,
                             photometric=args.photometric, progress=True, backend=backend)
        if out is not None:
            outputs.file(out, lambda tmp: write_jsonl(track, tmp))
        if csv is not None:
            outputs.file(csv, lambda tmp: track_to_livelink(track, tmp))
    lost = sum(1 for f in track.frames if not f.ok)
    for path in outputs.written:
        print(f"wrote {path}: {len(track.frames)} frames at {fps:g} fps, {lost} without a usable face "
              f"(`facerig animate --tracks {path.name}` plays it)")
    return 0
