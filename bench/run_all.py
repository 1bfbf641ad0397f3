"""`make bench`: run every benchmark in turn; each writes its JSON (and pictures) under docs/."""
from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    ["-m", "bench.bench_render", "--out", "docs/bench_render.json"],
    ["-m", "bench.bench_fit"],
    ["-m", "bench.bench_gan", "--threads", "1", "2", "--out", "docs/bench_gan.json"],
    ["-m", "bench.bench_raster", "--out", "docs/bench_raster.json"],
    ["-m", "bench.bench_app", "--out", "docs/bench_app.json"],
    ["-m", "bench.bench_inversion", "--out", "docs/inversion_measured.json"],
    ["-m", "bench.bench_rig", "--bundle", "assets/rig/dcgan64", "--n", "200"],
    ["-m", "bench.bench_reenact", "--sources", "16"],
    ["-m", "bench.bench_photo", "--photos", "60", "--reenact", "12"],
    ["-m", "bench.bench_photo_gan", "--photos", "6"],
    ["-m", "bench.bench_provenance", "--out", "docs/provenance.json"],
)


def main() -> int:
    failed = 0
    for args in BENCHMARKS:
        print(f"== python {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, *args]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
