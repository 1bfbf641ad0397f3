"""PhotoRig composed of stages handed to it (rig.photo.stages): a mouth filler or a stage of one's own plugs in
without editing PhotoRig, and every default stage does something."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rig.errors import RigError
from rig.photo.mouth import hole_alpha
from rig.photo.photo_rig import PhotoRig
from rig.photo.stages import (EyeStage, ExtendStage, FlowStage, MirrorStage, MouthStage, RelightStage, StretchStage,
                              WarpStage, default_stages)
from rig.photo.warp import to_photo


@pytest.fixture(scope="module")
def rig(xportrait_rig) -> PhotoRig:
    """The shared xportrait_source rig (tests/rig/photo/conftest.py)."""
    return xportrait_rig


def _with(rig: PhotoRig, stages) -> PhotoRig:
    """The same fit rendered by other stages."""
    return PhotoRig(rig.image, rig.params, rig.frame, rig.builder, stages=stages)


def test_the_default_stages_in_order():
    names = [type(s).__name__ for s in default_stages()]
    assert names == ["FlowStage", "ExtendStage", "WarpStage", "StretchStage", "MirrorStage", "MouthStage",
                     "EyeStage", "RelightStage"]
    assert [type(s) for s in PhotoRig.__dataclass_fields__["stages"].default_factory()] == \
        [FlowStage, ExtendStage, WarpStage, StretchStage, MirrorStage, MouthStage, EyeStage, RelightStage]


def test_a_mouth_filler_of_ones_own_is_used_without_editing_photorig(rig):
    asked = []

    def green(state):
        """Paints the mouth hole pure green."""
        asked.append(state.target)
        _, h, w = state.warped.shape
        alpha = to_photo(hole_alpha(state.flow), h, w, state.scene.frame, grid=state.scene.grid)
        colour = torch.zeros_like(state.warped)
        colour[1] = 1.0
        return colour, alpha

    custom = _with(rig, default_stages(mouth=green))
    target = rig.target(expression={"jawOpen": 0.5}, relative=True)
    out, ref = custom.render(target), rig.render(target)
    assert len(asked) == 1
    is_green = (out[..., 1] > 200) & (out[..., 0] < 60) & (out[..., 2] < 60)
    assert is_green.sum() > 20 and not ((ref[..., 1] > 200) & (ref[..., 0] < 60) & (ref[..., 2] < 60)).any()
    changed = np.abs(out.astype(int) - ref).sum(-1) > 0
    ys, xs = np.nonzero(changed)   # only the mouth changed: the change is a small box
    assert (ys.max() - ys.min()) < 0.35 * out.shape[0] and (xs.max() - xs.min()) < 0.35 * out.shape[1]
    custom.mouth = "model"         # the stage's own filler wins over the rig's setting
    assert np.array_equal(custom.render(target), out)
    asked.clear()
    custom.render(rig.target(yaw=5, relative=True))   # the jaw does not open: the filler is not asked
    assert not asked


def test_a_stage_of_ones_own_runs_in_its_place_and_counts_as_layers(rig):
    seen = []

    class Grey:
        """Turns the image grey (after the default stages: their output, desaturated)."""

        def __call__(self, state):
            seen.append(state.image is not None and state.flow is not None)
            state.image = state.image.mean(0, keepdim=True).expand(3, -1, -1)

    grey = _with(rig, default_stages() + (Grey(),))
    out = grey.render(rig.target(yaw=10, relative=True))
    assert seen == [True]
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert grey.timing.flow > 0 and grey.timing.warp > 0 and grey.timing.layers > 0


@pytest.mark.parametrize("drop,edit", [
    (EyeStage, {"expression": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}}),
    (RelightStage, {"light": "left"}),
    (MouthStage, {"expression": {"jawOpen": 0.5}}),
    (ExtendStage, {"yaw": 15}),
])
def test_removing_a_stage_changes_the_output(rig, drop, edit):
    target = rig.target(relative=not edit.get("light"), **edit)
    stages = tuple(s for s in default_stages() if not isinstance(s, drop))
    if drop is ExtendStage:   # the warp needs a displacement: the raw flow's, unextended
        stages = (stages[0], _raw_disp) + stages[1:]
    without = _with(rig, stages).render(target)
    assert not np.array_equal(without, rig.render(target))


def _raw_disp(state):
    state.disp = state.flow.disp


def test_without_the_eye_stage_the_flow_draws_the_blink(rig):
    """The flow keeps the photo's lid weights only for a stage that draws them."""
    target = rig.target(expression={"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}, relative=True)
    no_eyes = _with(rig, tuple(s for s in default_stages() if not isinstance(s, EyeStage)))
    still = no_eyes.render(rig.target(relative=True))
    blink = no_eyes.render(target)
    changed = np.abs(blink.astype(int) - still).sum(-1) > 10
    assert changed.sum() > 20
    ys, _ = np.nonzero(changed)   # around the eyes, in the upper half of the face
    assert np.median(ys) < rig.frame[1] + 0.6 * rig.frame[2]


def test_an_unknown_filler_is_refused_when_the_stage_is_made():
    with pytest.raises(RigError, match="unknown mouth filler 'paint'"):
        MouthStage("paint")


def test_a_boxed_layer_paints_the_same_pixels_as_the_full_layer():
    """RenderState.paint of (colour, alpha, box) equals the full-size layer that is 0 outside the box, and never
    writes the plain warp."""
    from rig.photo.stages import RenderState

    g = torch.Generator().manual_seed(0)
    warped = torch.rand(3, 40, 50, generator=g)
    rows, cols = slice(5, 22), slice(10, 41)
    colour, alpha = torch.rand(3, 17, 31, generator=g), torch.rand(1, 17, 31, generator=g)
    full_c, full_a = torch.zeros(3, 40, 50), torch.zeros(1, 40, 50)
    full_c[:, rows, cols], full_a[:, rows, cols] = colour, alpha
    boxed = RenderState(None, None, warped=warped, image=warped)
    plain = RenderState(None, None, warped=warped, image=warped)
    kept = warped.clone()
    for _ in range(2):                          # the second paint goes into the render's own copy
        boxed.paint((colour, alpha, (rows, cols)))
        plain.paint((full_c, full_a))
    assert torch.equal(boxed.image, plain.image)
    assert torch.equal(warped, kept) and boxed.image is not warped
