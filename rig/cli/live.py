"""`facerig live`: a camera (or a clip paced like one) drives a photo in real time; prints fps, latency and drops."""
from __future__ import annotations

import argparse
import json
import os
import sys

from .common import FPS_RANGE, LANDMARK_BACKENDS, add_face_arg, bounded_int, face_of, positive_float
from .label_args import PHOTO_ENGINE, add_label_args, labeller

#: rig.photo.mouth.FILLERS, live's default first (named here: the CLI's start-up does not import torch)
MOUTH_FILLERS = ("gan-small", "gan", "model")


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("live", help="a camera, or a clip played at its own pace, drives a photo live (photo engine)")
    r.add_argument("--photo", required=True, help="the photo to animate (fitted once, warped per frame)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--driver", help="a clip played as a camera at its own frame rate (frames that arrive while "
                                      "one is processed are dropped)")
    src.add_argument("--camera", type=bounded_int(0, 63), metavar="N", help="camera number N (needs OpenCV)")
    r.add_argument("-o", "--out", default=None, help="record what was shown: OUT.mp4 (labelled)")
    r.add_argument("--tracks-out", default=None,
                   help="also write the photo's commanded parameters per answered frame (.json/.yaml tracks, or "
                        ".csv in Live Link Face's layout)")
    r.add_argument("--side-by-side", action="store_true", help="record the camera frame beside the answer")
    r.add_argument("--size", type=bounded_int(64, 1024), default=256, help="output height in px (default 256)")
    r.add_argument("--seconds", type=positive_float(3600), default=None,
                   help="stop after this many seconds (a camera runs until Ctrl-C otherwise)")
    r.add_argument("--max-frames", type=bounded_int(1, 100_000), default=None, help="read at most this many frames")
    r.add_argument("--fps", type=positive_float(FPS_RANGE[1]), default=None,
                   help="frame rate of a frame folder given as --driver (default 25)")
    r.add_argument("--landmarks", choices=LANDMARK_BACKENDS, default=None,
                   help="landmark backend for fitting the photo (the live frames use MediaPipe's mesh in video mode)")
    r.add_argument("--pipeline", dest="pipelined", action=argparse.BooleanOptionalAction, default=None,
                   help="track the next frame in a second thread while this one is warped (default: on with 2+ "
                        "CPU cores; more frames a second, the same latency per frame)")
    r.add_argument("--mouth", choices=MOUTH_FILLERS, default=None,
                   help="what fills an opened mouth: gan-small (the default here: the trained inpainter distilled, "
                        "the mouth stage in about half the time), gan (the batch commands' inpainter) or model (the 3DMM's teeth and cavity, plainer)")
    r.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    add_face_arg(r)
    add_label_args(r)
    r.set_defaults(func=cmd_live)


def cmd_live(args: argparse.Namespace) -> int:
    import torch

    from ..live.record import TRACK_SUFFIXES, write_run
    from ..live.run import run_live
    from ..live.session import LiveSession
    from ..live.sources import Camera, PacedClip
    from ..outputs import Outputs
    from ..inputs import read_photo

    torch.set_num_threads(1)   # batch-1 work per frame: a second thread only waits (docs/app.md)
    with Outputs(provenance=labeller(args, "live", source="edited-photo", bundle=PHOTO_ENGINE),
                 inputs=[args.photo, args.driver]) as outputs:
        out = outputs.expect(args.out, (".mp4",))
        tracks_out = outputs.expect(args.tracks_out, TRACK_SUFFIXES)
        face = face_of(args)
        photo = read_photo(args.photo)
        source = PacedClip(args.driver, args.fps, args.max_frames) if args.driver else Camera(args.camera)
        try:   # both inputs checked before the fit
            session, notes = LiveSession.from_photo(photo, size=args.size, fps=source.fps, landmarks=args.landmarks,
                                                    face=face, mouth=args.mouth)
        except BaseException:
            source.close()
            raise
        for line in notes:
            print(line, file=sys.stderr)
        print(f"live: {source.name} at {source.fps:g} fps -> {session.size[1]}x{session.size[0]} px; Ctrl-C stops",
              file=sys.stderr)
        pipelined = args.pipelined if args.pipelined is not None else (os.cpu_count() or 1) >= 2
        run = run_live(session, source, record=out is not None or tracks_out is not None,
                       side_by_side=args.side_by_side, max_seconds=args.seconds, pipelined=pipelined)   # Ctrl-C ends it, files kept
        if run.processed == 0:
            from ..errors import RigError

            raise RigError(f"no frames from {source.name}")
        write_run(outputs, run, out, tracks_out)
    summary = run.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        lat = summary["latency_ms"]
        tracked = summary["states"].get("tracking", 0)
        print(f"{summary['fps']} fps answered; latency p50 {lat['p50']} / p90 {lat['p90']} / p99 {lat['p99']} ms; "
              f"{run.processed} frames answered, {run.dropped} dropped; face tracked in {tracked}, "
              f"settling {summary['states'].get('settling', 0)}, held {summary['states'].get('held', 0)}")
        print("median ms: " + ", ".join(f"{k} {v}" for k, v in summary["stage_ms_median"].items()))
    for path in (out, tracks_out):
        if path is not None:
            print(f"wrote {path}")
    return 0
