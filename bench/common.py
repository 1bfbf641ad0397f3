"""Helpers shared by the benchmarks: timing medians after warm-up, summary statistics, machine facts."""
from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable

import numpy as np
import torch


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> tuple[float, float]:
    """(median, min) seconds of fn() over `repeats` runs after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def machine_info() -> dict:
    """What the numbers were measured on, including how loaded the machine was."""
    return {
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
        "loadavg": list(os.getloadavg()),
    }


def stats(x) -> dict:
    """n, mean, median, p90, max of the finite values."""
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    if not len(a):
        return {"n": 0}
    return {"n": int(len(a)), "mean": float(a.mean()), "median": float(np.median(a)),
            "p90": float(np.percentile(a, 90)), "max": float(a.max())}


def write_result(out, result: dict, indent: int = 2) -> None:
    """Write a benchmark's result as indented JSON (atomically) and say where."""
    import json
    from pathlib import Path

    from basics.atomic import atomic_output

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(result, indent=indent))
    print(f"wrote {out}")
