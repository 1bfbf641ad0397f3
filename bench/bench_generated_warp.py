"""Generated faces, two engines: the rig network (RigNet moves the latent) vs the photo engine (the generated
face upscaled, fitted and warped: rig.engine.generated), on the same seeds and commands.

Control and identity are graded as bench_rig grades them (its Measure: a landmark-stage 3DMM fit of every
output with the bundle's landmark backend; dlib descriptors for identity), on what `facerig edit` writes:
both engines' outputs at rig.engine.generated.MIN_SIDE px, scaled to GRADE_SIDE for the grader. Also: does
the watermark survive a 75% resize + JPEG q75 at 64 px and at the upscaled sizes. Writes docs/generated_warp.json.
Usage: nice -n 10 python -m bench.bench_generated_warp --n 20
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_rig import (ANGLES, FAMILIES, SAME_PERSON, WEIGHTS, Measure, edit_kwargs,  # noqa: E402
                             family_value, identity_distances, shown, slope)
from bench.common import stats, write_result  # noqa: E402
from rig.face_rig import FaceRig, default_bundle  # noqa: E402
from rig.engine.generated import MIN_SIDE, at_least, generated_photo_rig  # noqa: E402

#: the grader's input size: the outputs (MIN_SIDE px) scaled down to this before the fit and descriptors (dlib's
#: detector scales with the pixel count; both engines are graded at the same size)
GRADE_SIDE = 256
#: the edit families compared (bench_rig's yaw, pitch, smile and jawOpen; commanded values drawn as it draws them)
COMPARED = ("yaw", "pitch", "smile", "jawOpen")
ENGINES = ("gan", "warp")


def attacked(image: np.ndarray) -> np.ndarray:
    """The image resized to 75% (Lanczos) and saved as JPEG quality 75: an ordinary re-share."""
    from rig.provenance import attacks

    return attacks.jpeg(attacks.resize(image, 0.75), 75)


def survives(images: list[np.ndarray]) -> dict:
    """Share of watermarked images still detected after `attacked`, and the median detection z."""
    from rig.provenance.label import LabelInfo, Labeller
    from rig.provenance.watermark import detect

    lab = Labeller(LabelInfo(command="bench"))
    found = [detect(attacked(lab.mark(img[None])[0])) for img in images]
    return {"n": len(found), "detected": int(sum(d.detected for d in found)),
            "median_z": float(np.median([d.z for d in found]))}


@torch.no_grad()
def gan_edits(rig: FaceRig, ws: torch.Tensor, family: str, commanded: np.ndarray) -> np.ndarray:
    """(N,S,S,3) the rig network's edits, upscaled as the CLI writes them."""
    out = []
    for i, v in enumerate(commanded):
        img = rig.to_uint8(rig.image(rig.edit(ws[i:i + 1], **edit_kwargs(family, v))))[0]
        out.append(at_least(img)[0])
    return np.stack(out)


def graded(meas: Measure, images: np.ndarray, desc: str) -> dict:
    """bench_rig's fit and descriptors of images scaled to GRADE_SIDE."""
    from rig.frames import to_height

    return meas.fit(to_height(images, GRADE_SIDE), desc)


