"""The one place outputs get labelled: watermark the pixels, embed XMP, sign a C2PA manifest if asked.

Writers call `label_image` (array or PIL image -> encoded bytes) and `label_video` (frames -> MP4
bytes), or `watermark_frames` + `label_file_bytes` when they encode video themselves. `--no-label`
(LabelInfo.label=False) drops the source-type claims and the manifest but records the opt-out in
the XMP; the watermark stays unless LabelInfo.watermark is turned off explicitly.
"""
from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from . import c2pa_manifest, metadata, watermark

WATERMARK_VERSION = 1
SOURCES = {"generated": metadata.TRAINED, "edited-photo": metadata.COMPOSITE, "rendered": metadata.ALGORITHMIC}
IMAGE_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}


def facerig_version() -> str:
    """The installed facerig version ('unknown' when run from an uninstalled tree)."""
    try:
        return importlib_metadata.version("facerig")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class LabelInfo:
    """What an output is and how it was made; `label`/`watermark` are the opt-outs."""

    command: str
    parameters: dict = field(default_factory=dict)
    source: str = "generated"          # "generated", "edited-photo" (a real photo, changed) or "rendered" (3DMM)
    generator: str | None = None
    bundle: str | None = None
    label: bool = True
    watermark: bool = True
    signing: c2pa_manifest.SigningKey | None = None
    title: str = "facerig output"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")

    def provenance(self) -> metadata.Provenance:
        """The XMP record for this output."""
        version = facerig_version()
        return metadata.Provenance(
            digital_source_type=SOURCES[self.source], creator_tool=f"facerig {version}",
            generator=self.generator, bundle=self.bundle, version=version, command=self.command,
            parameters=dict(self.parameters), labelled=self.label,
            watermark=f"facerig-v{WATERMARK_VERSION}" if self.watermark else "off")


def mark_strength(height: int, width: int) -> float:
    """The watermark's PSNR target: 40 dB from 256x256 up, 38 dB (the goal's floor) for smaller images."""
    return watermark.DEFAULT_PSNR if height * width >= 256 * 256 else 38.0


def _as_array(image) -> np.ndarray:
    """PIL image or array -> (H,W,3) uint8 RGB."""
    arr = np.asarray(image.convert("RGB")) if hasattr(image, "convert") else np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
        raise ValueError(f"label_image needs an (H,W,3) uint8 image, got {arr.shape} {arr.dtype}")
    return np.ascontiguousarray(arr[..., :3])


def watermark_frames(frames, info: LabelInfo) -> np.ndarray:
    """Watermarked copies of (T,H,W,3) uint8 frames (unchanged when info.watermark is off)."""
    frames = np.asarray(frames, dtype=np.uint8)
    if not info.watermark:
        return frames
    psnr = mark_strength(*frames.shape[1:3])
    out = np.empty(frames.shape, np.uint8)   # written in place: no second copy of a 48 MP photo from a stack
    for frame, marked in zip(frames, out):
        watermark.embed(frame, WATERMARK_VERSION, psnr, out=marked)
    return out


def label_file_bytes(data: bytes, info: LabelInfo) -> bytes:
    """Add the XMP packet (and, when labelling with a key, a signed C2PA manifest) to PNG/JPEG/MP4/WebP bytes."""
    fmt = metadata.sniff(data)
    if fmt is None:
        raise ValueError("only PNG, JPEG, WebP and MP4 files carry facerig's XMP and manifest")
    prov = info.provenance()
    if fmt != "webp":  # WebP's XMP chunk is written by Pillow when encoding (label_image)
        data = metadata.add_xmp(data, metadata.xmp_packet(prov))
    if info.label and info.signing is not None:
        manifest = c2pa_manifest.manifest_definition(info.title, prov.digital_source_type, prov.version,
                                                     {"command": info.command, **prov.parameters,
                                                      "generator": info.generator, "bundle": info.bundle})
        data = c2pa_manifest.sign(data, fmt, manifest, info.signing)
    return data


