"""Shared CLI value checks: pose angles against each command's limits, ARKit names and weights."""
from __future__ import annotations

import pytest

from rig.cli.common import check_face_value
from rig.cli.morph import POSE_LIMITS
from rig.cli.edit import POSE_RANGE
from rig.errors import RigError


def test_pose_limits_are_the_commands_own():
    check_face_value("yaw", 80.0, POSE_LIMITS)  # `morph render` draws a near-profile face
    with pytest.raises(RigError, match=r"^--yaw 80 is out of range \[-60, 60\]$"):
        check_face_value("yaw", 80.0, POSE_RANGE)  # `edit` stays where the estimator was trained
    with pytest.raises(RigError, match=r"^--pitch -61 is out of range \[-60, 60\]$"):
        check_face_value("pitch", -61.0, POSE_LIMITS)
    check_face_value("roll", None, POSE_RANGE)  # not given: nothing to check


def test_expressions_need_an_arkit_name_and_a_weight_in_0_1():
    check_face_value("jawOpen", 1.0, POSE_RANGE)
    with pytest.raises(RigError, match=r"^expression jawOpen -0.1 is out of range \[0, 1\]$"):
        check_face_value("jawOpen", -0.1, POSE_RANGE)
    with pytest.raises(RigError, match="unknown expression name 'jawOpn'; did you mean jawOpen"):
        check_face_value("jawOpn", 0.5, POSE_RANGE)
    with pytest.raises(RigError, match="unknown expression name 'yaw'"):
        check_face_value("yaw", 0.5, {})  # --expression yaw=0.5 is not a pose angle
