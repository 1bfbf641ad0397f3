"""Shared CLI value checks: pose angles and ARKit weights against morphable.controls, names with close matches."""
from __future__ import annotations

import pytest

from morphable import controls
from rig.cli.common import check_face_value
from rig.errors import RigError


def test_pose_limits_are_the_controls_table():
    check_face_value("yaw", 80.0, "pose")  # `morph render` draws a near-profile face
    with pytest.raises(RigError, match=r"^--yaw 95 is out of range \[-90, 90\]$"):
        check_face_value("yaw", 95.0)
    with pytest.raises(RigError, match=r"^--pitch -91 is out of range \[-90, 90\]$"):
        check_face_value("pitch", -91.0, "pose")
    assert controls.limits("pitch") == (-90.0, 90.0)
    check_face_value("roll", None, "pose")  # not given: nothing to check
    with pytest.raises(RigError, match="unknown pose angle 'yawn'"):
        check_face_value("yawn", 1.0, "pose")


def test_expressions_need_an_arkit_name_and_a_weight_in_0_1():
    check_face_value("jawOpen", 1.0)
    with pytest.raises(RigError, match=r"^expression jawOpen -0.1 is out of range \[0, 1\]$"):
        check_face_value("jawOpen", -0.1, "expression")
    with pytest.raises(RigError, match="unknown expression name 'jawOpn'; did you mean jawOpen"):
        check_face_value("jawOpn", 0.5)
    with pytest.raises(RigError, match="unknown expression name 'yaw'"):
        check_face_value("yaw", 0.5, "expression")  # --expression yaw=0.5 is not a pose angle
