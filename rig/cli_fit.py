"""`facerig fit` (one photo -> params JSON, overlay, mesh) and `facerig track` (video -> JSONL)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .cli_args import bounded_int, check_output
from .errors import RigError

#: --landmarks choices (morphable.landmarks_fa.BACKEND_NAMES; kept literal so --help needs no imports)
LANDMARK_BACKENDS = ("auto", "mediapipe", "dlib", "face-alignment")


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

    track = sub.add_parser("track", help="track a face through a video or a folder of frames (JSONL)")
    track.add_argument("source", help="video file (MP4, ...) or a folder of frames (sorted by name)")
    track.add_argument("-o", "--out", required=True, help="output TRACK.jsonl")
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


def _read_image(path: str):
    import imageio.v3 as iio

    p = Path(path)
    if not p.is_file():
        raise RigError(f"photo not found: {p}")
    try:
        img = iio.imread(p)
    except Exception as exc:  # imageio raises many types for non-images
        raise RigError(f"{p} is not a readable image ({type(exc).__name__})") from None
    if img.ndim == 4:  # animated formats: first frame
        img = img[0]
    if img.ndim not in (2, 3) or min(img.shape[:2]) < 8:
        raise RigError(f"{p} is not a usable image (shape {tuple(img.shape)})")
    return img


def _write_mesh(model, params, path: Path) -> None:
    """Posed mesh via morphable.export when present, else trimesh (atomic either way)."""
    try:
        from morphable.export import export_mesh
    except ImportError:
        export_mesh = None
    if export_mesh is not None:
        export_mesh(model, params, path)
        return
    import trimesh
    from morphable.fileio import atomic_output

    verts = model.vertices(params)[0].detach().cpu().numpy()
    mesh = trimesh.Trimesh(verts, model.faces.cpu().numpy(), process=False)
    with atomic_output(path) as tmp:
        mesh.export(tmp)


def _write_text(path: Path, text: str) -> None:
    from morphable.fileio import atomic_output

    with atomic_output(path) as tmp:
        tmp.write_text(text)


def cmd_fit(args: argparse.Namespace) -> int:
    import warnings

    import imageio.v3 as iio
    from morphable.fileio import atomic_output
    from morphable.fit import fit_image
    from morphable.fit.overlay import overlay_image
    from morphable.formats import load_model
    from morphable.landmarks import as_rgb_uint8

    out = check_output(args.out, (".json",))
    overlay = check_output(args.overlay, (".png", ".jpg", ".jpeg")) if args.overlay else None
    mesh = check_output(args.mesh, (".glb", ".obj", ".ply")) if args.mesh else None
    photo = as_rgb_uint8(_read_image(args.photo))
    from morphable.landmarks_fa import backend_by_name

    backend = backend_by_name(args.landmarks)
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
    _write_text(out, json.dumps(record, indent=1) + "\n")
    for w in diag.warnings:
        print(f"warning: {w}")
    print(f"wrote {out}: yaw {float(result.params.yaw[0]):+.1f}, pitch {float(result.params.pitch[0]):+.1f}, "
          f"roll {float(result.params.roll[0]):+.1f} deg; landmark residual {diag.landmark_error:.1f}% "
          f"of inter-ocular distance")
    if overlay is not None:
        with atomic_output(overlay) as tmp:
            iio.imwrite(tmp, overlay_image(model, photo, result.params, diag))
        print(f"wrote {overlay}")
    if mesh is not None:
        _write_mesh(model, result.params, mesh)
        print(f"wrote {mesh}")
    return 0


def cmd_track(args: argparse.Namespace) -> int:
    from morphable.fileio import atomic_output
    from morphable.fit.track import track_frames, write_jsonl
    from morphable.fit.video_io import open_frames
    from morphable.formats import load_model

    out = check_output(args.out, (".jsonl",))
    if args.fps is not None and not args.fps > 0:
        raise RigError(f"--fps must be positive, got {args.fps:g}")
    from morphable.landmarks_fa import backend_by_name

    frames, fps = open_frames(args.source, fps=args.fps, max_frames=args.max_frames)
    backend = backend_by_name(args.landmarks)
    model = load_model(args.model)
    track = track_frames(model, frames, fps=fps, smooth=args.smooth, identity_frames=args.identity_frames,
                         photometric=args.photometric, progress=True, backend=backend)
    with atomic_output(out) as tmp:
        write_jsonl(track, tmp)
    lost = sum(1 for f in track.frames if not f.ok)
    print(f"wrote {out}: {len(track.frames)} frames at {fps:g} fps, {lost} without a usable face")
    return 0
