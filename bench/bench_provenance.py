"""Provenance labels measured: watermark survival, false alarms, image cost, speed, and which metadata survive what.

    nice -n 10 python -m bench.bench_provenance --out docs/provenance.json

200 outputs: 60 DCGAN faces at their native 64 px, 40 DCGAN faces upscaled to 256 px (as animate /
reenact write them), 40 3DMM renders at 256 px, 40 edited UTKFace photos at 128 px and 20 at
512 px (a simple edit: mirrored, gamma 0.9), plus 8 photos edited by the photo engine (yaw 15,
smile), and flat-background photos, where a mark shows first: the 20 UTKFace photos with the
flattest backdrops (of 400) at 512 px, and the photo engine's edits of the two flat-background
portraits in ../shared/data/real-faces (when present).
Each is marked as facerig marks it, then converted (JPEG 90/75/50, halved, 10% cropped, 2%
brighter, halved then JPEG 75), and the detector runs blind (no size or position given). Videos:
10 animate-style clips (256 px, 16 frames) labelled to MP4 and re-encoded with H.264. False
alarms: 400 UTKFace photos never marked. The comparison with PyPI invisible-watermark runs when
it is installed (`pip install --no-deps invisible-watermark PyWavelets`: its opencv-python
requirement would clash with opencv-python-headless). Also writes docs/provenance_measured.md
(tables) and docs/img/provenance_mark.png.
"""
from __future__ import annotations

import argparse
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import machine_info, time_call
from rig.provenance import attacks, watermark
from rig.provenance.label import LabelInfo, label_image, label_video, mark_strength

ROOT = Path(__file__).resolve().parents[1]
UTK = ROOT.parent / "shared" / "data" / "utkface" / "utkface-128-webp.zip"
REAL = ROOT.parent / "shared" / "data" / "real-faces"
#: real portraits on plain backdrops (a painted studio grey, a dark curtain)
FLAT_PORTRAITS = ("xportrait_source.png", "face_recognition_alex-lacamoire.png")
ATTACKS = ("none", "jpeg90", "jpeg75", "jpeg50", "resize50", "crop10", "bright2", "resize50+jpeg75")


def utk_photos(count: int, seed: int) -> list[np.ndarray]:
    """`count` random UTKFace photos (128 px RGB)."""
    with zipfile.ZipFile(UTK) as zf:
        names = sorted(zf.namelist())
        pick = np.random.default_rng(seed).choice(len(names), count, replace=False)
        return [np.asarray(Image.open(io.BytesIO(zf.read(names[i]))).convert("RGB")) for i in pick]


def up(image: np.ndarray, size: int) -> np.ndarray:
    """Lanczos resize to size x size."""
    return np.asarray(Image.fromarray(image).resize((size, size), Image.LANCZOS))


def simple_edit(photo: np.ndarray) -> np.ndarray:
    """Stand-in photo edit: mirror and gamma 0.9."""
    return np.clip(255.0 * (photo[:, ::-1] / 255.0) ** 0.9 + 0.5, 0, 255).astype(np.uint8)


