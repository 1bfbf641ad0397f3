"""Check a file for facerig's three labels (XMP metadata, C2PA manifest, watermark) and decide.

`verify(path) -> Report`. A file is *labelled* when any one of them says it is synthetic: its XMP
source type is trainedAlgorithmicMedia / compositeWithTrainedAlgorithmicMedia, it carries a C2PA
manifest with such a source type, or the watermark is detected. Exit codes for the CLI:
0 labelled, 1 nothing found, 2 a file that cannot be read as an image or video.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import c2pa_manifest, metadata, watermark

VIDEO_FRAMES = 24           # frames of a video the watermark detector averages
MAX_PIXELS = 64_000_000     # refuse decompression bombs


@dataclass
class Report:
    """Everything verify found in one file, and the decision."""

    path: str
    kind: str | None = None
    error: str | None = None
    metadata: metadata.Provenance | None = None
    manifest: c2pa_manifest.ManifestReport = field(default_factory=lambda: c2pa_manifest.ManifestReport("absent"))
    watermark: watermark.Detection | None = None
    size: tuple[int, int] | None = None

    @property
    def labelled(self) -> bool:
        """True when metadata, manifest or watermark says the file is synthetic."""
        if self.error:
            return False
        meta = self.metadata is not None and self.metadata.synthetic
        man = self.manifest.present and self.manifest.digital_source_type in metadata.SYNTHETIC
        mark = self.watermark is not None and self.watermark.detected
        return meta or man or mark

    @property
    def exit_code(self) -> int:
        """0 labelled, 1 nothing found, 2 unreadable."""
        return 2 if self.error else (0 if self.labelled else 1)

    def lines(self) -> list[str]:
        """A short human-readable account, one fact per line."""
        if self.error:
            return [f"{self.path}: error: {self.error}"]
        out = [f"{self.path}: {'LABELLED as synthetic' if self.labelled else 'no facerig label found'}"
               f" ({self.kind}, {self.size[1]}x{self.size[0]})" if self.size else f"{self.path}: {self.kind}"]
        m = self.metadata
        if m is None:
            out.append("  metadata:  none")
        else:
            dst = (m.digital_source_type or "none").rsplit("/", 1)[-1]
            out.append(f"  metadata:  source type {dst}; tool {m.creator_tool or '?'}"
                       + (f"; command {m.command}" if m.command else "")
                       + (f"; generator {m.generator}" if m.generator else "")
                       + (f"; bundle {m.bundle}" if m.bundle else ""))
            if not m.labelled:
                out.append("  metadata:  labels were turned off (--no-label) when this file was written")
            if m.parameters:
                out.append(f"  parameters: {m.parameters}")
        r = self.manifest
        text = {"absent": "none", "unavailable": "not checked (c2pa-python is not installed)",
                "unreadable": "present but unreadable", "invalid": "present but INVALID (file changed after signing?)",
                "valid": "valid signature (signer not in a trust list)", "trusted": "valid, trusted signer"}[r.state]
        extra = f"; signed by {r.issuer}" if r.issuer else ""
        extra += f"; source type {r.digital_source_type.rsplit('/', 1)[-1]}" if r.digital_source_type else ""
        extra += f"; failures {', '.join(r.failures)}" if r.failures and r.state != "valid" else ""
        out.append(f"  manifest:  C2PA {text}{extra}")
        w = self.watermark
        if w is None:
            out.append("  watermark: not checked")
        else:
            acc = w.magic_accuracy
            out.append(f"  watermark: {'detected' if w.detected else 'not detected'} (score {w.z:.1f}, threshold "
                       f"{watermark.Z_THRESHOLD:.1f}; fixed-bit accuracy {acc:.0%}"
                       + (f"; version {w.version if w.version_reliable else '?'}; scale {w.scale:.3f}"
                          if w.detected else "") + ")")
        return out

    def to_dict(self) -> dict:
        """A JSON-friendly summary."""
        w = self.watermark
        return {"path": self.path, "kind": self.kind, "error": self.error, "labelled": self.labelled,
                "metadata": None if self.metadata is None else vars(self.metadata),
                "manifest": vars(self.manifest),
                "watermark": None if w is None else {"detected": w.detected, "score": w.z, "scale": w.scale,
                                                     "magic_accuracy": w.magic_accuracy,
                                                     "version": w.version if w.version_reliable else None}}


def _gif_comment(data: bytes) -> metadata.Provenance | None:
    """The source type a facerig GIF names in its comment extension (GIF has no XMP place Pillow writes)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        text = im.info.get("comment", b"")
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    if not text.startswith("facerig"):
        return None
    dst = next((d for d in metadata.SYNTHETIC if d in text), None)
    return metadata.Provenance(digital_source_type=dst, creator_tool=text.split(":")[0],
                               labelled="--no-label" not in text)


def _decode_image(data: bytes) -> np.ndarray:
    """(H,W,3) uint8 RGB from image bytes; ValueError for anything Pillow cannot decode."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ValueError(f"image too large ({im.width}x{im.height})")
                im.load()
                return np.asarray(im.convert("RGB"))
        except (OSError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            detail = "unknown format" if isinstance(exc, Image.UnidentifiedImageError) else str(exc).splitlines()[0][:120]
            raise ValueError(f"not a readable image or video ({detail})") from None


def _decode_video(path: Path, count: int = VIDEO_FRAMES) -> list[np.ndarray]:
    """Up to `count` RGB frames spread over the start of a video (imageio-ffmpeg)."""
    import imageio.v2 as imageio

    frames = []
    try:
        with imageio.get_reader(str(path), format="FFMPEG") as reader:
            for i, frame in enumerate(reader):
                frames.append(np.asarray(frame)[..., :3])
                if i + 1 >= count:
                    break
    except (OSError, RuntimeError, ValueError, StopIteration) as exc:
        raise ValueError(f"not a readable video ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") from None
    if not frames:
        raise ValueError("video has no frames")
    return frames


def verify(path: str | Path, trust_anchors: bytes | None = None, check_watermark: bool = True) -> Report:
    """Read metadata, C2PA manifest and watermark of an image or MP4 file and decide."""
    path = Path(path)
    report = Report(str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.error = f"cannot read: {exc.strerror or exc}"
        return report
    kind = metadata.sniff(data)
    report.kind = kind or "image"
    try:
        packet = metadata.read_xmp(data)
    except metadata.MetadataError as exc:
        report.error = f"damaged {kind} file ({exc})"
        return report
    report.metadata = metadata.parse_xmp(packet) if packet else None
    if kind in c2pa_manifest.MIME:
        report.manifest = c2pa_manifest.read(data, kind, trust_anchors)
    try:
        if kind == "mp4":
            frames = _decode_video(path)
            report.size = frames[0].shape[:2]
            if check_watermark:
                report.watermark = watermark.detect(frames[0], frames=frames)
        else:
            image = _decode_image(data)
            report.size = image.shape[:2]
            if data[:6] in (b"GIF87a", b"GIF89a"):
                report.kind, report.metadata = "gif", _gif_comment(data)
            if check_watermark:
                report.watermark = watermark.detect(image)
    except ValueError as exc:
        report.error = str(exc)
    return report
