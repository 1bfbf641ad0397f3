"""ARKit names, FaceParams layout, pose conventions and SH lighting."""
import math

import pytest
import torch

from morphable.arkit import ARKIT_NAMES, expression_index
from morphable import lighting
from morphable.errors import MorphableError
from morphable.params import FaceParams
from morphable.pose import euler_to_matrix, matrix_to_euler


def test_arkit_names_are_apples_52_in_order():
    assert len(ARKIT_NAMES) == len(set(ARKIT_NAMES)) == 52
    assert ARKIT_NAMES[0] == "eyeBlinkLeft" and ARKIT_NAMES[17] == "jawOpen"
    assert ARKIT_NAMES[-1] == "tongueOut"
    # every Left shape has its Right twin
    for n in ARKIT_NAMES:
        if n.endswith("Left"):
            assert n[:-4] + "Right" in ARKIT_NAMES


def test_unknown_expression_lists_close_matches():
    with pytest.raises(ValueError, match="mouthSmileLeft"):
        expression_index("mouthSmileLft")
    with pytest.raises(ValueError, match="jawOpen"):
        expression_index("jawopen")


def test_flat_layout_round_trip_and_slices():
    p = FaceParams.neutral(3, k_id=7, k_alb=4)
    p.identity.normal_()
    p.albedo.normal_()
    p = p.with_expression({"jawOpen": 0.7, "eyeBlinkRight": 0.2}).with_pose(yaw=12, pitch=-3)
    v = p.to_vector()
    assert v.shape == (3, FaceParams.flat_size(7, 4)) == (3, 7 + 52 + 6 + 27 + 4)
    q = FaceParams.from_vector(v, 7, 4)
    for name in ("identity", "expression", "pose", "light", "albedo"):
        assert torch.equal(getattr(p, name), getattr(q, name))
    s = FaceParams.layout(7, 4)
    assert v[0, s["expression"]][expression_index("jawOpen")] == pytest.approx(0.7)
    assert v[0, s["pose"]][0] == pytest.approx(12.0)
    # light is stored row-major (k, channel)
    assert torch.equal(v[:, s["light"]].reshape(3, 9, 3), p.light)


def test_dict_round_trip_and_bad_shapes():
    p = FaceParams.neutral(1, 5).with_expression({"mouthSmileLeft": 0.4}).with_pose(roll=8)
    d = p.to_dict()
    assert d["pose"]["roll"] == pytest.approx(8) and d["expression"]["mouthSmileLeft"] == pytest.approx(0.4)
    q = FaceParams.from_dict(d)
    assert torch.allclose(q.to_vector(), p.to_vector())
    with pytest.raises(MorphableError):
        FaceParams(torch.zeros(2, 3), torch.zeros(2, 51), torch.zeros(2, 6), torch.zeros(2, 9, 3), torch.zeros(2, 0))
    with pytest.raises(MorphableError, match="pose"):
        FaceParams.from_dict({"pose": {"yawn": 3}})


@pytest.mark.parametrize("yaw,pitch,roll", [(20, 0, 0), (-35, 12, 5), (10, -25, -15), (0, 0, 40)])
def test_euler_round_trip(yaw, pitch, roll):
    t = lambda x: torch.tensor([float(x)])  # noqa: E731
    r = euler_to_matrix(t(yaw), t(pitch), t(roll))
    assert torch.allclose(r[0] @ r[0].T, torch.eye(3), atol=1e-6)
    y, p, ro = matrix_to_euler(r)
    assert (y.item(), p.item(), ro.item()) == pytest.approx((yaw, pitch, roll), abs=1e-4)


def test_pose_conventions_in_words():
    nose = torch.tensor([0.0, 0.0, 1.0])
    one = lambda **kw: euler_to_matrix(*(torch.tensor([float(kw.get(k, 0))]) for k in ("yaw", "pitch", "roll")))[0]  # noqa: E731
    assert (one(yaw=30) @ nose)[0] > 0.4          # yaw > 0: face turns to image right
    assert (one(pitch=20) @ nose)[1] > 0.3        # pitch > 0: chin up, nose up
    top = torch.tensor([0.0, 1.0, 0.0])
    assert (one(roll=20) @ top)[0] < -0.3         # roll > 0: counter-clockwise in the image


def test_ambient_light_shades_every_normal_with_one():
    n = torch.nn.functional.normalize(torch.randn(1, 500, 3), dim=-1)
    s = lighting.shade(n, lighting.ambient(1))
    assert torch.allclose(s, torch.ones_like(s), atol=1e-5)


def test_directional_presets_light_the_named_side():
    left_normal, right_normal = torch.tensor([[[-1.0, 0, 0]]]), torch.tensor([[[1.0, 0, 0]]])
    for name, brighter, darker in (("right", right_normal, left_normal), ("left", left_normal, right_normal)):
        light = lighting.preset(name)
        assert lighting.shade(brighter, light)[0, 0, 0] > lighting.shade(darker, light)[0, 0, 0] + 0.3
    with pytest.raises(MorphableError, match="ambient"):
        lighting.preset("sunset")


def test_sh_matches_lambertian_cosine_for_a_directional_light():
    # SH order 2 approximates max(cos, 0) * intensity / pi * pi ... check the known shape:
    # irradiance from a unit delta light is max(cos,0); order-2 SH is within ~0.1 of it.
    d = torch.tensor([0.0, 0.0, 1.0])
    light = lighting.sh_functions(d)[None, :, None].expand(1, 9, 3)
    angles = torch.linspace(0, math.pi, 19)
    normals = torch.stack([torch.sin(angles), torch.zeros_like(angles), torch.cos(angles)], -1)[None]
    got = lighting.shade(normals, light)[0, :, 0]
    want = torch.clamp(torch.cos(angles), min=0)
    assert (got - want).abs().max() < 0.12
