"""morphable.transfer. Relative transfer with translation: the source's head crosses the same share of the frame and
scales by the same factor as the driver's (the photo engine's head follows a moving driver)."""
from __future__ import annotations

import pytest
import torch

from morphable.camera import Camera
from morphable.errors import MorphableError
from morphable.params import FaceParams, set_pose_and_expression
from morphable.transfer import check_blocks, transfer


def _params(pose_rows):
    pose = torch.tensor(pose_rows, dtype=torch.float64)
    t = len(pose)
    return FaceParams(identity=torch.zeros(t, 4, dtype=torch.float64),
                      expression=torch.zeros(t, 52, dtype=torch.float64),
                      pose=pose, light=torch.zeros(t, 9, 3, dtype=torch.float64),
                      albedo=torch.zeros(t, 0, dtype=torch.float64))


def _screen(pose, cam):
    """Head centre in NDC and its depth."""
    depth = cam.distance - pose[:, 5]
    return pose[:, 3:5] / (depth[:, None] * cam.tan_half_fov), depth


def test_translation_follows_the_driver_on_screen():
    cam = Camera()
    src = _params([[5.0, 0.0, 0.0, 0.03, -0.02, -0.30]])
    drv = _params([[0.0, 0.0, 0.0, 0.00, 0.00, -0.10],
                   [10.0, 0.0, 0.0, 0.05, 0.01, -0.10],
                   [0.0, 5.0, 0.0, -0.04, 0.02, 0.10]])      # moves right, up, then left and nearer
    out = transfer(src, drv, ["pose"], relative=True, translation=True, camera=cam)
    ndc_s, depth_s = _screen(out.pose, cam)
    ndc_d, depth_d = _screen(drv.pose, cam)
    assert torch.allclose(out.pose[0], src.pose[0])                   # frame 0 is the source
    assert torch.allclose(ndc_s - ndc_s[:1], ndc_d - ndc_d[:1], atol=1e-9)
    assert torch.allclose(depth_s / depth_s[0], depth_d / depth_d[0], atol=1e-9)
    assert torch.allclose(out.pose[:, :3], src.pose[:, :3] + drv.pose[:, :3] - drv.pose[:1, :3])
    still = transfer(src, drv, ["pose"], relative=True)                 # the GAN rig's default: no translation
    assert torch.equal(still.pose[:, 3:], src.pose[:, 3:].expand(3, -1))
    absolute = transfer(src, drv, ["pose"], relative=False, translation=True)
    assert torch.equal(absolute.pose, drv.pose)


def test_check_blocks_takes_a_subset_of_the_transferable_blocks():
    assert check_blocks(["pose", "light"]) == ["pose", "light"]
    for bad in ([], ["pose", "identity"]):
        with pytest.raises(MorphableError, match="subset of expression, pose, light"):
            check_blocks(bad)


