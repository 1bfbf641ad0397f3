"""morphable.gaze: eye angles and ARKit eyeLook* weights map onto each other."""
import torch

from morphable.arkit import expression_index
from morphable.gaze import EYE_PITCH_MAX, EYE_YAW_MAX, LOOK_NAMES, eye_angles, look_weights, with_gaze


def test_round_trip_inside_the_range():
    angles = torch.tensor([[[12.0, -7.0], [10.0, -5.0]], [[-29.0, 24.0], [-30.0, 20.0]]])
    expr = with_gaze(torch.zeros(2, 52), angles)
    assert torch.allclose(eye_angles(expr), angles, atol=1e-5)


def test_subjects_left_is_out_for_the_left_eye_and_in_for_the_right():
    expr = with_gaze(torch.zeros(1, 52), torch.tensor([[[EYE_YAW_MAX, 0.0], [EYE_YAW_MAX, 0.0]]]))
    on = {n for n in LOOK_NAMES if float(expr[0, expression_index(n)]) > 0}
    assert on == {"eyeLookOutLeft", "eyeLookInRight"}
    w = look_weights(torch.tensor([[[0.0, -2 * EYE_PITCH_MAX], [0.0, 0.0]]]))
    assert float(w["eyeLookDownLeft"][0]) == 1.0 and float(w["eyeLookUpLeft"][0]) == 0.0


def test_other_weights_untouched():
    expr = torch.rand(3, 52)
    out = with_gaze(expr, torch.zeros(3, 2, 2))
    keep = [i for i in range(52) if i not in {expression_index(n) for n in LOOK_NAMES}]
    assert torch.equal(out[:, keep], expr[:, keep])
