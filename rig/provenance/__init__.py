"""Provenance labels on every facerig output: XMP metadata, an invisible watermark, C2PA manifests, verify."""
from __future__ import annotations

from .label import LabelInfo, Labeller, label_file_bytes, label_image, label_video, watermark_frames
from .verify import Report, verify

__all__ = ["LabelInfo", "Labeller", "Report", "label_file_bytes", "label_image", "label_video", "verify", "watermark_frames"]