def summarise(family: str, commanded: np.ndarray, orig: dict, fitted: dict, k_id: int) -> dict:
    """Control (fit of the output vs the command) and identity (dlib distance to the original) of one family."""
    v = family_value(fitted["flat"], family, k_id)
    v0 = family_value(orig["flat"], family, k_id)
    err = np.abs(v - commanded)
    dist = identity_distances(orig, fitted)
    fin = dist[np.isfinite(dist)]
    return {"edits": int(len(commanded)), "fit_ok": int(fitted["ok"].sum()),
            "control_error_fit": stats(err), "moved_toward_command": stats(np.sign(commanded - v0) * (v - v0)),
            "slope_fit_vs_commanded": slope(commanded, v),
            "identity": {"pairs_found_by_dlib": int(len(fin)), "distance": stats(dist),
                         f"share_below_{SAME_PERSON}": float(np.mean(fin < SAME_PERSON)) if len(fin) else None},
            "_err": err, "_dist": dist}


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    rig = FaceRig.load(args.bundle)
    meas, k_id = Measure(rig), rig.k_id
    seeds = list(range(args.seed, args.seed + args.n))
    ws0 = rig.sample(seeds)
    small = rig.to_uint8(rig.image(ws0))
    img0 = np.stack([at_least(im)[0] for im in small])
    orig = graded(meas, img0, "fit originals")
    # the photo engine's rigs (a seed whose drawn face is not found: no warp edits for it)
    rigs, failed = [], {}
    for s, seed in enumerate(seeds):
        try:
            rigs.append(generated_photo_rig(rig, ws0[s:s + 1])[0])
        except Exception as exc:  # noqa: BLE001 -- a UserError: recorded, the seed left out
            rigs.append(None)
            failed[seed] = str(exc)
    rng = np.random.default_rng(args.seed)
    values = {"yaw": ANGLES, "pitch": ANGLES, "smile": WEIGHTS, "jawOpen": WEIGHTS}
    commanded = {fam: rng.choice(values[fam], size=args.n) for fam in COMPARED}
    res: dict = {"bundle": shown(Path(args.bundle)), "seeds": [seeds[0], seeds[-1]], "n": args.n,
                 "min_side": MIN_SIDE, "warp_fit_failed": failed, "families": {}, "torch_threads": args.threads,
                 "load_average_start": os.getloadavg(),
                 "grader": f"bench_rig.Measure: landmark-stage fit ({meas.landmarks}) of each {MIN_SIDE} px output "
                           f"scaled to {GRADE_SIDE} px; dlib 128-D descriptors vs the (upscaled) original"}
    raw: dict = {e: {"pose": [], "expr": [], "dist": []} for e in ENGINES}
    outputs: dict = {e: [] for e in ENGINES}
    render_s = []
    for fam in COMPARED:
        res["families"][fam] = {}
        cmd = commanded[fam]
        gan = gan_edits(rig, ws0, fam, cmd)
        warp = []
        for i, pr in enumerate(rigs):
            if pr is None:
                warp.append(np.zeros_like(img0[i]))   # graded as a miss (no face)
                continue
            t = time.perf_counter()
            warp.append(pr.render(pr.target(**edit_kwargs(fam, cmd[i]))))
            render_s.append(time.perf_counter() - t)
        for engine, imgs in (("gan", gan), ("warp", np.stack(warp))):
            summ = summarise(fam, cmd, orig, graded(meas, imgs, f"fit {engine} {fam}"), k_id)
            raw[engine]["pose" if fam in ("yaw", "pitch") else "expr"] += list(summ.pop("_err"))
            raw[engine]["dist"] += list(summ.pop("_dist"))
            res["families"][fam][engine] = summ
            outputs[engine] += list(imgs[:args.watermark_n])
            print(f"{engine:4s} {fam:8s} err {summ['control_error_fit'].get('mean', float('nan')):.3f} "
                  f"id<{SAME_PERSON} {summ['identity'][f'share_below_{SAME_PERSON}']}", flush=True)
    res["overall"] = {}
    for engine in ENGINES:
        dist = np.asarray(raw[engine]["dist"], float)
        fin = dist[np.isfinite(dist)]
        res["overall"][engine] = {"pose_error_fit_deg": stats(raw[engine]["pose"]),
                                  "expression_error_fit": stats(raw[engine]["expr"]),
                                  "identity_distance": stats(dist), "identity_pairs_found": int(len(fin)),
                                  f"identity_share_below_{SAME_PERSON}": float(np.mean(fin < SAME_PERSON))}
    # the same edits graded for both engines (the grader's fit fails on different images of each)
    res["overall_paired"] = {}
    for kind in ("pose", "expr"):
        a, b = (np.asarray(raw[e][kind], float) for e in ENGINES)
        both = np.isfinite(a) & np.isfinite(b)
        res["overall_paired"][kind] = {"n": int(both.sum()), **{e: stats(v[both]) for e, v in zip(ENGINES, (a, b))},
                                       "warp_smaller_error_share": float(np.mean(b[both] < a[both]))}
    a, b = (np.asarray(raw[e]["dist"], float) for e in ENGINES)
    both = np.isfinite(a) & np.isfinite(b)
    res["overall_paired"]["identity"] = {"n": int(both.sum()), **{
        e: {"distance": stats(v[both]), f"share_below_{SAME_PERSON}": float(np.mean(v[both] < SAME_PERSON))}
        for e, v in zip(ENGINES, (a, b))}}
    res["warp_render_s"] = stats(render_s)
    # the watermark after a 75% resize + JPEG q75: 64 px as drawn, upscaled sizes, and the engines' outputs
    res["watermark_after_resize75_jpeg75"] = {
        **{f"original_{s}px": survives([im if s == small.shape[1] else at_least(im, s)[0] for im in small])
           for s in (small.shape[1], 256, 384, 512)},
        **{f"{engine}_edits_{MIN_SIDE}px": survives(outputs[engine]) for engine in ENGINES}}
    res["seconds_total"] = time.perf_counter() - t0
    res["load_average_end"] = os.getloadavg()
    return res


#: the picture's edits: (caption, edit keywords)
PICTURE_EDITS = (("yaw -25", {"yaw": -25.0}), ("yaw +25", {"yaw": 25.0}), ("pitch +15", {"pitch": 15.0}),
                 ("smile 0.8", {"expression": {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8}}),
                 ("jawOpen 0.6", {"expression": {"jawOpen": 0.6}}))


