"""rig.engine.controls: values for every row of the controls table, the JSON shape, exact values, the limits."""
from __future__ import annotations

import pytest

from morphable import controls as table
from rig.engine.controls import Controls, checked_values, control_limits, controls_of, set_controls, sweep
from rig.errors import RigError


def test_every_table_control_has_a_value_and_attribute_access_reads_it():
    c = Controls().with_values(yaw=12, jawOpen=0.3, tx=0.02, light="direction", azimuth=30)
    assert set(c.values) == set(table.CONTROLS)
    assert (c.yaw, c.tx, c.azimuth, c.light) == (12.0, 0.02, 30.0, "direction")
    assert c.expression["jawOpen"] == 0.3 and len(c.expression) == len(table.names("expression"))
    with pytest.raises(RigError, match="unknown control"):
        c.value("grin")


def test_the_json_shape_is_the_sliders_and_the_light():
    d = Controls().with_values(yaw=1.23456, mouthSmileLeft=0.5).to_dict()
    assert list(d) == ["pose", "expression", "light", "azimuth", "elevation"]
    assert list(d["pose"]) == ["yaw", "pitch", "roll"] and d["pose"]["yaw"] == 1.2346   # tx..tz are no sliders
    assert d["expression"]["mouthSmileLeft"] == 0.5 and d["light"] == "keep"


def test_controls_of_and_set_controls_use_the_tables_columns():
    from morphable.formats import load_model

    p = load_model("default").random_params(1, seed=1)
    c = controls_of(p)
    for name, row in table.CONTROLS.items():
        if row.block in ("pose", "expression"):
            assert c.value(name) == pytest.approx(float(getattr(p, row.block)[0, row.index]))
    q = set_controls(p.clone(), {"ty": 0.25, "browInnerUp": 0.5})
    assert float(q.pose[0, 4]) == 0.25 and float(q.expression[0, table.control("browInnerUp").index]) == 0.5


def test_given_values_are_exact_and_limits_come_from_the_table():
    c = Controls().given(yaw=0.0, light="left")
    assert c.exact == {"yaw"} and c.light == "left"
    assert control_limits("yaw") == table.limits("yaw") and control_limits("pitch") == table.limits("pitch")
    assert checked_values({"pitch": 95}, clamp=True) == {"pitch": table.limits("pitch")[1]}
    with pytest.raises(RigError, match="unknown control"):
        checked_values({"smile": 1})
    assert [s.tx for s in sweep(Controls(), "tx", 0.0, 0.1, 3)] == pytest.approx([0.0, 0.05, 0.1])
