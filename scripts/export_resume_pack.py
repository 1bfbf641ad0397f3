"""Export a training run's checkpoint as a small resume pack (and optionally its G_ema in fp16).

    .venv/bin/python scripts/export_resume_pack.py RUN_DIR assets/gan/utkface64-resume.safetensors \
        [--g-ema assets/gan/utkface64.safetensors]

The pack holds G, D, G_ema (fp16, w_avg fp32), kimg and step; the optimiser and RNG states are
dropped. `python -m gan.train ... --resume --init-from PACK` starts a new run folder from it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan.checkpoint import save_generator  # noqa: E402
from gan.errors import GanError  # noqa: E402
from gan.networks import Generator  # noqa: E402
from gan.train_state import CHECKPOINT_NAME, load_checkpoint, save_resume_pack  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run folder holding checkpoint.pt")
    ap.add_argument("pack", help="resume pack to write (.safetensors)")
    ap.add_argument("--g-ema", help="also write the EMA generator here, fp16")
    args = ap.parse_args(argv)
    try:
        ckpt = load_checkpoint(Path(args.run) / CHECKPOINT_NAME)
        save_resume_pack(args.pack, ckpt)
        if args.g_ema:
            G = Generator(**ckpt["network_config"])
            G.load_state_dict(ckpt["G_ema"])
            kimg = round(ckpt["cur_nimg"] / 1000, 3)
            save_generator(G, args.g_ema, fp16=True, info={"kimg": kimg, "dataset": Path(ckpt["config"]["data"]).name,
                                                            "step": int(ckpt["step"])})
    except (GanError, OSError) as exc:
        print(f"export_resume_pack: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.pack} ({Path(args.pack).stat().st_size / 1e6:.1f} MB) at {ckpt['cur_nimg'] / 1000:.1f} kimg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
