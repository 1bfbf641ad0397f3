"""A newcomer's slider: one row of the controls table (morphable.controls) and the page shows it, the app
accepts it and every engine's target sets its FaceParams column; nothing else is edited."""
from __future__ import annotations

import dataclasses

import pytest

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def tx_slider(monkeypatch):
    """The table with tx (head translation x, metres) shown as a slider."""
    from morphable import controls as table

    rows = dict(table.CONTROLS)
    rows["tx"] = dataclasses.replace(rows["tx"], slider=True)
    monkeypatch.setattr(table, "CONTROLS", rows)
    return rows["tx"]


def test_a_table_row_becomes_a_slider_that_moves_the_target(tx_slider, tmp_path):
    pytest.importorskip("gradio")
    from rig.app.engine import Engine
    from rig.app.ui import build

    engine = Engine(size=64)
    page = build(engine, tmp_path)
    shown = {getattr(b, "elem_id", None): b for b in page.blocks.values()}
    assert "s-tx" in shown and (shown["s-tx"].minimum, shown["s-tx"].maximum) == (tx_slider.low, tx_slider.high)
    for kind in ("morphable", "generated"):
        key, face = engine.new_source(kind, seed=3, identity_seed=1)
        before = face.target(engine.page(key).controls)
        engine.live(key, {"tx": before.pose[0, 3].item() + 0.05})
        after = face.target(engine.page(key).controls)
        assert after.pose[0, 3].item() == pytest.approx(before.pose[0, 3].item() + 0.05, abs=1e-6), kind
        assert after.pose[0, :3].tolist() == before.pose[0, :3].tolist()       # the other columns as they were
        assert engine.page(key).controls.to_dict()["pose"]["tx"] == pytest.approx(after.pose[0, 3].item(), abs=1e-4)
