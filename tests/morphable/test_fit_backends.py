"""Landmark backends for fitting: the face-alignment backend never downloads, dlib is the fallback."""
from __future__ import annotations

import importlib.util

import pytest

from morphable.errors import MorphableError
from morphable.landmarks import DlibBackend
from morphable.landmark_backends import backend_by_name
from morphable.landmarks_fa import FaceAlignmentBackend, cached_weights, face_alignment_available


def test_face_alignment_backend_refuses_without_cached_weights(tmp_path, monkeypatch):
    import torch.hub

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty cache
    assert cached_weights() is None and not face_alignment_available()
    with pytest.raises(MorphableError, match="dlib"):
        FaceAlignmentBackend()
    assert not (tmp_path / "checkpoints").exists() or not any((tmp_path / "checkpoints").iterdir())


def test_cached_weights_are_found_by_name(tmp_path, monkeypatch):
    import torch.hub

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "2DFAN4-cd938726ad.zip").write_bytes(b"x")
    assert cached_weights() is None  # the detector is still missing
    (tmp_path / "checkpoints" / "s3fd-619a316812.pth").write_bytes(b"x")
    assert set(cached_weights()) == {"landmarks", "detector"}
    if importlib.util.find_spec("face_alignment") is None:
        with pytest.raises(MorphableError, match="not installed.*dlib"):
            FaceAlignmentBackend()


def test_backend_by_name():
    assert isinstance(backend_by_name("dlib"), DlibBackend)
    with pytest.raises(MorphableError, match="unknown landmark backend.*auto, mediapipe, dlib"):
        backend_by_name("openface")
