"""`facerig app`: a local web page to steer a face with sliders (rig.app, Gradio)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import RigError
from .common import bounded_int


def register(sub: argparse._SubParsersAction) -> None:
    app = sub.add_parser("app", help="a local web app: sliders for pose, 52 ARKit expressions and light")
    app.add_argument("--port", type=bounded_int(1, 65535), default=7860, help="TCP port (default 7860)")
    app.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)")
    app.add_argument("--bundle", default=None, help="rig bundle folder (default: assets/rig/dcgan64)")
    app.add_argument("--size", type=bounded_int(64, 1024), default=256, help="image size on the page (default 256)")
    app.add_argument("--threads", type=bounded_int(1, 256), default=1,
                     help="torch threads (default 1: a slider update is batch-1 work, and on a busy 2-core machine "
                          "two threads made a 3DMM render 60x slower; docs/app.md)")
    app.add_argument("--preview", choices=("auto", "bf16", "fp32"), default="auto",
                     help="StyleGAN2 bundles: dtype of the live image while a slider moves (default auto: bf16 where "
                          "the CPU has AVX512-BF16 or AMX, 2-4x faster here, ~1/100 of the image's spread from fp32); "
                          "downloads stay fp32; the DCGAN ignores it")
    app.add_argument("--bf16", action="store_true",
                     help="StyleGAN2 bundles: the downloads in bf16 too (docs/gan.md); the DCGAN ignores it")
    app.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    app.set_defaults(func=cmd_app)


def cmd_app(args: argparse.Namespace) -> int:
    from rig.app.server import port_free

    if args.bundle is not None and not Path(args.bundle).exists():
        raise RigError(f"rig bundle not found: {args.bundle}")
    try:
        free = port_free(args.host, args.port)
    except OSError as exc:  # an address this machine does not have
        raise RigError(f"cannot listen on {args.host}: {exc.strerror or exc}") from None
    if not free:
        raise RigError(f"port {args.port} on {args.host} is in use; pick another with --port")
    import torch

    torch.set_num_threads(args.threads)
    from rig.app import start

    running = start(args.bundle, args.host, args.port, open_browser=not args.no_browser, size=args.size,
                    bf16=args.bf16, preview=args.preview)
    print(f"facerig app: {running.url}  (Ctrl-C stops it)", flush=True)
    try:
        running.blocks.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        running.close()
    return 0
