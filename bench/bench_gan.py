"""Synthesis speed of the StyleGAN2 generator (reference vs inference path) and the DCGAN backend.

    nice -n 10 python -m bench.bench_gan [--repeats 5] [--threads 1 2] --out docs/bench_gan.json

Images per second at 64 and 128 px, batch 1 and 16, for the default architecture
(channel_base 16384, channel_max 512), random weights (speed does not depend on their values),
constant noise, no gradients. Each configuration times three implementations back to back,
repeat by repeat: the reference layers (the training path, what synthesis ran before the
inference path existed), the fp32 inference path (gan/fast.py) and the same in bf16. The
ratios come from one run, so they hold on a noisy, shared machine even when the absolute
numbers do not. The fp32 and bf16 rows also record their largest pixel difference from the
reference on the benchmark's own images.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from gan.networks import Generator

from .common import machine_info, write_result

IMPLS = {"reference": dict(impl="reference"), "fast-fp32": dict(impl="fast"),
         "fast-bf16": dict(impl="fast", compute_dtype=torch.bfloat16)}


def bench_config(G, batch: int, repeats: int) -> list[dict]:
    """Median seconds of each implementation, interleaved so that load changes hit all alike."""
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ws = G.mapping(z, truncation_psi=0.7)
        images = {name: G.synthesis(ws, noise_mode="const", **kw) for name, kw in IMPLS.items()}  # warm-up
        times: dict[str, list[float]] = {name: [] for name in IMPLS}
        for _ in range(repeats):
            for name, kw in IMPLS.items():
                t0 = time.perf_counter()
                G.synthesis(ws, noise_mode="const", **kw)
                times[name].append(time.perf_counter() - t0)
    ref_median = statistics.median(times["reference"])
    rows = []
    for name in IMPLS:
        med = statistics.median(times[name])
        diff = (images[name] - images["reference"]).abs()
        rows.append({"impl": name, "batch": batch, "ms_per_image": 1000 * med / batch,
                     "images_per_s": batch / med, "images_per_s_best": batch / min(times[name]),
                     "speedup_vs_reference": ref_median / med, "max_abs_diff": float(diff.max()),
                     "mean_abs_diff": float(diff.mean()), "image_std": float(images["reference"].std())})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    ap.add_argument("--out", default="docs/bench_gan.json")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    before = machine_info()
    for threads in args.threads:
        torch.set_num_threads(threads)
        for res in (64, 128):
            torch.manual_seed(res)
            G = Generator(img_resolution=res, channel_base=16384, channel_max=512).eval()
            params = sum(p.numel() for p in G.parameters())
            for batch in (1, 16):
                for row in bench_config(G, batch, args.repeats):
                    row = {"generator": f"stylegan2-{res}", "resolution": res, "parameters": params,
                           "threads": threads, **row}
                    rows.append(row)
                    print(f"threads {threads} {row['generator']:>14} batch {batch:>2} {row['impl']:>10}: "
                          f"{row['ms_per_image']:7.1f} ms/img  x{row['speedup_vs_reference']:.2f}  "
                          f"max diff {row['max_abs_diff']:.1e}", flush=True)
        try:
            from gan.dcgan import load_dcgan

            G = load_dcgan().eval()
            for batch in (1, 16):
                z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(0))
                with torch.no_grad():
                    G.synthesis(G.mapping(z), noise_mode="const")
                    ts = []
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        G.synthesis(G.mapping(z), noise_mode="const")
                        ts.append(time.perf_counter() - t0)
                med = statistics.median(ts)
                rows.append({"generator": "dcgan-64", "resolution": 64, "threads": threads, "impl": "dcgan",
                             "parameters": sum(p.numel() for p in G.parameters()), "batch": batch,
                             "ms_per_image": 1000 * med / batch, "images_per_s": batch / med})
                print(f"threads {threads} dcgan-64 batch {batch:>2}: {1000 * med / batch:.2f} ms/img", flush=True)
        except Exception as exc:  # the DCGAN weights package is optional for this bench
            print(f"dcgan skipped: {exc}")
    result = {"benchmark": "gan synthesis: reference vs inference path", "machine_before": before,
              "machine_after": machine_info(), "repeats": args.repeats, "rows": rows}
    write_result(out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
