"""eval_generator's method: samples scored at the photos' size, truncation passed on, undetected faces counted."""
from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench import eval_generator as ev


class _TinyG:
    """A stand-in generator: 16 px grey images; records the truncation and noise mode it was given."""

    z_dim, img_resolution = 4, 16

    def __init__(self) -> None:
        self.psi: list[float] = []
        self.noise: list[str] = []

    def mapping(self, z: torch.Tensor, c, truncation_psi: float = 1.0) -> torch.Tensor:
        self.psi.append(truncation_psi)
        return z[:, None]

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        self.noise.append(noise_mode)
        return torch.zeros(len(ws), 3, 16, 16)


def _fake_describe(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every other image 'has no face'; found ones get a descriptor from their index."""
    desc = np.full((len(images), 128), np.nan)
    pts = np.full((len(images), 68, 2), np.nan)
    g = np.random.default_rng(len(images))
    for i in range(0, len(images), 2):
        desc[i], pts[i] = g.normal(size=128), g.uniform(0, images.shape[1], size=(68, 2))
    return desc, pts


def test_samples_scored_at_photo_size_with_truncation(monkeypatch):
    G = _TinyG()
    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr(ev, "load_any_generator", lambda path, device: G)
    monkeypatch.setattr(ev, "describe", lambda imgs: (seen.append(imgs.shape), _fake_describe(imgs))[1])
    monkeypatch.setattr(ev, "fill_undetected", lambda imgs, desc, t: np.nan_to_num(desc, nan=9.0))
    monkeypatch.setattr(ev, "mediapipe_found", lambda imgs: None)
    args = argparse.Namespace(n=60, sample_seed=0, truncation=0.7, size=48, noise_mode="const")
    ref = np.random.default_rng(1).normal(size=(60, 128))
    entry = ev.evaluate("tiny.pt", args, ref, np.zeros((68, 2)), label="tiny")
    assert seen == [(60, 48, 48, 3)]  # 16 px samples resized to the photos' 48 px before dlib sees them
    assert G.psi and set(G.psi) == {0.7} and entry["truncation"] == 0.7
    assert set(G.noise) == {"const"} and entry["noise_mode"] == "const"  # the noise the rig draws
    assert entry["size"] == 48 and entry["resolution"] == 16


def test_undetected_faces_are_counted_not_dropped(monkeypatch):
    monkeypatch.setattr(ev, "describe", _fake_describe)
    monkeypatch.setattr(ev, "mediapipe_found", lambda imgs: None)
    filled: list[int] = []

    def fill(imgs, desc, template):
        rows = np.flatnonzero(~np.isfinite(desc).all(axis=1))
        filled.extend(rows.tolist())
        out = desc.copy()
        out[rows] = 5.0  # far from the reference: a generator with undetectable samples must score worse
        return out

    monkeypatch.setattr(ev, "fill_undetected", fill)
    ref = np.random.default_rng(1).normal(size=(200, 128))
    s = ev.score(np.zeros((120, 8, 8, 3), np.uint8), ref, np.zeros((68, 2)))
    assert filled == list(range(1, 120, 2))
    assert s["dlib_found"] == pytest.approx(0.5) and s["fd_count"] == 60
    assert s["fd_dlib"] > s["fd_dlib_found_only"]


def test_fill_undetected_uses_template(monkeypatch):
    import morphable.landmarks as lm

    calls: list[np.ndarray] = []
    monkeypatch.setattr(lm, "face_descriptor", lambda img, pts: (calls.append(pts), np.ones(128))[1])
    desc = np.zeros((3, 128))
    desc[1] = np.nan
    template = np.full((68, 2), 3.0)
    out = ev.fill_undetected(np.zeros((3, 8, 8, 3), np.uint8), desc, template)
    assert len(calls) == 1 and calls[0] is template
    assert np.isfinite(out).all() and (out[1] == 1).all() and (out[0] == 0).all()


def test_photos_at_own_size_from_their_share(tmp_path: Path):
    zpath = tmp_path / "faces.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for i in range(40):
            buf = tmp_path / f"{i}.png"
            Image.fromarray(np.full((24, 24, 3), i, np.uint8)).save(buf)
            zf.write(buf, f"{i}_0_0_x.png")
    assert ev.photo_size(str(zpath)) == 24
    held = ev.real_photos(str(zpath), 0.5, 40, None, held=True)
    train = ev.real_photos(str(zpath), 0.5, 40, None, held=False)
    assert held.shape[1:] == (24, 24, 3) and len(held) + len(train) == 40
    assert not set(held[:, 0, 0, 0]) & set(train[:, 0, 0, 0])