def make_outputs(n_scale: float = 1.0) -> dict[str, list[np.ndarray]]:
    """The 200 unmarked outputs, by kind."""
    import torch

    from morphable.formats import load_model
    from morphable.render import Renderer, to_uint8
    from rig.face_rig import FaceRig, default_bundle

    k = lambda n: max(2, int(round(n * n_scale)))  # noqa: E731
    rig = FaceRig.load(default_bundle())
    with torch.no_grad():
        faces = rig.to_uint8(rig.image(rig.sample(list(range(k(60) + k(40))))))
    model = load_model("default")
    renderer = Renderer(model, size=256)
    renders = []
    names = ["jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "browInnerUp"]
    for i in range(k(40)):
        rng = np.random.default_rng(i)
        params = (model.random_params(1, seed=i).with_expression({n: float(rng.uniform(0, 0.8)) for n in names})
                  .with_pose(yaw=float(rng.uniform(-30, 30)), pitch=float(rng.uniform(-15, 15))))
        with torch.no_grad():
            renders.append(to_uint8(renderer(params).image[0]))
    photos = [simple_edit(p) for p in utk_photos(k(40) + k(20), seed=101)]
    return {"dcgan_64": list(faces[:k(60)]), "dcgan_up256": [up(f, 256) for f in faces[k(60):]],
            "render_256": renders, "photo_128": photos[:k(40)], "photo_512": [up(p, 512) for p in photos[k(40):]]}


def photo_engine_edits(count: int) -> list[np.ndarray]:
    """UTKFace photos edited by the photo engine (rig.photo: 3DMM flow warp; yaw 15, smile); ~25 s each here."""
    import warnings

    from morphable.fit import Fitter
    from morphable.formats import load_model
    from rig.photo.photo_rig import PhotoRig

    fitter = Fitter(load_model("default"))
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for photo in utk_photos(count, seed=303):
            try:
                rig = PhotoRig.from_photo(photo, fitter=fitter)
            except Exception as exc:  # noqa: BLE001 - a photo without a usable face is skipped, and said
                print(f"photo engine skipped a photo: {exc}")
                continue
            out.append(np.asarray(rig.edit(yaw=15.0, expression={"mouthSmileLeft": 0.5, "mouthSmileRight": 0.5}),
                                  dtype=np.uint8))
    return out


def backdrop_detail(photo: np.ndarray, band: int = 12) -> float:
    """Mean fine detail (luma minus a 1.5 px blur, RMS over 5 px; grey levels) in the photo's border band."""
    import cv2

    lum = watermark.luminance(photo).astype(np.float32)
    detail = lum - cv2.GaussianBlur(lum, (0, 0), 1.5)
    rms = np.sqrt(np.maximum(cv2.blur(detail * detail, (5, 5)), 0.0))
    inner = np.zeros(rms.shape, bool)
    inner[band:-band, band:-band] = True
    return float(rms[~inner].mean())


def flat_background_photos(count: int, pool: int = 400) -> list[np.ndarray]:
    """The `count` UTKFace photos with the flattest backdrops of `pool`, edited and at 512 px (as the app writes)."""
    photos = utk_photos(pool, seed=505)
    order = np.argsort([backdrop_detail(p) for p in photos])
    return [up(simple_edit(photos[i]), 512) for i in order[:count]]


def flat_portrait_edits() -> list[np.ndarray]:
    """The photo engine's edits (yaw 15, smile) of the real flat-background portraits, at their own size."""
    import warnings

    from rig.photo.photo_rig import PhotoRig

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in FLAT_PORTRAITS:
            if (REAL / name).exists():
                rig = PhotoRig.from_photo(REAL / name)
                out.append(np.asarray(rig.edit(yaw=15.0, expression={"mouthSmileLeft": 0.5, "mouthSmileRight": 0.5}),
                                      dtype=np.uint8))
    return out


def attack_fns(rng: np.random.Generator) -> dict:
    """The conversions, by name."""
    fns = attacks.standard_attacks(rng)
    fns["resize50+jpeg75"] = lambda a: attacks.jpeg(attacks.resize(a, 0.5), 75)
    return fns


def measure_marks(sets: dict[str, list[np.ndarray]]) -> dict:
    """Per kind: PSNR of the mark and, per conversion, detection rate and mean bit accuracy."""
    out = {}
    for kind, images in sets.items():
        rng = np.random.default_rng(0)
        fns = attack_fns(rng)
        marked = [watermark.embed(a, 1, mark_strength(*a.shape[:2])) for a in images]
        psnrs = [watermark.psnr(a, m) for a, m in zip(images, marked)]
        # PSNR of the flat areas alone (the perceptual mask at its floor): where a mark would show
        flat = [watermark._texture_mask(watermark.luminance(a)) <= watermark.MASK_FLAT * 1.05 for a in images]
        flat_psnr = [10 * np.log10(255.0 ** 2 / max(float(np.mean((m.astype(float) - a.astype(float))[f] ** 2)), 1e-9))
                     for a, m, f in zip(images, marked, flat) if f.mean() > 0.01]
        row = {"n": len(images), "size": list(images[0].shape[:2]), "psnr_mean": float(np.mean(psnrs)),
               "psnr_min": float(np.min(psnrs)), "flat_share": float(np.mean([f.mean() for f in flat])),
               "flat_psnr_mean": float(np.mean(flat_psnr)) if flat_psnr else None, "attacks": {}}
        for name in ATTACKS:
            dets = [watermark.detect(fns[name](m)) for m in marked]
            row["attacks"][name] = {"detected": float(np.mean([d.detected for d in dets])),
                                    "bit_accuracy": float(np.mean([d.bit_accuracy(1) for d in dets])),
                                    "exact_payload": float(np.mean([d.bit_accuracy(1) == 1.0 for d in dets])),
                                    "score_median": float(np.median([d.z for d in dets]))}
        out[kind] = row
        print(f"{kind}: psnr {row['psnr_mean']:.1f} " + " ".join(
            f"{a} {v['detected']:.2f}/{v['bit_accuracy']:.2f}" for a, v in row["attacks"].items()), flush=True)
    return out


def measure_video(clips: int = 10, frames: int = 16) -> dict:
    """Animate-style clips (a DCGAN face turning, 256 px) -> labelled MP4 -> H.264 re-encodes -> detection."""
    import torch

    from rig.face_rig import FaceRig, default_bundle
    from rig.provenance.verify import verify

    rig = FaceRig.load(default_bundle())
    results = {"clips": clips, "frames": frames, "labelled_mp4": [], "h264_crf23": [], "h264_crf28": [],
               "single_frame_crf23": []}
    tmp = Path("/tmp") / f"bench_provenance_{int(time.time())}"
    tmp.mkdir(parents=True, exist_ok=True)
    info = LabelInfo("bench", {"clip": 0})
    for c in range(clips):
        ws = rig.sample(1000 + c)
        with torch.no_grad():
            edits = torch.cat([rig.edit(ws, yaw=float(y)) for y in np.linspace(-20, 20, frames)])
            clip = rig.to_uint8(rig.image(edits))
        clip = np.stack([up(f, 256) for f in clip])
        data = label_video(clip, 16, info)
        for key, blob in (("labelled_mp4", data), ("h264_crf23", attacks.reencode_h264(data, 23)),
                          ("h264_crf28", attacks.reencode_h264(data, 28))):
            path = tmp / f"{key}_{c}.mp4"
            path.write_bytes(blob)
            rep = verify(path)
            results[key].append({"detected": bool(rep.watermark.detected), "score": rep.watermark.z,
                                 "bit_accuracy": rep.watermark.bit_accuracy(1), "xmp": rep.metadata is not None})
            if key == "h264_crf23":
                import imageio.v2 as imageio

                with imageio.get_reader(str(path), format="FFMPEG") as reader:
                    first = np.asarray(next(iter(reader)))
                results["single_frame_crf23"].append(bool(watermark.detect(first).detected))
            path.unlink()
    tmp.rmdir()
    summary = {k: {"detected": float(np.mean([r["detected"] for r in v])),
                   "bit_accuracy": float(np.mean([r["bit_accuracy"] for r in v])),
                   "xmp_kept": float(np.mean([r["xmp"] for r in v]))}
               for k, v in results.items() if k in ("labelled_mp4", "h264_crf23", "h264_crf28")}
    summary["single_frame_crf23_detected"] = float(np.mean(results["single_frame_crf23"]))
    summary["clips"], summary["frames"] = clips, frames
    print("video:", summary, flush=True)
    return summary


def measure_false_positives(count: int = 400) -> dict:
    """Detector scores on never-marked UTKFace photos (seed distinct from the marked photos)."""
    photos = utk_photos(count, seed=2024)
    scores = np.array([watermark.detect(p).z for p in photos])
    big = np.array([watermark.detect(up(p, 512)).z for p in photos[:100]])
    jpg = np.array([watermark.detect(attacks.jpeg(p, 75)).z for p in photos[:100]])
    out = {"n": count, "threshold": watermark.Z_THRESHOLD, "false_positives": int((scores >= watermark.Z_THRESHOLD).sum()),
           "rate": float((scores >= watermark.Z_THRESHOLD).mean()), "score_max": float(scores.max()),
           "score_p99": float(np.percentile(scores, 99)), "score_mean": float(scores.mean()),
           "upscaled512_n": len(big), "upscaled512_false_positives": int((big >= watermark.Z_THRESHOLD).sum()),
           "upscaled512_score_max": float(big.max()), "jpeg75_n": len(jpg),
           "jpeg75_false_positives": int((jpg >= watermark.Z_THRESHOLD).sum()), "jpeg75_score_max": float(jpg.max())}
    print("false positives:", out, flush=True)
    return out


def measure_cost(photo: np.ndarray, cert: tuple[Path, Path] | None) -> dict:
    """Milliseconds per 512 px frame (and per 64 / 256 px) to embed, detect and write labelled files."""
    big = up(photo, 512)
    marked = watermark.embed(big)
    out = {}
    for size in (64, 256, 512):
        img = up(photo, size)
        m = watermark.embed(img, 1, mark_strength(size, size))
        out[f"embed_{size}_ms"] = 1000 * time_call(lambda: watermark.embed(img, 1, mark_strength(size, size)), 5)[0]
        out[f"detect_{size}_ms"] = 1000 * time_call(lambda: watermark.detect(m), 5)[0]
    plain = io.BytesIO()
    out["png_encode_512_ms"] = 1000 * time_call(lambda: Image.fromarray(big).save(io.BytesIO(), format="PNG"), 5)[0]
    Image.fromarray(big).save(plain, format="PNG")
    info = LabelInfo("bench", {"x": 1})
    out["label_png_512_ms"] = 1000 * time_call(lambda: label_image(big, "png", info), 5)[0]
    if cert is not None:
        from rig.provenance.c2pa_manifest import SigningKey

        signed = LabelInfo("bench", {"x": 1}, signing=SigningKey.load(*cert))
        out["label_png_512_signed_ms"] = 1000 * time_call(lambda: label_image(big, "png", signed), 5)[0]
        from rig.provenance.verify import verify

        tmp = Path("/tmp/bench_provenance_signed.png")
        tmp.write_bytes(label_image(big, "png", signed))
        out["verify_png_512_ms"] = 1000 * time_call(lambda: verify(tmp), 5)[0]
        tmp.unlink()
    del marked
    print("cost:", {k: round(v, 1) for k, v in out.items()}, flush=True)
    return out


def measure_invisible_watermark(images512: list[np.ndarray], clean: list[np.ndarray]) -> dict | None:
    """PyPI invisible-watermark (dwtDct, dwtDctSvd) with the same 64-bit payload and conversions, if installed."""
    try:
        from imwatermark import WatermarkDecoder, WatermarkEncoder
    except ImportError:
        return None
    want = watermark.payload_bits(1)
    out = {}
    for method in ("dwtDct", "dwtDctSvd"):
        enc = WatermarkEncoder()
        enc.set_watermark("bytes", b"facerig\x01")
        dec = WatermarkDecoder("bytes", 64)

        def bits_of(img: np.ndarray) -> np.ndarray:
            try:
                raw = dec.decode(np.ascontiguousarray(img[..., ::-1]), method)
                return np.unpackbits(np.frombuffer(bytes(raw), np.uint8))[:64]
            except Exception:  # noqa: BLE001 - a failed decode counts as random bits
                return 1 - want

        t0 = time.perf_counter()
        marked = [np.ascontiguousarray(enc.encode(np.ascontiguousarray(a[..., ::-1]), method)[..., ::-1]) for a in images512]
        embed_ms = 1000 * (time.perf_counter() - t0) / len(images512)
        fns = attack_fns(np.random.default_rng(0))
        row = {"psnr_mean": float(np.mean([watermark.psnr(a, m) for a, m in zip(images512, marked)])),
               "embed_512_ms": embed_ms, "attacks": {}}
        for name in ATTACKS:
            accs = np.array([np.mean(bits_of(fns[name](m)) == want) for m in marked])
            # no detection score: "detected" = at least 58 of 64 bits right (p < 1e-11 by chance)
            row["attacks"][name] = {"bit_accuracy": float(accs.mean()), "detected": float(np.mean(accs >= 58 / 64)),
                                    "exact_payload": float(np.mean(accs == 1.0))}
        row["clean_false_positives"] = int(sum(np.mean(bits_of(c) == want) >= 58 / 64 for c in clean))
        row["clean_n"] = len(clean)
        out[method] = row
        print(f"invisible-watermark {method}:", {a: round(v["detected"], 2) for a, v in row["attacks"].items()},
              flush=True)
    return out


def metadata_survival(photo: np.ndarray, cert: tuple[Path, Path] | None) -> dict:
    """Which labels (XMP, C2PA, watermark) are still found after common conversions of a labelled file."""
    import subprocess

    import imageio_ffmpeg

    from rig.provenance.c2pa_manifest import SigningKey
    from rig.provenance.verify import verify

    tmp = Path("/tmp") / f"bench_provenance_meta_{int(time.time())}"
    tmp.mkdir(parents=True, exist_ok=True)
    key = SigningKey.load(*cert) if cert is not None else None
    info = LabelInfo("bench", {"size": 512}, signing=key)
    img = up(photo, 512)
    png, jpg = tmp / "labelled.png", tmp / "labelled.jpg"
    png.write_bytes(label_image(img, "png", info))
    jpg.write_bytes(label_image(img, "jpeg", info))
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()

    def pil(src: Path, dst: str, fn=lambda im: im, **kw) -> Path:
        with Image.open(src) as im:
            fn(im.convert("RGB")).save(tmp / dst, **kw)
        return tmp / dst

    def pil_keep(src: Path, dst: str, **kw) -> Path:
        with Image.open(src) as im:
            im.save(tmp / dst, **kw)   # Pillow's own save of the opened image (passes what it keeps)
        return tmp / dst

    def ff(src: Path, dst: str, *args: str) -> Path:
        subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-i", str(src), *args, str(tmp / dst)], check=True)
        return tmp / dst

    def cv(src: Path, dst: str) -> Path:
        import cv2

        cv2.imwrite(str(tmp / dst), cv2.imread(str(src)))
        return tmp / dst

    cases = {
        "PNG as written": lambda: png,
        "JPEG as written (q95)": lambda: jpg,
        "PNG: byte-exact copy": lambda: (tmp / "copy.png").write_bytes(png.read_bytes()) and tmp / "copy.png",
        "PNG -> Pillow open/save PNG": lambda: pil_keep(png, "pil.png"),
        "PNG -> Pillow JPEG q90": lambda: pil(png, "pil90.jpg", quality=90),
        "JPEG -> Pillow open/save JPEG q90": lambda: pil_keep(jpg, "pilkeep.jpg", quality=90),
        "PNG -> Pillow resize 50% PNG": lambda: pil(png, "half.png", lambda im: im.resize((256, 256), Image.LANCZOS)),
        "PNG -> Pillow crop 10% PNG": lambda: pil(png, "crop.png", lambda im: im.crop((26, 26, 486, 486))),
        "PNG -> OpenCV imread/imwrite PNG": lambda: cv(png, "cv.png"),
        "PNG -> ffmpeg JPEG (q:v 3)": lambda: ff(png, "ff.jpg", "-q:v", "3"),
        "PNG -> Pillow WebP q80": lambda: pil(png, "lossy.webp", quality=80),
    }
    frames = np.stack([np.roll(img[128:384, 128:384], 3 * i, axis=1) for i in range(8)])
    mp4 = tmp / "labelled.mp4"
    mp4.write_bytes(label_video(frames, 8, info))
    cases.update({
        "MP4 as written": lambda: mp4,
        "MP4 -> ffmpeg remux (-c copy)": lambda: ff(mp4, "remux.mp4", "-c", "copy"),
        "MP4 -> ffmpeg H.264 crf 23": lambda: ff(mp4, "h264.mp4", "-c:v", "libx264", "-crf", "23", "-pix_fmt", "yuv420p"),
        "MP4 -> ffmpeg H.264 crf 23, -map_metadata 0": lambda: ff(mp4, "h264m.mp4", "-map_metadata", "0", "-c:v",
                                                                   "libx264", "-crf", "23", "-pix_fmt", "yuv420p"),
    })
    table = {}
    for name, make in cases.items():
        path = make()
        rep = verify(path)
        table[name] = {"xmp": rep.metadata is not None and rep.metadata.synthetic,
                       "c2pa": rep.manifest.state, "watermark": bool(rep.watermark and rep.watermark.detected),
                       "score": float(rep.watermark.z) if rep.watermark else None, "labelled": rep.labelled}
        print(f"{name}: {table[name]}", flush=True)
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()
    return table


def picture(photo: np.ndarray, face64: np.ndarray, path: Path) -> None:
    """original | marked | difference x20 (mid-grey = 0) for a 512 px photo crop and a 64 px face (upscaled)."""
    big = up(photo, 512)
    mb = watermark.embed(big, 1, mark_strength(512, 512))
    crop = (slice(160, 352), slice(160, 352))
    small = watermark.embed(face64, 1, mark_strength(64, 64))
    rows = []
    for a, m, s in ((big[crop], mb[crop], 1), (face64, small, 3)):
        diff = np.clip(128 + 20 * (m.astype(int) - a.astype(int)), 0, 255).astype(np.uint8)
        tiles = [np.kron(x, np.ones((s, s, 1), np.uint8)) for x in (a, m, diff)]
        rows.append(np.concatenate(tiles, axis=1))
    w = max(r.shape[1] for r in rows)
    canvas = np.full((sum(r.shape[0] for r in rows) + 4, w, 3), 255, np.uint8)
    y = 0
    for r in rows:
        canvas[y:y + r.shape[0], :r.shape[1]] = r
        y += r.shape[0] + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    # 192 colours keep the picture small; the difference panels are computed before this
    Image.fromarray(canvas).quantize(192).save(path, optimize=True)


def markdown(res: dict) -> str:
    """The measured tables as markdown."""
    lines = ["# Provenance labels: measured tables", "",
             f"Written by `python -m bench.bench_provenance` on {res['machine']['cpu_count']} shared cores "
             f"(load {res['machine']['loadavg'][0]:.1f}; times are medians, noisy). Cells: detection rate / mean "
             "bit accuracy of the 64-bit payload (b'facerig' + version). Flat area: the share of pixels where the "
             "perceptual mask is at its floor (no texture to hide a mark in) and the PSNR of the mark there.", ""]
    head = "| outputs | n | PSNR mean (min) | flat area: share, PSNR | " + " | ".join(ATTACKS) + " |"
    lines += [head, "|" + "---|" * (4 + len(ATTACKS))]
    for kind, row in res["watermark"].items():
        cells = " | ".join(f"{row['attacks'][a]['detected']:.2f} / {row['attacks'][a]['bit_accuracy']:.2f}" for a in ATTACKS)
        flat = (f"{100 * row['flat_share']:.0f}%, {row['flat_psnr_mean']:.1f}" if row.get("flat_psnr_mean") else
                f"{100 * row.get('flat_share', 0):.0f}%")
        lines.append(f"| {kind} ({row['size'][1]} px) | {row['n']} | {row['psnr_mean']:.1f} ({row['psnr_min']:.1f}) | "
                     f"{flat} | {cells} |")
    tot = sum(r["n"] for r in res["watermark"].values())
    lines += ["", f"All {tot} outputs together:", "", "| conversion | detected | bit accuracy |", "|---|---|---|"]
    for a in ATTACKS:
        n = sum(r["n"] for r in res["watermark"].values())
        det = sum(r["attacks"][a]["detected"] * r["n"] for r in res["watermark"].values()) / n
        acc = sum(r["attacks"][a]["bit_accuracy"] * r["n"] for r in res["watermark"].values()) / n
        lines.append(f"| {a} | {det:.3f} | {acc:.3f} |")
    v = res["video"]
    lines += ["", f"Video ({v['clips']} clips, {v['frames']} frames, 256 px; the detector averages up to 24 frames):", "",
              "| file | detected | bit accuracy | XMP kept |", "|---|---|---|---|"]
    for k in ("labelled_mp4", "h264_crf23", "h264_crf28"):
        lines.append(f"| {k} | {v[k]['detected']:.2f} | {v[k]['bit_accuracy']:.2f} | {v[k]['xmp_kept']:.2f} |")
    lines.append(f"| one frame of h264_crf23 alone | {v['single_frame_crf23_detected']:.2f} | | |")
    f = res["false_positives"]
    lines += ["", "False alarms on never-marked UTKFace photos (threshold score "
              f"{f['threshold']}):", "", "| photos | n | false positives | max score |", "|---|---|---|---|",
              f"| 128 px as stored | {f['n']} | {f['false_positives']} ({100 * f['rate']:.2f}%) | {f['score_max']:.2f} |",
              f"| upscaled to 512 px | {f['upscaled512_n']} | {f['upscaled512_false_positives']} | {f['upscaled512_score_max']:.2f} |",
              f"| JPEG q75 | {f['jpeg75_n']} | {f['jpeg75_false_positives']} | {f['jpeg75_score_max']:.2f} |"]
    c = res["cost"]
    lines += ["", "Cost (ms, median of 5, one process on a shared machine):", "", "| step | 64 px | 256 px | 512 px |",
              "|---|---|---|---|",
              f"| embed watermark | {c['embed_64_ms']:.1f} | {c['embed_256_ms']:.1f} | {c['embed_512_ms']:.1f} |",
              f"| detect watermark | {c['detect_64_ms']:.1f} | {c['detect_256_ms']:.1f} | {c['detect_512_ms']:.1f} |", "",
              f"512 px PNG: plain encode {c['png_encode_512_ms']:.1f} ms; labelled (watermark + encode + XMP) "
              f"{c['label_png_512_ms']:.1f} ms" + (f"; + C2PA signature {c['label_png_512_signed_ms']:.1f} ms; "
                                                   f"verify {c['verify_png_512_ms']:.1f} ms" if "verify_png_512_ms" in c else "") + "."]
    if res.get("invisible_watermark"):
        lines += ["", "PyPI invisible-watermark 0.2.0 on the 512 px photos (same payload and conversions; "
                  "detected = at least 58/64 bits right):", "",
                  "| method | PSNR | embed ms | " + " | ".join(ATTACKS) + " | false positives |", "|" + "---|" * (4 + len(ATTACKS))]
        for m, row in res["invisible_watermark"].items():
            cells = " | ".join(f"{row['attacks'][a]['detected']:.2f} / {row['attacks'][a]['bit_accuracy']:.2f}" for a in ATTACKS)
            lines.append(f"| {m} | {row['psnr_mean']:.1f} | {row['embed_512_ms']:.0f} | {cells} | "
                         f"{row['clean_false_positives']}/{row['clean_n']} |")
        ours = res["watermark"]["photo_512"]
        cells = " | ".join(f"{ours['attacks'][a]['detected']:.2f} / {ours['attacks'][a]['bit_accuracy']:.2f}" for a in ATTACKS)
        lines.append(f"| facerig (this project) | {ours['psnr_mean']:.1f} | {c['embed_512_ms']:.0f} | {cells} | "
                     f"{res['false_positives']['upscaled512_false_positives']}/{res['false_positives']['upscaled512_n']} |")
    lines += ["", "Which labels survive which conversion (a labelled, C2PA-signed 512 px file):", "",
              "| conversion | XMP | C2PA | watermark (score) | verify says labelled |", "|---|---|---|---|---|"]
    for name, row in res["metadata_survival"].items():
        lines.append(f"| {name} | {'kept' if row['xmp'] else 'lost'} | {row['c2pa']} | "
                     f"{'found' if row['watermark'] else 'lost'} ({row['score']:.1f}) | {'yes' if row['labelled'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/provenance.json")
    ap.add_argument("--md", default="docs/provenance_measured.md")
    ap.add_argument("--picture", default="docs/img/provenance_mark.png")
    ap.add_argument("--quick", action="store_true", help="a tenth of the images (a smoke run)")
    ap.add_argument("--engine-photos", type=int, default=8, help="photos edited by the photo engine (0: none)")
    args = ap.parse_args(argv)
    if not UTK.exists():
        print(f"needs {UTK} (UTKFace)")
        return 1
    t0 = time.time()
    from rig.provenance.devcert import make_test_credentials

    try:
        _, chain, key = make_test_credentials(Path("/tmp/bench_provenance_creds"))
        cert = (chain, key)
    except ImportError:
        cert = None
    sets = make_outputs(0.1 if args.quick else 1.0)
    if args.engine_photos:
        sets["photo_engine_128"] = photo_engine_edits(args.engine_photos)
    sets["photo_flat_512"] = flat_background_photos(2 if args.quick else 20)
    portraits = flat_portrait_edits()
    if portraits:
        sets["photo_engine_flat"] = portraits
    res = {"machine": machine_info(), "watermark": measure_marks(sets)}
    res["video"] = measure_video(2 if args.quick else 10)
    res["false_positives"] = measure_false_positives(40 if args.quick else 400)
    photo = utk_photos(1, seed=7)[0]
    res["cost"] = measure_cost(photo, cert)
    res["invisible_watermark"] = measure_invisible_watermark(sets["photo_512"], [up(p, 512) for p in utk_photos(40, 2025)])
    res["metadata_survival"] = metadata_survival(photo, cert)
    picture(photo, sets["dcgan_64"][0], ROOT / args.picture)
    res["seconds"] = time.time() - t0
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    Path(args.md).write_text(markdown(res))
    print(f"wrote {args.out}, {args.md}, {args.picture} in {res['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
