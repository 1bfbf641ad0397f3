"""Synthesis speed of the StyleGAN2 generator (and the DCGAN backend) on this CPU.

    python -m bench.bench_gan [--repeats 5] --out docs/bench_gan.json

Images per second at 64 and 128 px, batch 1 and 16, for the default 128 px architecture
(channel_base 16384, channel_max 512) and its 64 px sibling, with random weights (speed does
not depend on the values), constant noise, no gradients. All rows come from one run, so
their ratios are comparable even on a noisy machine.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gan.fileio import atomic_output
from gan.networks import Generator

from .common import machine_info, time_call


def bench_generator(G, batch: int, repeats: int) -> dict:
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(0))

    @torch.no_grad()
    def run():
        return G.synthesis(G.mapping(z), noise_mode="const")

    median, best = time_call(run, repeats=repeats)
    return {"batch": batch, "images_per_s": batch / median, "images_per_s_best": batch / best,
            "ms_per_image": 1000 * median / batch}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="docs/bench_gan.json")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    rows = []
    before = machine_info()
    for res in (64, 128):
        G = Generator(img_resolution=res, channel_base=16384, channel_max=512).eval()
        params = sum(p.numel() for p in G.parameters())
        for batch in (1, 16):
            row = {"generator": f"stylegan2-{res}", "resolution": res, "parameters": params,
                   **bench_generator(G, batch, args.repeats)}
            rows.append(row)
            print(f"{row['generator']:>14} batch {batch:>2}: {row['images_per_s']:7.2f} img/s "
                  f"({row['ms_per_image']:.1f} ms/img)", flush=True)
    try:
        from gan.dcgan import load_dcgan

        G = load_dcgan().eval()
        for batch in (1, 16):
            row = {"generator": "dcgan-64", "resolution": 64, "parameters": sum(p.numel() for p in G.parameters()),
                   **bench_generator(G, batch, args.repeats)}
            rows.append(row)
            print(f"{row['generator']:>14} batch {batch:>2}: {row['images_per_s']:7.2f} img/s", flush=True)
    except Exception as exc:  # the DCGAN weights package is optional for this bench
        print(f"dcgan skipped: {exc}")
    result = {"benchmark": "gan synthesis", "machine_before": before, "machine_after": machine_info(),
              "repeats": args.repeats, "rows": rows}
    with atomic_output(Path(args.out)) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
