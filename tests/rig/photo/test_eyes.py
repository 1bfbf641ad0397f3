"""The eye stage on a real photo (NASA's public-domain astronaut portrait): a wink shuts one eye, gaze moves
the irises; both read back by MediaPipe on the output, a detector the stage does not draw with."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from morphable.gaze import EYE_YAW_MAX
from rig.photo.eyes import EYEBALL_RADIUS, MP_LIDS, _eye_map, EyeFrame

pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def rig():
    from skimage import data

    from rig.photo.photo_rig import PhotoRig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PhotoRig.from_photo(data.astronaut()[..., :3], photometric=False)   # landmarks only: fast


@pytest.fixture(scope="module")
def mesh():
    from morphable.landmarks_mp import MediaPipeBackend, mediapipe_importable

    if not mediapipe_importable():
        pytest.skip("MediaPipe is not importable")
    backend = MediaPipeBackend(max_faces=1)

    def read(image: np.ndarray) -> dict:
        """Per eye (subject's Left, Right): opening / width and the iris centre (px), read by MediaPipe."""
        face = backend.detect(image)[0]
        out = {}
        for k, name in enumerate(("Left", "Right")):
            up, lo = (face.mesh[list(rows)] for rows in MP_LIDS[name])
            width = float(np.linalg.norm(up[-1] - up[0]))
            out[name] = (float(np.linalg.norm(up[1:-1] - lo[1:-1], axis=1).mean()) / width,
                         face.iris[k, 0].copy(), width)
        return out

    return read


def _detail(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean absolute grey step between neighbouring pixels in a box (x0, y0, x1, y1): texture, not a smooth patch."""
    x0, y0, x1, y1 = box
    g = image[y0:y1, x0:x1].astype(float).mean(-1)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def test_a_left_wink_shuts_the_left_eye_only_with_the_lids_own_skin(rig, mesh):
    before = mesh(rig.image)
    out = rig.render(rig.target(expression={"eyeBlinkLeft": 1.0}))
    after = mesh(out)
    left, right = before["Left"][0], before["Right"][0]
    assert left > 0.2 and right > 0.2                      # both open in the photo
    assert after["Left"][0] < 0.4 * left                   # shut most of the way
    assert abs(after["Right"][0] - right) < 0.15 * right   # the other eye stays as it was
    # the shut eye keeps the lid's texture and lashes (repainting it with blurred skin kept 0.37 here)
    c, w = before["Left"][1], before["Left"][2]
    box = (int(c[0] - w / 2), int(c[1] - w / 2), int(c[0] + w / 2), int(c[1] + w / 4))
    assert _detail(out, box) > 0.45 * _detail(rig.image, box)


def test_a_sideways_gaze_moves_both_irises_toward_image_right(rig, mesh):
    before = mesh(rig.image)
    after = mesh(rig.render(rig.target(expression={"eyeLookOutLeft": 1.0, "eyeLookInRight": 1.0})))
    for name in ("Left", "Right"):
        shift = after[name][1] - before[name][1]
        expected = EYEBALL_RADIUS * before[name][2] * np.sin(np.radians(EYE_YAW_MAX))
        assert 0.5 * expected < shift[0] < 1.6 * expected, (name, shift, expected)
        assert abs(shift[1]) < 0.5 * expected
        assert abs(after[name][0] - before[name][0]) < 0.25 * before[name][0]   # the lids stay


def test_the_eyes_turn_together_so_a_tracker_s_vergence_noise_draws_nothing(rig):
    """A driver's two irises read as turning apart (aniportrait: one eye 4 degrees out, the other 7 in) is noise: the
    eyes take their mean turn, here none, so the photo's eyes stay exactly as they are."""
    target = rig.target(expression={"eyeLookOutLeft": 0.2, "eyeLookOutRight": 0.2})
    assert torch.equal(torch.as_tensor(rig.render(target)), torch.as_tensor(rig.render(rig.target())))


def test_the_lid_slides_down_over_the_eye_keeping_its_lashes():
    # a drawn eye: skin, a dark lash band above the upper lid's margin (v = 6..10, a tenth of the eye's width
    # as on photos), white sclera below it down to v = -4
    h = w = 60
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    v = 30 - ys
    img = np.full((3, h, w), 0.8, np.float32)
    inside = (xs > 10) & (xs < 50)
    img[:, inside & (v < 6) & (v > -4)] = 1.0
    img[:, inside & (v >= 6) & (v < 10)] = 0.05
    image = torch.from_numpy(img)
    eye = EyeFrame(torch.tensor([10.0, 30.0]), torch.tensor([50.0, 30.0]))
    flat = torch.tensor([[0.0, 0.0], [0.01, 0.0], [0.99, 0.0], [1.0, 0.0]])
    up = flat + torch.tensor([0.0, 6.0]) * torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    lo = flat - torch.tensor([0.0, 4.0]) * torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    shut = lo.clone()
    rows, cols, src = _eye_map(image, eye, (up, lo), (shut, lo), torch.zeros(2), (0.5, 0.0), 5.0)
    g = torch.stack([src[..., 0] / w * 2 - 1, src[..., 1] / h * 2 - 1], -1)[None]
    patch = torch.nn.functional.grid_sample(image[None], g, align_corners=False)[0]
    col = patch[0, :, 30 - cols.start].numpy()                   # the eye's middle column, top to bottom
    vv = 30 - (np.arange(rows.start, rows.stop) + 0.5)
    assert col[(vv > -3) & (vv < 5)].max() < 0.9                  # no white left between the lids
    dark = vv[col < 0.3]
    assert len(dark) and dark.min() > -6 and dark.max() < 2       # the lashes moved down to the lower lid


def test_the_compiled_polyline_equals_the_tensor_version():
    """_polyline's numba loop gives the tensor formula's float32 values exactly, on knots and between them."""
    from rig.photo.eyes import _polyline

    def tensor_version(t, knots):
        tk, vk = knots[:, 0], knots[:, 1]
        tc = t.clamp(float(tk[0]), float(tk[-1]))
        i = torch.searchsorted(tk.contiguous(), tc.contiguous()).clamp(1, len(tk) - 1)
        v = vk[i - 1] + (vk[i] - vk[i - 1]) * ((tc - tk[i - 1]) / (tk[i] - tk[i - 1]).clamp_min(1e-6))
        return torch.where((t < tk[0]) | (t > tk[-1]), torch.zeros_like(v), v)

    g = torch.Generator().manual_seed(0)
    for trial in range(60):
        k = 2 + trial % 8
        tk = torch.sort(torch.rand(k, generator=g) * 1.2 - 0.1).values
        if trial % 5 == 0:
            tk[k // 2] = tk[k // 2 - 1]           # two knots at one t
        knots = torch.stack([tk, torch.randn(k, generator=g) * 5], -1)
        t = torch.rand(30, 20, generator=g) * 1.4 - 0.2
        t.view(-1)[:k] = tk
        assert torch.equal(_polyline(t, knots), tensor_version(t, knots))