def test_set_pose_and_expression_sets_or_offsets_in_place():
    p = _params([[5.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    assert set_pose_and_expression(p, yaw=10, expression={"jawOpen": 0.25}) is p
    assert float(p.pose[0, 0]) == 10.0 and float(p.pose[0, 1]) == 1.0
    set_pose_and_expression(p, pitch=2, expression={"jawOpen": 0.25}, relative=True)
    assert float(p.pose[0, 1]) == 3.0 and float(p.expression_dict()["jawOpen"]) == 0.5
    with pytest.raises(MorphableError, match="did you mean jawOpen"):
        set_pose_and_expression(p, expression={"jawOpne": 1.0})



def test_blinks_transfer_the_share_of_the_opening_kept():
    """A driver half shut at frame 0 (blink 0.5) that opens (0) doubles its opening: so does the source, whose own
    blink 0 goes to -1 (wider than its own eye); closing fully is 1 whatever the source; other weights add."""
    from morphable.arkit import expression_index

    src = _params([[0.0] * 6])
    drv = _params([[0.0] * 6] * 3)
    b, j = expression_index("eyeBlinkLeft"), expression_index("jawOpen")
    drv.expression[:, b] = torch.tensor([0.5, 0.0, 1.0], dtype=torch.float64)
    drv.expression[:, j] = torch.tensor([0.1, 0.3, 0.0], dtype=torch.float64)
    out = transfer(src, drv, ["expression"])
    assert out.expression[:, b].tolist() == pytest.approx([0.0, -1.0, 1.0])
    assert out.expression[:, j].tolist() == pytest.approx([0.0, 0.2, 0.0])
    assert transfer(src, drv, ["expression"], relative=False).expression[:, b].tolist() == pytest.approx([0.5, 0.0, 1.0])


def test_a_relaxed_squint_opens_the_source_and_tracker_noise_moves_nothing():
    """A driver squinting at frame 0 (eyeSquint 0.5) that relaxes (0) opens its eye by 1 / (1 - 0.36 * 0.5): so does
    a source read at squint 0 (an added difference, clamped at 0, kept it as it was); a 3% flicker of the blink
    leaves the source's eye exactly as it is; squint and wide still add for the flow (the cheek rises with them), the
    blink making up the rest of a ratio."""
    from morphable.arkit import expression_index
    from morphable.transfer import SQUINT_SHARE, opening

    src = _params([[0.0] * 6])
    drv = _params([[0.0] * 6] * 4)
    b, q = expression_index("eyeBlinkRight"), expression_index("eyeSquintRight")
    drv.expression[:, q] = torch.tensor([0.5, 0.0, 0.5, 0.8], dtype=torch.float64)
    drv.expression[:, b] = torch.tensor([0.0, 0.0, 0.03, 0.0], dtype=torch.float64)
    out = transfer(src, drv, ["expression"])
    assert out.expression[:, q].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.3])
    assert out.expression[:3, b].tolist() == pytest.approx([0.0, 1.0 - 1.0 / (1.0 - SQUINT_SHARE * 0.5), 0.0])
    lids = out.expression[:, [b, q, expression_index("eyeWideRight")]]
    assert opening(lids)[3] == pytest.approx((1 - SQUINT_SHARE * 0.8) / (1 - SQUINT_SHARE * 0.5))


def test_frame_0_keeps_the_source_eye_however_shut_the_driver_s_is():
    """xportrait_driving's frame 0: blink 0.76 and squint 0.49 on the subject's left eye (6% of its opening left):
    frame 0 is the source's own eye (dividing by a floored opening shut a source blink of 0.15 to 0.74), and opening
    fully is capped at 1 / MIN_OPEN times the source's opening."""
    from morphable.arkit import expression_index
    from morphable.transfer import MIN_OPEN, opening

    src = _params([[0.0] * 6])
    b, q = expression_index("eyeBlinkLeft"), expression_index("eyeSquintLeft")
    src.expression[0, b] = 0.146
    drv = _params([[0.0] * 6] * 2)
    drv.expression[0, b], drv.expression[0, q] = 0.76, 0.49
    out = transfer(src, drv, ["expression"])
    assert float(out.expression[0, b]) == pytest.approx(0.146)
    lids = out.expression[:, [b, q, expression_index("eyeWideLeft")]]
    assert float(opening(lids)[1]) == pytest.approx((1 - 0.146) / MIN_OPEN)


def test_gaze_transfers_as_the_driver_eyes_turn_since_frame_0():
    """A driver looking 10 degrees out (eyeLookOutLeft 1/3) in frame 0 who then looks ahead and 10 degrees in turns the
    source's eye by -10 and -20 degrees (added weights, clamped at 0, turned it nowhere and then 10 in)."""
    from morphable.arkit import expression_index
    from morphable.gaze import EYE_YAW_MAX, eye_angles

    src = _params([[0.0] * 6])
    drv = _params([[0.0] * 6] * 3)
    drv.expression[0, expression_index("eyeLookOutLeft")] = 10.0 / EYE_YAW_MAX
    drv.expression[2, expression_index("eyeLookInLeft")] = 10.0 / EYE_YAW_MAX
    out = transfer(src, drv, ["expression"])
    assert eye_angles(out.expression)[:, 0, 0].tolist() == pytest.approx([0.0, -10.0, -20.0])
