"""The page: Gradio widgets wired to rig.engine calls (no editing logic of its own). Its sliders are the
controls table's (morphable.controls.sliders()): a row there is a slider here."""
from __future__ import annotations

import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from morphable import controls as table
from morphable.lighting import LIGHT_PRESETS

from ..engine import Controls, Engine as FaceEngine
from ..engine.controls import LIGHT_DIRECTION, LIGHT_KEEP
from . import downloads, live
from .engine import SOURCE_KINDS, USER_ERRORS, Engine, public_message, read_upload

#: the ARKit weights shown outside the accordion (the most used); the accordion holds the other 40
MAIN_EXPRESSIONS = ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight",
                    "browInnerUp", "browDownLeft", "browDownRight", "mouthPucker", "mouthFunnel",
                    "mouthFrownLeft", "mouthFrownRight")
LIGHT_CHOICES = (LIGHT_KEEP, *LIGHT_PRESETS, LIGHT_DIRECTION)
#: a slider's step by the control's unit
STEPS = {"deg": 0.5, "m": 0.01, "weight": 0.01}
#: labels of sliders whose name alone does not say enough
LABELS = {"azimuth": "azimuth (deg, + = from the right)", "elevation": "elevation (deg, + = from above)"}
#: the light direction's sliders step by whole degrees
LIGHT_STEP = 1
SOURCE_LABELS = {"portrait": "portrait (NASA, public domain)", "photo": "your photo", "generated": "generated face (rig bundle)",
                 "morphable": "bare 3DMM"}
#: sources a seed picks: only these need the 'load' button (a portrait, an upload, loads at once)
SEEDED = ("generated", "morphable")


def _range_info(src: FaceEngine, name: str) -> str:
    """The slider's note: the range the rig was trained on, or that it was not trained on this control."""
    rng = src.trained_range(name)
    if rng is None:
        return ""
    if rng[1] - rng[0] < 1e-3:
        return "not in the rig's training data: the face may not follow"
    return f"trained {rng[0]:.3g} .. {rng[1]:.3g}"


def _status(src: FaceEngine, c: Controls, extra: str | None = None, ms: float | None = None) -> str:
    lines = [f"**source:** {src.description}"]
    note = src.range_note(c)
    if note:
        lines.append(f"⚠ {note}")
    if extra:
        lines.append(extra)
    if ms is not None:
        lines.append(f"<small>loaded in {ms:.0f} ms</small>")
    return "\n\n".join(lines)


_DRAWS = itertools.count()


def _distinct(image: np.ndarray):
    """The face as a PIL image tagged with a draw number: Gradio names an image by a hash of its PNG
    bytes, and the browser keeps the old src when the name repeats; the page's script may have shown
    a live image meanwhile, so every Gradio-drawn face must arrive under a new name (same pixels)."""
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(image))
    pil.info["facerig-draw"] = str(next(_DRAWS))
    return pil


def _live_slider(gr, control: table.Control, step: float | None = None):
    """A control's slider, elem_id s-<name> for the live script (rig.app.live); interactive by hand, as
    no Gradio event takes it as an input. No per-slider reset button: it sets the value without an input
    event, so the face would not follow (each block has its own reset)."""
    return gr.Slider(control.low, control.high, 0.0, step=step or STEPS.get(control.unit, 0.01),
                     label=LABELS.get(control.name, control.name), elem_id=f"s-{control.name}",
                     interactive=True, buttons=[])


