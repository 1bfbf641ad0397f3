"""Tracking reads the whole expression: known ARKit weights on renders come back at slope ~1, gaze
from the irises follows the model's eyeballs, and a real clip's blinks, winks and smiles show."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from morphable.arkit import expression_index
from morphable.fit.gaze_read import gaze_angles
from morphable.fit.mesh_expression import basis_for, mesh3d, neutral_mesh
from morphable.fit.track import track_frames
from morphable.gaze import eye_angles

from .fit_helpers import default_model

mp = pytest.importorskip("morphable.landmarks_mp")
if not mp.mediapipe_importable():
    pytest.skip("mediapipe is not importable", allow_module_level=True)

#: a clip at rest most of the time with one excursion, as real clips are (the calm frames are the neutral)
LEVELS = np.array([0.0, 0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 0.0, 0.0])
REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real-faces" / "xportrait_driving.mp4"


@pytest.fixture(scope="module")
def backend():
    return mp.MediaPipeBackend()


def clip(model, weights: dict, seed: int = 7, yaw: float = 5.0, pitch: float = -3.0, size: int = 256):
    """Renders of one identity at LEVELS x `weights`."""
    from morphable import lighting
    from morphable.render import Renderer, to_uint8

    base = model.random_params(1, seed=seed, identity_scale=0.7).with_pose(yaw=yaw, pitch=pitch)
    base = base.replace(light=lighting.preset("front"))
    renderer = Renderer(model, size=size, background=0.35)
    shots = {}
    for lv in set(LEVELS.tolist()):
        p = base.with_expression({k: v * lv for k, v in weights.items()})
        shots[lv] = np.ascontiguousarray(to_uint8(renderer(p).image))
    return [shots[lv] for lv in LEVELS.tolist()]


def slope(values: np.ndarray) -> float:
    return float(np.polyfit(LEVELS, values, 1)[0])


CASES = {
    "smile": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0},
    "jawOpen": {"jawOpen": 1.0},
    "blink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "wink": {"eyeBlinkLeft": 1.0},
    "squint": {"eyeSquintLeft": 1.0, "eyeSquintRight": 1.0},
    "pucker": {"mouthPucker": 1.0},
    "funnel": {"mouthFunnel": 1.0},
}
#: measured short of the goal (2026-12-07, docs/tracking.md): MediaPipe closes a rendered eye at
#: half a blink (slope 1.17); squint 0.83, pucker 0.76, funnel 0.70 read under; strict xfails so a fix shows
SHORT = {"blink": "blink slope 1.17: MediaPipe snaps a half-closed rendered eye shut",
         "squint": "squint slope 0.83", "pucker": "pucker slope 0.76", "funnel": "funnel slope 0.70"}
FAST = ("smile", "wink")


def _case(name):
    marks = [] if name in FAST else [pytest.mark.slow]
    if name in SHORT:
        marks.append(pytest.mark.xfail(reason=SHORT[name], strict=True))
    return pytest.param(name, marks=marks)


@pytest.mark.parametrize("case", [_case(c) for c in CASES])
def test_known_weights_read_back_at_slope_one(backend, case):
    model = default_model()
    weights = CASES[case]
    track = track_frames(model, clip(model, weights), fps=12.0, smooth="none", light=False, backend=backend,
                         expressions="mesh")
    assert track.expressions == "mesh" and set(track.calm) <= {0, 1, 2, 3, 8, 9}
    expr = track.stacked().expression.double().numpy()
    for name in weights:
        s = slope(expr[:, expression_index(name)])
        assert 0.85 <= s <= 1.15, f"{name}: slope {s:.2f}, read {np.round(expr[:, expression_index(name)], 2)}"
    if case == "wink":   # the other eye stays open
        assert expr[-1, expression_index("eyeBlinkRight")] < 0.3


#: the default model's eyeballs: radius 15.4 mm over 27.6 mm between the eye corners (its eyes are
#: larger than an adult's 0.37); eyeLook* at weight 1 turns them by these degrees (Kabsch fit of the
#: eyeball vertices): in/out 14.4-14.8 sideways, up 9.8, down 11.0
MODEL_EYE_RADIUS = 0.56
GAZE = {"eyeLookOutLeft": (0, 0, 14.4), "eyeLookInLeft": (0, 0, -14.8), "eyeLookUpLeft": (0, 1, 9.8),
        "eyeLookDownLeft": (0, 1, -11.0)}


#: iris shifts MediaPipe reports on renders, as a share of the eyeball's true turn (2026-12-07): in 1.0,
#: out 0.69, up 0.37, down 0.28 -- the rendered iris is small and the lids cover it up and down
GAZE_SHORT = {"eyeLookOutLeft": "out: slope 0.69", "eyeLookUpLeft": "up: slope 0.37",
              "eyeLookDownLeft": "down: slope 0.28"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.xfail(reason=GAZE_SHORT[n], strict=True)])
                                  if n in GAZE_SHORT else n for n in GAZE])
def test_gaze_follows_the_rendered_eyeballs(backend, name):
    model = default_model()
    eye, axis, degrees = GAZE[name]
    dets = [backend.detect(img)[0] for img in clip(model, {name: 1.0, name.replace("Left", "Right"): 1.0})]
    meshes = np.stack([mesh3d(d.mesh, d.mesh_z) for d in dets])
    basis = basis_for(model)
    calm = np.array([0, 1, 2, 3])
    angles = gaze_angles(meshes, np.stack([d.iris for d in dets]), neutral_mesh(basis, meshes, calm), calm,
                         basis.rigid, iris_z=np.stack([d.iris_z for d in dets]), radius=MODEL_EYE_RADIUS)
    read = angles[:, eye, axis]
    s = slope(read) / degrees
    assert 0.85 <= s <= 1.15, f"{name}: slope {s:.2f} of {degrees} deg, read {np.round(read, 1)}"
    assert np.abs(angles[:, eye, 1 - axis]).max() < 4.0      # the other axis stays put


@pytest.fixture(scope="module")
def real_track(backend):
    if not REAL.exists():
        pytest.skip(f"real clip not found at {REAL} (../shared/data/real-faces)")
    from morphable.fit.video_io import open_frames

    frames, fps = open_frames(REAL)
    return track_frames(default_model(), list(frames), fps=fps, backend=backend, light=False)


def _curve(track, name):
    return track.stacked().expression.double().numpy()[:, expression_index(name)]


@pytest.mark.slow
def test_real_clip_blinks_wink_smile_pout_and_mouth(real_track):
    """xportrait_driving.mp4 (60 frames, 12 fps), events found by looking at its frames: both eyes shut
    at 1-3, 14, 25-29, 44-48; the subject's left eye shuts first / alone at 0, 24 and 29 (a wink);
    toothy grins at 24-28; a pout at 44 and 54 and a pouting open mouth at 47-48."""
    track = real_track
    assert track.expressions == "mesh" and len(track.frames) == 60
    left, right = _curve(track, "eyeBlinkLeft"), _curve(track, "eyeBlinkRight")
    shut, open_ = [1, 2, 25, 26, 45], [10, 20, 35, 40, 55]
    assert left[shut].min() > 0.7 and right[shut].min() > 0.7, (left[shut], right[shut])
    assert left[open_].max() < 0.2 and right[open_].max() < 0.2, (left[open_], right[open_])
    wink = left - right
    assert wink.max() > 0.25 and int(np.argmax(wink)) in (0, 24, 28, 29), wink
    calm = np.array(track.calm)
    smile = np.maximum(_curve(track, "mouthSmileLeft"), _curve(track, "mouthSmileRight"))
    assert smile[24:29].max() > 0.5 and smile[calm].max() < 0.1
    pucker = _curve(track, "mouthPucker")
    assert pucker[[44, 54]].min() > pucker[calm].mean() + 0.3
    # jawOpen is the lips' gap from the clip's most closed mouth (mesh_expression.open_mouth): his calm frames
    # smile with the lips apart (dlib: 0.1 inter-ocular distances), so they read open too
    jaw = _curve(track, "jawOpen")
    assert jaw[47:49].min() > 0.2 and 0.15 < jaw[calm].mean() < 0.5


def test_gaze_geometry_reads_the_eye_turn_whatever_the_head_does():
    """Iris centres moved on the eyeball sphere by known angles, the whole head then turned and moved:
    gaze_angles gives the eye's own turn (head motion removed by the alignment), closed eyes borrowed."""
    from morphable.fit.gaze_read import EYE_RADIUS
    from morphable.fit.mesh_expression import EYE_CONTOURS
    from morphable.pose import euler_to_matrix

    basis = basis_for(default_model())
    neutral = basis.neutral.astype(np.float64) * 100.0                       # IOD 100 px
    rest = np.stack([neutral[list(c + u)].mean(0) for c, u, _ in EYE_CONTOURS])   # (2,3) iris at rest
    widths = [np.linalg.norm(neutral[c[0], :2] - neutral[c[1], :2]) for c, _, _ in EYE_CONTOURS]
    yaw = np.array([0.0, 0.0, 10.0, 20.0, -15.0, 0.0])
    pitch = np.array([0.0, 0.0, 0.0, 5.0, -10.0, 12.0])
    meshes, irises, zs = [], [], []
    for t in range(len(yaw)):
        head = (15.0 * (t % 2), -8.0, 5.0)                                  # yaw, pitch, roll of the head
        rot = euler_to_matrix(*(torch.tensor([a], dtype=torch.float64) for a in head))[0].numpy()
        iris = rest.copy()
        for e in range(2):
            r = EYE_RADIUS * widths[e]
            iris[e, 0] += r * np.sin(np.radians(yaw[t]))
            iris[e, 1] -= r * np.sin(np.radians(pitch[t]))                  # image y down, pitch up
        pts = np.concatenate([neutral, iris]) @ rot.T * (1.0 + 0.1 * t) + np.array([30.0 * t, -12.0 * t, 0.0])
        meshes.append(pts[:-2])
        irises.append(np.repeat(pts[-2:, None, :2], 5, 1))
        zs.append(np.repeat(pts[-2:, None, 2], 5, 1))
    angles = gaze_angles(np.stack(meshes), np.stack(irises), neutral, np.array([0, 1]), basis.rigid,
                         iris_z=np.stack(zs))
    assert np.allclose(angles[:, :, 0], yaw[:, None], atol=0.5)
    assert np.allclose(angles[:, :, 1], pitch[:, None], atol=0.5)
    blink = np.zeros((len(yaw), 2))
    blink[3, 0] = 1.0                                   # left eye shut at frame 3: takes the right eye's angles
    blink[4] = 1.0                                      # both shut at frame 4: frame 3's angles held
    held = gaze_angles(np.stack(meshes), np.stack(irises), neutral, np.array([0, 1]), basis.rigid, blink,
                       iris_z=np.stack(zs))
    assert np.allclose(held[3, 0], angles[3, 1]) and np.allclose(held[4], held[3])


def test_solve_weights_warm_start():
    """init= starts the solve from given weights (the live tracker's previous frame): zeros are the default start,
    and a start at the answer stays near it in a few steps."""
    from morphable.fit.mesh_expression import solve_weights

    basis = basis_for(default_model())
    truth = np.zeros((2, 52))
    truth[:, basis.solved] = np.random.default_rng(0).uniform(0, 0.6, (2, int(basis.solved.sum())))
    disp = np.einsum("tk,kic->tic", truth, basis.jacobian.astype(np.float64))
    cold = solve_weights(basis, disp)
    assert np.array_equal(solve_weights(basis, disp, init=np.zeros((1, 52))), cold)
    warm = solve_weights(basis, disp, 5, init=cold)
    assert np.abs(warm - cold).max() < np.abs(solve_weights(basis, disp, 5) - cold).max() / 10