def picture(bundle: str, seeds: list[int], path: Path, tile_px: int = 96) -> None:
    """Per seed two rows (the rig network, the photo engine) over PICTURE_EDITS, tiles scaled to tile_px."""
    from PIL import Image

    from morphable.fileio import atomic_output
    from rig.frames import labelled_grid, to_height

    rig = FaceRig.load(bundle)
    rows, labels, caps = [], [], []
    for seed in seeds:
        ws = rig.sample(seed)
        pr = generated_photo_rig(rig, ws)[0]
        orig = to_height(at_least(rig.to_uint8(rig.image(ws))[0])[0][None], tile_px)[0]
        with torch.no_grad():
            gan = [rig.to_uint8(rig.image(rig.edit(ws, **kw)))[0] for _, kw in PICTURE_EDITS]
        warp = [pr.render(pr.target(**kw)) for _, kw in PICTURE_EDITS]
        for engine, imgs in (("gan", gan), ("warp", warp)):
            rows.append([orig] + [to_height(at_least(im)[0][None], tile_px)[0] for im in imgs])
            labels.append(f"seed {seed} {engine}")
            caps.append(["original"] + [c for c, _ in PICTURE_EDITS])
    with atomic_output(path) as tmp:
        Image.fromarray(labelled_grid(rows, labels, caps)).quantize(256, method=Image.Quantize.MEDIANCUT).save(
            tmp, format="PNG", optimize=True)   # 256 colours: bench_rig's pictures do the same


def markdown(r: dict) -> str:
    """The side-by-side tables of docs/generated_faces.md."""
    key = f"share_below_{SAME_PERSON}"

    def ms(d: dict, dg: int) -> str:
        return f"{d.get('mean', float('nan')):.{dg}f} / {d.get('p90', float('nan')):.{dg}f}"

    lines = ["| edit | engine | error by fit: mean / p90 (n fitted) | slope fit vs commanded | identity: share < 0.45 "
             "| identity: median distance (n) |", "|---|---|---|---|---|---|"]
    for fam, engines in r["families"].items():
        dg = 1 if fam in ("yaw", "pitch") else 3
        for engine, f in engines.items():
            e, idn, sl = f["control_error_fit"], f["identity"], f["slope_fit_vs_commanded"]
            share = "-" if idn[key] is None else round(idn[key], 2)
            lines.append(f"| {fam} | {engine} | {ms(e, dg)} ({e['n']}) | {'-' if sl is None else f'{sl:.2f}'} | "
                         f"{share} | {idn['distance'].get('median', float('nan')):.3f} "
                         f"({idn['pairs_found_by_dlib']}) |")
    lines += ["", "| engine | yaw+pitch error, mean / p90 | smile+jawOpen error, mean | identity share < 0.45 "
                  "| median distance |", "|---|---|---|---|---|"]
    for engine, o in r["overall"].items():
        p, x = o["pose_error_fit_deg"], o["expression_error_fit"]
        lines.append(f"| {engine} | {ms(p, 1)} | {x.get('mean', float('nan')):.3f} | {o['identity_' + key]:.2f} | "
                     f"{o['identity_distance']['median']:.3f} |")
    if "overall_paired" in r:
        pp = r["overall_paired"]
        lines += ["", "| the same edits graded for both | n | gan: mean / p90 | warp: mean / p90 "
                      "| warp's error smaller |", "|---|---|---|---|---|"]
        for kind, name, dg in (("pose", "yaw+pitch error, deg", 1), ("expr", "smile+jawOpen error", 3)):
            v = pp[kind]
            lines.append(f"| {name} | {v['n']} | " + " | ".join(ms(v[e], dg) for e in ENGINES)
                         + f" | {v['warp_smaller_error_share']:.2f} |")
        v = pp["identity"]
        lines.append(f"| identity: share < {SAME_PERSON} (median distance) | {v['n']} | " + " | ".join(
            f"{v[e][f'share_below_{SAME_PERSON}']:.2f} ({v[e]['distance'].get('median', float('nan')):.3f})"
            for e in ENGINES) + " | - |")
    lines += ["", "| watermarked image, then 75% resize + JPEG q75 | detected | median z |", "|---|---|---|"]
    for k, v in r["watermark_after_resize75_jpeg75"].items():
        lines.append(f"| {k.replace('_', ' ')} | {v['detected']} / {v['n']} | {v['median_z']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(default_bundle()))
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, default=20_000, help="first seed (bench_rig's default)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--watermark-n", type=int, default=5, help="edits per family and engine checked for the mark")
    ap.add_argument("--out", default=str(ROOT / "docs" / "generated_warp.json"))
    ap.add_argument("--tables", metavar="JSON", help="only print the markdown tables of an existing result")
    ap.add_argument("--picture", metavar="PNG", help="only draw both engines' edits of --picture-seeds to PNG")
    ap.add_argument("--picture-seeds", type=int, nargs="+", default=[20_001, 20_002, 20_004])
    args = ap.parse_args(argv)
    if args.picture:
        torch.set_num_threads(args.threads)
        picture(args.bundle, args.picture_seeds, Path(args.picture))
        print(f"wrote {args.picture}")
        return 0
    if args.tables:
        import json

        print(markdown(json.loads(Path(args.tables).read_text())), end="")
        return 0
    res = run(args)
    write_result(args.out, res)
    print(markdown(res), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
