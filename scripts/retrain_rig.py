"""Retrain the rig from scratch with the current fitter: pairs -> estimator F -> RigNet -> bundle -> bench.

Each stage runs the project's own command in a subprocess (printed before it runs) and its wall
time goes to WORK/retrain_log.json, so a full run tells how long each stage took on its machine.
Stages can be picked (--stages) to redo only part of a run; later stages read earlier outputs
from WORK. Usage (full scale, the default bundle's recipe):

    python scripts/retrain_rig.py out/retrain --bundle out/retrain/bundle
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("pairs", "estimator", "rignet", "bundle", "bench")


class StageError(Exception):
    """A stage failed; the message is one line."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="scripts/retrain_rig.py", description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path, help="working folder: estimator/, rig_run/, bench/, retrain_log.json")
    ap.add_argument("--bundle", type=Path, default=None, help="where the finished bundle goes (default WORK/bundle)")
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    ap.add_argument("--generator", default="dcgan", help="'dcgan' or a generator checkpoint")
    ap.add_argument("--chunks", type=int, default=10, help="pairs files (seeds SEED0 .. SEED0+CHUNKS-1)")
    ap.add_argument("--pairs-per-chunk", type=int, default=1000)
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="pairs chunks fitted at the same time (one thread each)")
    ap.add_argument("--fit-batch", type=int, default=64, help="images per fit batch")
    ap.add_argument("--landmarks", choices=("auto", "mediapipe", "dlib"), default="auto",
                    help="landmark backend that labels the pairs (recorded in them, F and the bundle)")
    ap.add_argument("--estimator-args", default="", help="extra arguments for `facerig rig estimator`, e.g. '--epochs 5'")
    ap.add_argument("--rig-steps", type=int, default=2400)
    ap.add_argument("--rig-batch", type=int, default=32)
    ap.add_argument("--render-batch", type=int, default=4)
    ap.add_argument("--resume", action="store_true", help="continue the RigNet run in WORK/rig_run")
    ap.add_argument("--identity-proxy", type=Path, default=None, help="identity proxy for RigNet's identity loss (`facerig rig proxy`)")
    ap.add_argument("--identity-weight", type=float, default=None, help="its weight (with --identity-proxy)")
    ap.add_argument("--bench-n", type=int, default=200, help="faces for bench_rig (0: skip it)")
    ap.add_argument("--floor-n", type=int, default=100, help="faces for the identity floor (0: skip it)")
    ap.add_argument("--speed-reps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of every stage")
    args = ap.parse_args(argv)
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [s for s in args.stages if s not in STAGES]
    if bad or not args.stages:
        ap.error(f"--stages takes a subset of {','.join(STAGES)}; got {','.join(bad) or 'nothing'}")
    for name in ("chunks", "pairs_per_chunk", "jobs", "rig_steps", "threads"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    # every stage runs with cwd=ROOT: paths given relative to the caller's folder are made absolute here
    args.work = args.work.resolve()
    args.bundle = (args.bundle or args.work / "bundle").resolve()
    if args.generator not in ("dcgan", "package:gan_face_generate"):
        if not Path(args.generator).is_file():
            ap.error(f"--generator: no generator checkpoint at {args.generator}")
        args.generator = str(Path(args.generator).resolve())
    if (args.identity_proxy is None) != (args.identity_weight is None):
        ap.error("--identity-proxy and --identity-weight go together")
    if args.identity_proxy is not None:
        if not 0 < args.identity_weight <= 1000:
            ap.error(f"--identity-weight must be in (0, 1000], got {args.identity_weight:g}")
        args.identity_proxy = args.identity_proxy.resolve()
        check_proxy(ap, args.identity_proxy)
    return args


def check_proxy(ap: argparse.ArgumentParser, path: Path) -> None:
    """Fail now (not after hours of pairs and F) when the identity proxy file is missing or unreadable."""
    if not path.is_file():
        ap.error(f"--identity-proxy: no identity proxy at {path}")
    sys.path.insert(0, str(ROOT))
    from rig.errors import RigError
    from rig.training.identity_proxy import load_proxy

    try:
        load_proxy(path)
    except RigError as exc:
        ap.error(f"--identity-proxy: {exc}")


def chunk_paths(args: argparse.Namespace) -> list[Path]:
    return [args.work / "estimator" / "chunks" / f"pairs_{args.seed0 + k}.npz" for k in range(args.chunks)]


def commands(args: argparse.Namespace) -> dict[str, list[list[str]]]:
    """The command lines of each stage ('bundle' is done in-process: no command)."""
    py, est = sys.executable, args.work / "estimator"
    out: dict[str, list[list[str]]] = {"pairs": [
        [py, "-m", "rig.cli", "rig", "pairs", "--generator", args.generator, "--n", str(args.pairs_per_chunk),
         "--seed", str(args.seed0 + k), "--batch", str(args.fit_batch), "--landmarks", args.landmarks,
         "--out", str(p)]
        for k, p in enumerate(chunk_paths(args))]}
    out["estimator"] = [[py, "-m", "rig.cli", "rig", "estimator", "--generator", args.generator, "--out", str(est),
                         "--pairs", *map(str, chunk_paths(args)), *shlex.split(args.estimator_args)]]
    out["rignet"] = [[py, "-m", "rig.cli", "rig", "train", "--generator", args.generator,
                      "--estimator", str(est / "estimator.safetensors"), "--out", str(args.work / "rig_run"),
                      "--steps", str(args.rig_steps), "--batch", str(args.rig_batch),
                      "--render-batch", str(args.render_batch)] + (["--resume"] if args.resume else [])
                     + (["--identity-proxy", str(args.identity_proxy), "--identity-weight", str(args.identity_weight)]
                        if args.identity_proxy else [])]
    bench = args.work / "bench"
    out["bench"] = []
    if args.bench_n > 0:
        out["bench"].append([py, "-m", "bench.bench_rig", "--bundle", str(args.bundle), "--n", str(args.bench_n),
                             "--pairs", str(est / "pairs.npz"), "--out", str(bench / "rig_measured.json"),
                             "--img-dir", str(bench / "img"), "--save-baseline", str(bench / "baseline_linear.npz"),
                             "--threads", str(args.threads), "--speed-reps", str(args.speed_reps)])
    if args.floor_n > 0:
        out["bench"].append([py, "-m", "bench.bench_rig", "--bundle", str(args.bundle), "--n", str(args.floor_n),
                             "--threads", str(args.threads),
                             "--identity-floor", str(bench / "rig_identity_floor.json")])
    return out


def run_parallel(cmds: list[list[str]], jobs: int, env: dict) -> None:
    """Run commands, at most `jobs` at once; StageError on the first failure."""
    pending, running = list(cmds), []
    while pending or running:
        while pending and len(running) < jobs:
            cmd = pending.pop(0)
            print("+ " + shlex.join(cmd), flush=True)
            running.append((cmd, subprocess.Popen(cmd, cwd=ROOT, env=env)))
        time.sleep(0.2)
        for item in list(running):
            cmd, proc = item
            if proc.poll() is not None:
                running.remove(item)
                if proc.returncode != 0:
                    for _, other in running:
                        other.terminate()
                    raise StageError(f"{shlex.join(cmd[1:4])} ... failed with exit code {proc.returncode}")


def run(args: argparse.Namespace) -> dict:
    """Run the chosen stages in order; returns the log (also written to WORK/retrain_log.json)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmds = commands(args)
    log_path = args.work / "retrain_log.json"
    log = json.loads(log_path.read_text()) if log_path.is_file() else {"stages": {}}
    args.work.mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        if stage not in args.stages:
            continue
        t0 = time.perf_counter()
        print(f"== stage {stage}", flush=True)
        if stage == "bundle":
            from rig.bundle import copy_bundle
            from rig.errors import RigError

            try:
                copy_bundle(args.work / "rig_run", args.bundle)
            except RigError as exc:
                raise StageError(str(exc)) from None
            print(f"copied the bundle to {args.bundle}", flush=True)
        else:
            run_parallel(cmds[stage], args.jobs if stage == "pairs" else 1, env)
        seconds = time.perf_counter() - t0
        log["stages"][stage] = {"seconds": round(seconds, 1), "commands": [shlex.join(c) for c in cmds.get(stage, [])],
                                "load_average_end": list(os.getloadavg())}
        log_path.write_text(json.dumps(log, indent=1) + "\n")
        print(f"== stage {stage} done in {seconds:.0f} s", flush=True)
    return log


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    try:
        run(args)
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
