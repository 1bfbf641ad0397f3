"""The app's Live routes (rig.app.camera) on a real photo and real camera frames, through FastAPI's test client."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from rig.app.camera import ROUTE


def _jpeg(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


@pytest.fixture(scope="module")
def served(real_faces, tmp_path_factory):
    import torch
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from rig.app import camera
    from rig.app.engine import Engine

    torch.set_num_threads(1)
    engine = Engine(size=128)
    app = FastAPI()
    cams = camera.add_routes(app, engine, tmp_path_factory.mktemp("recordings"))
    return engine, cams, TestClient(app)


@pytest.mark.slow
def test_frames_come_back_as_the_photo_following_the_camera_and_a_recording_is_written(served, real_faces, tmp_path,
                                                                                      driver_frames):
    engine, cams, client = served
    page = client.get(ROUTE)
    assert page.status_code == 200 and "getUserMedia" in page.text
    reply = client.post(f"{ROUTE}/photo", content=(real_faces / "xportrait_source.png").read_bytes())
    assert reply.status_code == 200, reply.text
    info = reply.json()
    sid = info["session"]
    assert info["height"] == 256
    frames, fps = driver_frames
    assert client.post(f"{ROUTE}/record", params={"session": sid, "on": 1}).json() == {"recording": True}
    states, shown = [], []
    for i, f in enumerate(frames[:24]):
        small = np.asarray(Image.fromarray(f).resize((320, 320)))
        r = client.post(f"{ROUTE}/frame", params={"session": sid, "t": f"{1000 * i / fps:.1f}"}, content=_jpeg(small))
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text
        states.append(r.headers["x-facerig-state"])
        shown.append(np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")))
    assert states[0] == "settling" and states[-1] == "tracking"
    assert shown[-1].shape[0] == 256
    # settling answers the photo as it is; tracking moves it
    assert np.abs(shown[-1].astype(float) - shown[0]).mean() > 0.5
    done = client.post(f"{ROUTE}/record", params={"session": sid, "on": 0}).json()
    assert done["frames"] == 24 and done["tracked"] >= 1
    video = client.get(done["files"]["video"])
    assert video.status_code == 200 and len(video.content) > 1000
    # a warped real photo is labelled a composite, not a generated face
    from rig.provenance.metadata import COMPOSITE
    from rig.provenance.verify import verify

    clip = tmp_path / "recording.mp4"
    clip.write_bytes(video.content)
    assert verify(clip, check_watermark=False).metadata.digital_source_type == COMPOSITE
    tracks = json.loads(client.get(done["files"]["tracks"]).content)
    assert tracks["fps"] == 25.0
    assert client.get(done["files"]["csv"]).text.startswith("Timecode,")
    # nothing outside the recordings' folder is served
    assert client.get(f"{ROUTE}/file/..%2F..%2Fetc/passwd").status_code == 404
    # the app page's current face, when it is a photo (the shipped portrait through the photo engine)
    key, _ = engine.new_source("portrait")
    r = client.post(f"{ROUTE}/photo", params={"key": key})
    assert r.status_code == 200 and r.json()["height"] == 256, r.text


def test_bad_input_is_one_line_and_the_server_keeps_serving(served, real_faces):
    engine, cams, client = served
    blank = io.BytesIO()
    Image.fromarray(np.full((160, 160, 3), 190, np.uint8)).save(blank, format="PNG")
    for body, words in ((b"not an image", "not an image"), (blank.getvalue(), "face"), (b"", "choose a photo")):
        r = client.post(f"{ROUTE}/photo", content=body)
        assert r.status_code == 422 and words in r.text and "\n" not in r.text.strip(), r.text
    r = client.post(f"{ROUTE}/frame", params={"session": "gone"}, content=b"x")
    assert r.status_code == 404 and "no longer open" in r.text
    key = engine.add_source(__import__("rig.engine", fromlist=["open_engine"]).open_engine(engine="morph", model=engine.model, identity_seed=1, size=64))
    r = client.post(f"{ROUTE}/photo", params={"key": key})
    assert r.status_code == 422 and "not a photo" in r.text
    assert client.get(ROUTE).status_code == 200


def test_live_page_photo_upload_is_decoded_like_every_photo():
    """EXIF orientation and alpha follow basics.images.image_to_rgb; an oversized camera frame is one error."""
    import io

    import numpy as np
    import pytest
    from PIL import Image

    from rig.app.camera import decode_image
    from rig.errors import RigError

    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6                       # stored sideways: shown turned 90 degrees clockwise
    Image.new("RGB", (40, 20), (200, 30, 30)).save(buf, format="JPEG", exif=exif)
    assert decode_image(buf.getvalue(), "photo").shape == (40, 20, 3)
    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(buf, format="PNG")
    assert (decode_image(buf.getvalue(), "photo") == 255).all()   # transparent -> white, as uploads elsewhere
    with pytest.raises(RigError, match="too large"):
        decode_image(buf.getvalue(), max_side=4)
    with pytest.raises(RigError, match="not an image"):
        decode_image(b"not an image at all", "photo")
    assert np.asarray(decode_image(buf.getvalue())).dtype == np.uint8
