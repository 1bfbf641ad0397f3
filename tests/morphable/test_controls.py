"""morphable.controls, the one table of face controls: lookups, checks, clamping, hints, slider order."""
from __future__ import annotations

import math

import pytest

from morphable import controls
from morphable.arkit import ARKIT_NAMES
from morphable.errors import MorphableError
from morphable.params import POSE_NAMES


def test_check_value_accepts_the_range_and_parses_numbers():
    assert controls.check_value("yaw", 90) == 90.0
    assert controls.check_value("pitch", "-90") == -90.0
    assert controls.check_value("jawOpen", 0.25) == 0.25


@pytest.mark.parametrize("name, value, message", [
    ("pitch", 91, "pitch: 91 is outside -90 .. 90 deg"),
    ("tz", -11, "tz: -11 is outside -10 .. 10 m"),
    ("jawOpen", 1.5, "jawOpen: 1.5 is outside 0 .. 1"),
    ("yaw", "left", "yaw: 'left' is not a number"),
    ("yaw", None, "yaw: None is not a number"),
    ("roll", math.nan, "roll: nan is not a finite number"),
    ("elevation", math.inf, "is not a finite number"),
])
def test_check_value_refuses_in_one_line(name, value, message):
    with pytest.raises(MorphableError) as info:
        controls.check_value(name, value)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_clamp_moves_to_the_nearer_end_but_still_refuses_non_numbers():
    assert controls.check_value("yaw", 120, clamp=True) == 90.0
    assert controls.check_value("roll", -190, clamp=True) == -180.0
    assert controls.check_value("jawOpen", -0.2, clamp=True) == 0.0
    assert controls.check_value("jawOpen", 0.4, clamp=True) == 0.4
    with pytest.raises(MorphableError, match="not a finite number"):
        controls.check_value("yaw", math.inf, clamp=True)


def test_unknown_names_name_close_matches():
    with pytest.raises(MorphableError, match=r"unknown control 'jawOpn'; did you mean jawOpen"):
        controls.control("jawOpn")
    with pytest.raises(MorphableError, match=r"did you mean yaw"):
        controls.limits("yawn")
    with pytest.raises(MorphableError, match=r"^unknown control 'q'$"):
        controls.check_value("q", 0)


def test_every_arkit_name_is_an_expression_weight_in_0_1_at_its_column():
    assert controls.names("expression") == tuple(ARKIT_NAMES)
    for i, name in enumerate(ARKIT_NAMES):
        c = controls.control(name)
        assert (c.block, c.index, c.unit, c.low, c.high) == ("expression", i, "weight", 0.0, 1.0)


def test_pose_rows_are_faceparams_columns():
    assert controls.names("pose") == POSE_NAMES
    assert [controls.control(n).index for n in POSE_NAMES] == list(range(6))
    assert controls.limits("yaw") == (-90.0, 90.0)
    assert controls.limits("pitch") == (-90.0, 90.0) and controls.limits("roll") == (-180.0, 180.0)


def test_slider_order_pose_then_arkit_then_light():
    order = [c.name for c in controls.sliders()]
    assert order == ["yaw", "pitch", "roll", *ARKIT_NAMES, "azimuth", "elevation"]
    assert [c.name for c in controls.sliders("pose")] == ["yaw", "pitch", "roll"]   # translation is no slider
    assert list(controls.CONTROLS) == [*POSE_NAMES, *ARKIT_NAMES, "azimuth", "elevation"]
