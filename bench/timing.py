"""Small timing helpers shared by the benchmarks: medians after warm-up, machine facts."""
from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable

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
