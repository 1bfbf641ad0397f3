"""'did you mean' hints: close names, names that differ only in case, and no hint for nonsense."""
from __future__ import annotations

from morphable.arkit import ARKIT_NAMES
from morphable.params import POSE_NAMES
from morphable.suggest import did_you_mean


def test_close_names_are_suggested_best_first():
    assert did_you_mean("mouthSmileLft", ARKIT_NAMES).startswith("; did you mean mouthSmileLeft")
    assert did_you_mean("yawn", POSE_NAMES, n=2).startswith("; did you mean yaw")
    assert did_you_mean("expresion", ("expression", "pose", "light"), n=1) == "; did you mean expression?"


def test_case_only_difference_and_limits():
    assert did_you_mean("JAWOPEN", ARKIT_NAMES) == "; did you mean jawOpen?"
    assert did_you_mean("eyeBlink", ARKIT_NAMES, n=1).count(",") == 0
    assert did_you_mean("zzzz", ARKIT_NAMES) == ""
    assert did_you_mean(None, POSE_NAMES) == ""