def build(engine: Engine, download_dir: str | Path | None = None):
    """The Gradio Blocks of the app (not launched)."""
    import gradio as gr

    download_dir = Path(download_dir or tempfile.mkdtemp(prefix="facerig-app-"))
    # the sliders, from the controls table: pose, the expression (the most used first), the light direction
    pose_rows, light_rows = table.sliders("pose"), table.sliders("light")
    expression_rows = table.sliders("expression")
    main_rows = tuple(c for c in expression_rows if c.name in MAIN_EXPRESSIONS)
    other_rows = tuple(c for c in expression_rows if c.name not in MAIN_EXPRESSIONS)
    sweepable = [c.name for c in (*pose_rows, *expression_rows)]
    download_dir.mkdir(parents=True, exist_ok=True)

    with gr.Blocks(title="facerig", analytics_enabled=False) as app:
        # the page's key in the engine: a hidden box rather than gr.State, so the live script can read it
        key = gr.Textbox("", visible="hidden", elem_id=live.KEY_ID)
        sync = gr.Button("sync", visible="hidden", elem_id=live.SYNC_ID)
        gr.Markdown("## facerig: steer a face with named, physical controls")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                with gr.Group():
                    kind = gr.Radio([(SOURCE_LABELS[k], k) for k in SOURCE_KINDS], value=SOURCE_KINDS[0],
                                    label="source", elem_id="source")
                    with gr.Row():
                        seed = gr.Number(3, label="seed", precision=0, minimum=0, elem_id="seed")
                        truncation = gr.Slider(0.0, 1.0, 0.7, step=0.05, label="truncation")
                        identity_seed = gr.Number(0, label="3DMM identity seed", precision=0, minimum=0)
                    photo = gr.File(label="your photo (loads on upload)", file_count="single", type="filepath",
                                    elem_id="photo", height=140)
                    load = gr.Button("load this seed", variant="primary", elem_id="load",
                                     visible=SOURCE_KINDS[0] in SEEDED)
                # no download / share buttons on the image: they would hand out Gradio's copy of the
                # face (older than the live image, and unlabelled); the downloads below are labelled
                image = gr.Image(label="face", type="numpy", format="png", interactive=False,
                                 elem_id=live.FACE_ID, height=320, buttons=["fullscreen"])
                overlay = gr.Checkbox(False, label="fitted 3DMM overlay", elem_id=live.OVERLAY_ID)
                status = gr.Markdown("", elem_id="status")
                with gr.Accordion("downloads", open=True):
                    with gr.Row():
                        dl_png = gr.Button("PNG", size="sm", elem_id="dl-png")
                        dl_glb = gr.Button(".glb (expression)", size="sm", elem_id="dl-glb")
                        dl_json = gr.Button("parameters", size="sm", elem_id="dl-json")
                    with gr.Row():
                        sweep_name = gr.Dropdown(list(sweepable), value="yaw", label="sweep", scale=2)
                        sweep_from = gr.Number(-30, label="from", scale=1)
                        sweep_to = gr.Number(30, label="to", scale=1)
                    dl_mp4 = gr.Button("MP4 sweep", size="sm", elem_id="dl-mp4")
                    file = gr.File(label="download", interactive=False, elem_id="download")
            with gr.Column(scale=1, min_width=300):
                with gr.Accordion("pose (degrees)", open=True):
                    pose = [_live_slider(gr, c) for c in pose_rows]
                    reset_pose = gr.Button("reset pose", size="sm")
                with gr.Accordion("expression (ARKit)", open=True):
                    main = [_live_slider(gr, c) for c in main_rows]
                    with gr.Accordion("all 52 ARKit blendshapes", open=False):
                        other = [_live_slider(gr, c) for c in other_rows]
                    reset_expr = gr.Button("reset expression", size="sm")
                with gr.Accordion("light", open=True):
                    light = gr.Dropdown(list(LIGHT_CHOICES), value=LIGHT_KEEP, label="light",
                                        info="'keep' is the face's own; 'direction' uses the two sliders")
                    light_sliders = [_live_slider(gr, c, LIGHT_STEP) for c in light_rows]
                    reset_light = gr.Button("reset light", size="sm")
                with gr.Accordion("parameters (JSON)", open=False) as params_box:
                    params_json = gr.Code("", language="json", label="parameters", elem_id="params", max_lines=30)

        expr = main + other
        sliders = [*pose, *expr]
        slider_names = [c.name for c in (*pose_rows, *main_rows, *other_rows)]
        light_widgets = [light, *light_sliders]
        json_open = gr.State(False)

        def control_updates(src: FaceEngine, c: Controls, info: bool = False) -> list:
            """Widget updates for the controls; with `info` (a new face) also each slider's range, from the
            source in use (the photo engine's pose sliders stop where its warp holds), and its note."""
            out = [gr.update(value=c.light), *[gr.update(value=c.value(row.name)) for row in light_rows]]
            for name, widget in zip(slider_names, sliders):
                kw = {"value": round(c.value(name), 3)}
                if info:
                    low, high = src.control_limits(name)
                    kw.update(info=_range_info(src, name), minimum=low, maximum=high)
                out.append(gr.update(**kw))
            return out

        def params_text(src: FaceEngine, c: Controls) -> str:
            return json.dumps(src.to_dict(c), indent=1)

        def error_line(k, exc: Exception | str) -> str:
            """The status's error line, recorded as the page's last status (its next update replaces it)."""
            text = f"**error:** {exc if isinstance(exc, str) else public_message(exc)}"
            try:
                page = engine.page(k)
                page.status, page.moved = text, False
            except USER_ERRORS:
                pass
            return text

        def do_load(old_key, kind_v, seed_v, trunc_v, id_v, photo_v, show_overlay, upload: bool = False):
            """Load the chosen source as a new page face. After a failed upload the file box is cleared
            and the source choice goes back to the face still shown (the page never shows one face under
            another's file name)."""
            t0 = time.perf_counter()
            kind_v = "photo" if upload else kind_v
            try:
                picture = read_upload(photo_v) if kind_v == "photo" else None
                k, src = engine.new_source(kind_v, int(seed_v or 0), float(trunc_v), int(id_v or 0), picture)
                page = engine.page(k)
                img, note = engine.draw(page, show_overlay)
            except USER_ERRORS as exc:
                # the page keeps its face; its next update sends the status again (the error line goes)
                text = public_message(exc, photo_v)
                if kind_v == "photo" and photo_v:
                    text = f"could not load {Path(photo_v).name}: {text}"
                try:
                    shown = engine.page(old_key).kind or gr.skip()
                except USER_ERRORS:
                    shown = gr.skip()
                back = [shown, None, gr.update(visible=shown in SEEDED)] if kind_v == "photo" else [gr.skip()] * 3
                return [gr.skip(), gr.skip(), error_line(old_key, text), gr.skip(), *back,
                        *[gr.skip()] * len(controls)]
            c = page.controls
            page.status = _status(src, c, note, 1000 * (time.perf_counter() - t0))
            return [k, _distinct(img), page.status, params_text(src, c), kind_v, gr.skip(),
                    gr.update(visible=kind_v in SEEDED), *control_updates(src, c, info=True)]

        def uploaded(old_key, kind_v, seed_v, trunc_v, id_v, photo_v, show_overlay):
            return do_load(old_key, kind_v, seed_v, trunc_v, id_v, photo_v, show_overlay, upload=True)

        def first_load(old_key, kind_v, seed_v, trunc_v, id_v, photo_v, show_overlay):
            """The page's opening face: the portrait, or a generated face where the portrait cannot be had
            (scikit-image missing), with the reason on the status line."""
            out = do_load(old_key, kind_v, seed_v, trunc_v, id_v, photo_v, show_overlay)
            if isinstance(out[0], str) or kind_v != "portrait":
                return out
            reason = out[2]
            out = do_load(old_key, "generated", seed_v, trunc_v, id_v, photo_v, show_overlay)
            if isinstance(out[0], str):
                out[2] = f"{out[2]}\n\n{reason}"
            return out

        def picked(old_key, kind_v, seed_v, trunc_v, id_v, photo_v, show_overlay):
            """A source chosen: loaded at once (a seed source at its seed; 'your photo' when a file is there)."""
            if kind_v == "photo" and not photo_v:
                return [gr.skip(), gr.skip(), "**upload a photo** (drop it on the photo box): it loads at once",
                        gr.skip(), gr.skip(), gr.skip(), gr.update(visible=False), *[gr.skip()] * len(controls)]
            return do_load(old_key, kind_v, seed_v, trunc_v, id_v, photo_v, show_overlay)

        def show(k, show_overlay: bool, show_json: bool, draw: bool = True) -> list:
            """Image (drawn unless the live route has drawn it), status (sent only when its text changed)
            and JSON (only while its accordion is open)."""
            t0 = time.perf_counter()
            try:
                page = engine.page(k)
                img, note = engine.draw(page, show_overlay) if draw else (None, page.note)
            except USER_ERRORS as exc:
                return [gr.skip(), error_line(k, exc), gr.skip()]
            src, c = page.source, page.controls
            status_out = gr.skip()
            if draw or page.moved:   # a sync after an error line that came later keeps that line
                text = _status(src, c, note)
                status_out = gr.skip() if text == page.status else text
                page.status, page.moved = text, False
            img = _distinct(img) if draw else gr.skip()
            if draw:
                engine.update_ms.append(1000 * (time.perf_counter() - t0))
            return [img, status_out, params_text(src, c) if show_json else gr.skip()]

        def refresh(k, show_overlay, show_json):
            return show(k, show_overlay, show_json)

        def synced(k, show_overlay, show_json):
            """After the live route's images (rig.app.live): the status and JSON of the values it stored."""
            return show(k, show_overlay, show_json, draw=False)

        def set_light(k, show_overlay, show_json, value):
            try:
                engine.move(k, light=value)
            except USER_ERRORS as exc:
                return [gr.skip(), error_line(k, exc), gr.skip()]
            return show(k, show_overlay, show_json)

        def reset(block: str):
            def run(k):
                try:
                    page = engine.reset(k, block)
                except USER_ERRORS:
                    return [gr.skip()] * len(controls)
                return control_updates(page.source, page.controls)
            return run

        def download(kind_name: str):
            def run(k, show_overlay, name, start, stop):
                try:
                    page = engine.page(k)
                    src, c = page.source, page.controls
                    img = engine.draw(page, show_overlay, live=False)[0] if kind_name == "png" else None
                    with engine.draw_lock:
                        path = downloads.write(kind_name, src, c, download_dir, img, (name, start, stop))
                except USER_ERRORS as exc:
                    return gr.skip(), f"**error:** {public_message(exc)}"
                return str(path), f"**source:** {src.description}\n\nwrote {path.name}"
            return run

        controls = [*light_widgets, *sliders]
        outputs = [key, image, status, params_json, kind, photo, load, *controls]
        load_inputs = [key, kind, seed, truncation, identity_seed, photo, overlay]
        # one queue for every event of the page: an update, a reset and a download run in the order asked
        one = dict(concurrency_id="face", concurrency_limit=1)
        load.click(do_load, load_inputs, outputs, **one)
        # upload = load: the dropped file is the page's new face (or one error line, and the box cleared)
        photo.upload(uploaded, load_inputs, outputs, **one)
        kind.input(picked, load_inputs, outputs, **one)
        app.load(first_load, load_inputs, outputs, **one)
        quiet = dict(outputs=[image, status, params_json], show_progress="hidden", trigger_mode="always_last", **one)
        # the sliders have no Gradio event: the page's script (rig.app.live) sends their values to the
        # live route and then clicks `sync` for the status and the JSON
        sync.click(synced, [key, overlay, json_open], **quiet)
        light.input(set_light, [key, overlay, json_open, light], **quiet)
        overlay.change(refresh, [key, overlay, json_open], **quiet)
        params_box.expand(lambda: True, None, json_open).then(refresh, [key, overlay, json_open], **quiet)
        params_box.collapse(lambda: False, None, json_open)
        for button, block in ((reset_pose, "pose"), (reset_expr, "expression"), (reset_light, "light")):
            button.click(reset(block), [key], controls, **one).then(refresh, [key, overlay, json_open], **quiet)
        for button, kind_name in ((dl_png, "png"), (dl_glb, "glb"), (dl_json, "json"), (dl_mp4, "mp4")):
            button.click(download(kind_name), [key, overlay, sweep_name, sweep_from, sweep_to], [file, status], **one)
    app.download_dir = download_dir
    return app
