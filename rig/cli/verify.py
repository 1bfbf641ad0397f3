"""`facerig verify FILE...`: look for facerig's labels (XMP metadata, C2PA manifest, watermark) in each file.

Exit code: 0 when every file is labelled, 1 when one or more carry no label, 2 when a file cannot be
read as an image or video (the worst code over all files wins).
"""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add `facerig verify`."""
    p = sub.add_parser("verify", help="check images / videos for facerig's provenance labels",
                       description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", metavar="FILE", help="PNG, JPEG, WebP, GIF or MP4 files")
    p.add_argument("--trust", metavar="CA.pem", default=None,
                   help="PEM trust anchors: a C2PA signer issued by one of them reports as trusted")
    p.add_argument("--json", action="store_true", help="print one JSON object per file instead of text")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify each file, print what was found, return the worst exit code."""
    import json
    from pathlib import Path

    from ..errors import RigError
    from ..provenance.verify import verify

    anchors = None
    if args.trust is not None:
        try:
            anchors = Path(args.trust).read_bytes()
        except OSError as exc:
            raise RigError(f"cannot read trust anchors {args.trust}: {exc.strerror}") from None
    worst = 0
    for name in args.files:
        report = verify(name, trust_anchors=anchors)
        if args.json:
            print(json.dumps(report.to_dict(), default=str))
        else:
            print("\n".join(report.lines()))
        worst = max(worst, report.exit_code)
    return worst
