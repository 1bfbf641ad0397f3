"""MediaPipe face-mesh backend: real photos, the iBUG-68 blend table, the auto choice and its fallback."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from morphable.errors import MorphableError
from morphable.landmark_backends import auto_backend, backend_by_name
from morphable.landmarks import DlibBackend
from morphable.landmarks_mp import (IBUG68_FROM_MESH, NUM_MESH_POINTS, MediaPipeBackend, ibug68_from_mesh,
                                    mediapipe_importable)

needs_mp = pytest.mark.skipif(not mediapipe_importable(), reason="mediapipe is not installed")


@pytest.fixture(scope="module")
def mp_backend():
    if not mediapipe_importable():
        pytest.skip("mediapipe is not installed")
    return MediaPipeBackend()


def test_blend_table_is_complete_and_in_range():
    rows = np.asarray(IBUG68_FROM_MESH, dtype=float)
    assert rows.shape == (68, 3)
    assert ((rows[:, :2] >= 0) & (rows[:, :2] < NUM_MESH_POINTS)).all()
    assert ((rows[:, 2] >= 0) & (rows[:, 2] <= 1)).all()
    mesh = np.random.default_rng(0).normal(size=(NUM_MESH_POINTS, 2))
    pts = ibug68_from_mesh(mesh)
    i, j, a = int(rows[40, 0]), int(rows[40, 1]), rows[40, 2]
    assert np.allclose(pts[40], (1 - a) * mesh[i] + a * mesh[j])


@needs_mp
def test_finds_utkface_faces_with_mesh_and_dlib_like_points(mp_backend, utkface_photos):
    photos = utkface_photos(16, 21)
    dlib = DlibBackend()
    found, dist = 0, []
    for img in photos:
        faces = mp_backend.detect(img)
        if not faces:
            continue
        found += 1
        f = faces[0]
        assert f.mesh.shape == (NUM_MESH_POINTS, 2) and f.mesh_z.shape == (NUM_MESH_POINTS,)
        assert f.points.shape == (68, 2) and np.isfinite(f.points).all()
        x0, y0, x1, y1 = f.box   # the mesh may run past a tight crop (forehead, chin)
        m = 0.25 * max(img.shape[:2])
        assert -m <= x0 < x1 <= img.shape[1] + m and -m <= y0 < y1 <= img.shape[0] + m
        assert x1 - x0 > 0.4 * img.shape[1]
        ref = dlib.detect(img)
        if ref:
            iod = np.linalg.norm(ref[0].points[45] - ref[0].points[36])
            dist.append(np.linalg.norm(f.points - ref[0].points, axis=1).mean() / iod)
    assert found >= 15
    # measured on 299 UTKFace photos: mean 3.5 %, median 3.2 % of the inter-ocular distance
    assert len(dist) >= 12 and np.median(dist) < 0.06


@needs_mp
def test_no_face_in_noise(mp_backend):
    noise = np.random.default_rng(3).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    assert mp_backend.detect(noise) == []


@needs_mp
def test_auto_prefers_mediapipe():
    assert isinstance(auto_backend(), MediaPipeBackend)
    assert isinstance(backend_by_name("auto"), MediaPipeBackend)
    assert isinstance(backend_by_name("mediapipe"), MediaPipeBackend)


def test_auto_falls_back_to_dlib_without_mediapipe(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)   # makes `import mediapipe` fail
    assert not mediapipe_importable()
    assert isinstance(auto_backend(), DlibBackend)
    assert isinstance(backend_by_name("auto"), DlibBackend)
    with pytest.raises(MorphableError, match="mediapipe is not importable"):
        MediaPipeBackend()


def test_auto_falls_back_to_dlib_when_mediapipe_cannot_start(monkeypatch):
    import morphable.landmark_backends as lm
    import morphable.landmarks_mp as lmp

    def broken(self, *args, **kwargs):
        raise MorphableError("MediaPipe face mesh failed to start: test")

    monkeypatch.setattr(lmp.MediaPipeBackend, "__init__", broken)
    monkeypatch.setattr(lm, "_AUTO_BACKEND", None)
    with pytest.warns(UserWarning, match="using dlib"):
        assert isinstance(auto_backend(), DlibBackend)


class _FailingProcess:
    """A FaceMesh stand-in whose graph fails when it runs (as a broken runtime does)."""

    def __init__(self, **kwargs):
        pass

    def process(self, image):
        raise RuntimeError("CalculatorGraph::Run() failed\nin a calculator")


def _fail_on_construction(**kwargs):
    raise ValueError("could not load the face landmark model")


@needs_mp
@pytest.mark.parametrize("fake, message", [(_fail_on_construction, "ValueError: could not load the face landmark"),
                                           (_FailingProcess, "RuntimeError: CalculatorGraph::Run() failed)")])
def test_start_up_failures_are_morphable_errors(monkeypatch, fake, message):
    from mediapipe.python.solutions import face_mesh

    monkeypatch.setattr(face_mesh, "FaceMesh", fake)
    with pytest.raises(MorphableError, match="did not start") as exc:
        MediaPipeBackend()
    assert message in str(exc.value) and "\n" not in str(exc.value)


@needs_mp
def test_a_failing_graph_is_a_morphable_error_and_one_cli_line(monkeypatch, mp_backend, run_cli, tmp_path):
    import imageio.v3 as iio

    from mediapipe.python.solutions import face_mesh

    broken = MediaPipeBackend.__new__(MediaPipeBackend)
    broken.__dict__.update(mp_backend.__dict__, _mesh=_FailingProcess())
    with pytest.raises(MorphableError, match="failed on an image"):
        broken.detect(np.zeros((64, 64, 3), np.uint8))
    monkeypatch.setattr(face_mesh, "FaceMesh", _fail_on_construction)
    photo = tmp_path / "face.png"
    iio.imwrite(photo, np.full((64, 64, 3), 128, np.uint8))
    code, _, err = run_cli("fit", photo, "--landmarks", "mediapipe", "-o", tmp_path / "p.json")
    assert code == 2 and "did not start" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


@needs_mp
def test_video_mode_starts_one_graph_and_fails_in_one_line(monkeypatch):
    """static_image_mode=False (the live tracker's backend) builds one FaceMesh in video mode; a start-up failure
    is a one-line MorphableError like the static one's."""
    from mediapipe.python.solutions import face_mesh

    made = []
    real = face_mesh.FaceMesh

    def counting(**kwargs):
        made.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(face_mesh, "FaceMesh", counting)
    backend = MediaPipeBackend(max_faces=1, min_confidence=0.5, pad=0.0, static_image_mode=False)
    assert [k["static_image_mode"] for k in made] == [False] and made[0]["min_tracking_confidence"] == 0.5
    assert backend.detect(np.zeros((64, 64, 3), np.uint8)) == []
    monkeypatch.setattr(face_mesh, "FaceMesh", _fail_on_construction)
    with pytest.raises(MorphableError, match="did not start") as exc:
        MediaPipeBackend(static_image_mode=False)
    assert "ValueError: could not load" in str(exc.value) and "\n" not in str(exc.value)
