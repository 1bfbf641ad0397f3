"""The animated .glb imported by a real Blender (its own glTF importer, run in the background): 52 ARKit
shape keys, a shape-key action equal to the tracks, and a head rotation curve equal to the tracks'
yaw/pitch/roll. Skipped where Blender is not installed (.ci/run installs Debian's blender)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from morphable.animation import parse_tracks
from morphable.arkit import ARKIT_NAMES
from morphable.gltf import export_gltf
from morphable.model import MorphableModel
from morphable.pose import matrix_to_euler

from .toy_head import DEFAULT_MODEL

BLENDER = shutil.which("blender")
SCRIPT = Path(__file__).with_name("blender_gltf_dump.py")
pytestmark = pytest.mark.skipif(BLENDER is None, reason="Blender is not installed (apt-get install blender "
                                                        "python3-numpy; .ci/run installs it)")

TRACKS = {"fps": 25, "tracks": [
    {"block": "expression", "name": "eyeBlinkLeft", "keys": [[0.2, 0], [0.32, 1], [0.44, 0]]},
    {"block": "expression", "name": "mouthSmileRight", "keys": [[0, 0], [0.8, 0.8]], "interpolation": "smooth"},
    {"block": "expression", "name": "jawOpen", "keys": [[0, 0.1], [0.5, 0.9], [0.8, 0.2]]},
    {"block": "expression", "name": "eyeLookOutLeft", "keys": [[0, 0], [0.8, 0.7]]},
    {"block": "expression", "name": "eyeLookInRight", "keys": [[0, 0], [0.8, 0.7]]},
    {"block": "pose", "name": "yaw", "keys": [[0, -35], [0.8, 40]]},
    {"block": "pose", "name": "pitch", "keys": [[0, 10], [0.8, -15]]},
    {"block": "pose", "name": "roll", "keys": [[0, -5], [0.8, 8]]}]}
#: glTF (+y up) -> Blender (+z up): x stays, y_blender = -z_gltf, z_blender = y_gltf
GLTF_TO_BLENDER = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])


def _quat_matrix(w: float, x: float, y: float, z: float) -> np.ndarray:
    n = np.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    d = tmp_path_factory.mktemp("blender")
    model = MorphableModel.load(DEFAULT_MODEL)
    tracks = parse_tracks(TRACKS)
    glb = export_gltf(model, d / "take.glb", model.random_params(1, seed=4), animation=tracks, sparse=True)
    out = d / "dump.json"
    proc = subprocess.run([BLENDER, "-b", "--factory-startup", "--python-exit-code", "1", "--python", str(SCRIPT),
                           "--", str(glb), str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and out.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(out.read_text())
    meshes = [o for o in report["objects"] if o["type"] == "MESH"]
    assert len(meshes) == 1
    return tracks, report, meshes[0]


def test_blender_sees_52_arkit_shape_keys(imported):
    _, report, head = imported
    assert head["shape_keys"] == ["Basis"] + list(ARKIT_NAMES)
    assert report["blender"]


def test_shape_key_action_equals_the_tracks(imported):
    tracks, report, head = imported
    action = head["shape_key_action"]
    assert set(action) == {f'key_blocks["{n}"].value' for n in ARKIT_NAMES}
    sampled = tracks.sample()
    frames = tracks.frame_times() * report["fps"]   # Blender keys glTF seconds at the scene's frame rate
    for name in ARKIT_NAMES:
        pts = np.array(action[f'key_blocks["{name}"].value']["0"])
        assert len(pts) == tracks.num_frames, name
        assert np.allclose(pts[:, 0], frames, atol=1e-3), name
        expected = sampled.get(name, np.zeros(tracks.num_frames))
        assert np.allclose(pts[:, 1], expected, atol=1e-6), name
    blink = np.array(action['key_blocks["eyeBlinkLeft"].value']["0"])[:, 1]
    assert blink.max() == pytest.approx(1.0) and blink[0] == 0.0


def test_head_rotation_curve_equals_the_tracks(imported):
    tracks, report, head = imported
    rot = head["object_action"]["rotation_quaternion"]
    assert head["rotation_mode"] == "QUATERNION" and set(rot) == {"0", "1", "2", "3"}
    q = np.stack([np.array(rot[str(i)])[:, 1] for i in range(4)], axis=1)   # Blender's w, x, y, z
    assert len(q) == tracks.num_frames
    mats = np.stack([GLTF_TO_BLENDER.T @ _quat_matrix(*qi) @ GLTF_TO_BLENDER for qi in q])  # back in model axes
    yaw, pitch, roll = (a.numpy() for a in matrix_to_euler(torch.from_numpy(mats)))
    s = tracks.sample()
    assert np.abs(yaw - s["yaw"]).max() < 1e-3
    assert np.abs(pitch - s["pitch"]).max() < 1e-3
    assert np.abs(roll - s["roll"]).max() < 1e-3
    assert yaw[0] == pytest.approx(-35, abs=1e-3) and yaw[-1] == pytest.approx(40, abs=1e-3)
