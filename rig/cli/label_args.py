"""The writing commands' provenance options (--no-label, --no-watermark, --sign-cert/--sign-key) and their labeller.

Not a command: the command modules that write images or videos call `add_label_args(parser)` in
`register` and build their Outputs with `labeller(args, ...)` at the start of the handler, so a bad
signing key fails in one line before any slow work.
"""
from __future__ import annotations

import argparse
from pathlib import Path

#: options never recorded in an output's metadata (signing files, the handler) or recorded by name only
_SKIP = {"func", "command", "sign_cert", "sign_key", "no_label", "no_watermark"}
#: what the label records as the bundle of a command run by the photo engine (it uses no rig bundle)
PHOTO_ENGINE = "none: the photo engine (the photo's own pixels, warped along the 3DMM flow)"
_PATHS = {"photo", "latent", "driver", "tracks", "generator", "bundle", "model", "input", "output", "out",
          "side_by_side", "gltf", "csv", "mesh", "tracks_out"}


def add_label_args(parser: argparse.ArgumentParser) -> None:
    """Add --no-label, --no-watermark, --sign-cert, --sign-key to a command that writes images or videos."""
    g = parser.add_argument_group("provenance (docs/provenance.md)")
    g.add_argument("--no-label", action="store_true",
                   help="do not claim synthetic origin in metadata or sign a manifest (research use); the opt-out "
                        "itself is recorded, and the invisible watermark stays unless --no-watermark")
    g.add_argument("--no-watermark", action="store_true", help="do not add the invisible watermark")
    g.add_argument("--sign-cert", metavar="CHAIN.pem", default=None,
                   help="sign a C2PA manifest with this certificate chain (leaf first; or $FACERIG_SIGN_CERT)")
    g.add_argument("--sign-key", metavar="KEY.pem", default=None,
                   help="the certificate's private key, unencrypted PEM (or $FACERIG_SIGN_KEY)")


def recorded_parameters(args: argparse.Namespace) -> dict:
    """The command's options as written into metadata: paths by file name only, signing options never."""
    out = {}
    for key, value in sorted(vars(args).items()):
        if key in _SKIP or value is None or callable(value):
            continue
        if key in _PATHS and isinstance(value, (str, Path)):
            value = Path(value).name
        out[key] = value if isinstance(value, (bool, int, float, str, list, dict)) else str(value)
    return out


def labeller(args: argparse.Namespace, command: str, source: str = "generated", generator: str | None = None,
             bundle: str | None = None):
    """The rig.provenance Labeller for this command run (checks the signing files now)."""
    from ..provenance.c2pa_manifest import signing_key_from
    from ..provenance.label import LabelInfo, Labeller

    no_label = bool(getattr(args, "no_label", False))
    key = None if no_label else signing_key_from(getattr(args, "sign_cert", None), getattr(args, "sign_key", None))
    if bundle is None and getattr(args, "bundle", "unset") is None:
        bundle = "assets/rig/dcgan64 (default)"
    info = LabelInfo(command=command, parameters=recorded_parameters(args), source=source,
                     generator=generator, bundle=bundle if bundle is None else str(bundle), label=not no_label,
                     watermark=not bool(getattr(args, "no_watermark", False)), signing=key)
    return Labeller(info)