def label_image(image, fmt: str, info: LabelInfo, quality: int = 95) -> bytes:
    """Encoded, labelled image bytes (fmt png / jpeg / webp) from an array or PIL image."""
    from PIL import Image

    key = fmt.lower().lstrip(".")
    if key not in IMAGE_FORMATS:
        raise ValueError(f"cannot label .{key} images (png, jpeg and webp can be labelled)")
    arr = watermark_frames(_as_array(image)[None], info)[0]
    buf = io.BytesIO()
    pil = Image.fromarray(arr)
    if key == "webp":
        # WebP: Pillow writes the XMP chunk itself; lossless so the mark is not weakened here
        pil.save(buf, format="WEBP", lossless=True, xmp=metadata.xmp_packet(info.provenance()))
        return label_file_bytes(buf.getvalue(), info)
    pil.save(buf, format=IMAGE_FORMATS[key], **({"quality": quality} if key != "png" else {}))
    return label_file_bytes(buf.getvalue(), info)


def encode_mp4(frames: np.ndarray, fps: float) -> bytes:
    """MP4 bytes encoded as every facerig video is (rig.outputs.encode_video: H.264, yuv420p, index first)."""
    from ..outputs import encode_video

    fd, tmp = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        encode_video(Path(tmp), np.asarray(frames, dtype=np.uint8), fps)
        return Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)


def label_video(frames, fps: float, info: LabelInfo) -> bytes:
    """Labelled MP4 bytes: watermarked frames, H.264, XMP uuid box, C2PA manifest when signing."""
    return label_file_bytes(encode_mp4(watermark_frames(frames, info), fps), info)


#: face kinds (rig.engine: Engine.kind) -> LabelInfo.source
SOURCE_OF_KIND = {"generated": "generated", "face": "generated", "morphable": "rendered", "photo": "edited-photo"}


def labeller_for(command: str, kind: str, parameters: dict | None = None, generator: str | None = None) -> "Labeller":
    """A default Labeller (labels on, watermark on, signing from FACERIG_SIGN_* if set) for front ends; `kind` is
    an engine's kind (SOURCE_OF_KIND), a programming error otherwise (a silent default mislabelled photos)."""
    if kind not in SOURCE_OF_KIND:
        raise ValueError(f"unknown source kind {kind!r} for a label; one of {', '.join(SOURCE_OF_KIND)}")
    return Labeller(LabelInfo(command=command, parameters=dict(parameters or {}),
                              source=SOURCE_OF_KIND[kind], generator=generator,
                              signing=c2pa_manifest.signing_key_from(None, None)))


class Labeller:
    """The output layer's provenance hook (rig.outputs.Outputs(provenance=...)): mark pixels, label bytes."""

    def __init__(self, info: LabelInfo):
        self.info = info

    def mark(self, frames: np.ndarray) -> np.ndarray:
        """(T,H,W,3) uint8 frames -> watermarked frames (before encoding)."""
        return watermark_frames(frames, self.info)

    def label(self, data: bytes, path: Path) -> bytes:
        """One encoded file's bytes (format from path's suffix) -> the same file with its labels."""
        suffix = Path(path).suffix.lower()
        info = self.info if self.info.title != "facerig output" else _titled(self.info, Path(path).name)
        if suffix in (".png", ".jpg", ".jpeg", ".mp4"):
            return label_file_bytes(data, info)
        if suffix == ".webp":
            return _relabel_webp(data, info)
        if suffix == ".gif":
            return _comment_gif(data, info)
        return data


def _titled(info: LabelInfo, title: str) -> LabelInfo:
    """A copy of info with the manifest title set to the file's name."""
    from dataclasses import replace

    return replace(info, title=title)


def _relabel_webp(data: bytes, info: LabelInfo) -> bytes:
    """Re-encode a lossless WebP with Pillow writing the XMP chunk (pixels unchanged), then sign."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        buf = io.BytesIO()
        im.save(buf, format="WEBP", lossless=True, xmp=metadata.xmp_packet(info.provenance()))
    return label_file_bytes(buf.getvalue(), info)


def _comment_gif(data: bytes, info: LabelInfo) -> bytes:
    """GIF has no XMP place Pillow writes: a comment extension names the source type and the tool."""
    from PIL import Image

    prov = info.provenance()
    text = (f"facerig {prov.version}: {prov.digital_source_type} (command {prov.command})" if info.label
            else f"facerig {prov.version}: labels turned off (--no-label)")
    with Image.open(io.BytesIO(data)) as im:
        frames, durations = [], []
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            frames.append(im.convert("RGB"))
            durations.append(im.info.get("duration", 40))
        buf = io.BytesIO()
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations,
                       loop=im.info.get("loop", 0), comment=text.encode("utf-8"))
    return buf.getvalue()
