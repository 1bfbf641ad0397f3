"""The app's downloads (rig.app.downloads through rig.outputs) on the real rig and 3DMM, and `facerig app` checks."""
from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from PIL import Image

from morphable.arkit import ARKIT_NAMES
from rig.engine import open_engine
from rig.app import downloads
from rig.errors import RigError
from tests.morphable.glb_chunks import glb_json


@pytest.fixture(scope="module")
def morph():
    from morphable.formats import load_model

    return open_engine(engine="morph", model=load_model("default"), identity_seed=1, size=128)


@pytest.fixture(scope="module")
def gen():
    from rig.pipeline import load_rig

    return open_engine(load_rig(), seed=5, engine="gan", size=128)


def test_png_json_and_glb_of_the_current_edit(gen, tmp_path):
    c = gen.controls().with_values(yaw=15, jawOpen=0.5)
    png = downloads.write("png", gen, c, tmp_path)
    # the download is the render plus the invisible watermark, and it is labelled (rig.provenance)
    from rig.provenance import verify
    from rig.provenance.watermark import psnr

    assert psnr(np.asarray(Image.open(png).convert("RGB")), gen.render(c)) >= 37.9
    assert verify(png).labelled
    params = json.loads(downloads.write("json", gen, c, tmp_path).read_text())
    assert params["source"] == "generated" and params["params"]["pose"]["yaw"] == pytest.approx(15, abs=1e-3)
    gltf = glb_json(downloads.write("glb", gen, c, tmp_path))
    mesh = gltf["meshes"][0]
    assert len(mesh["primitives"][0]["targets"]) == 52 and gltf["animations"]
    assert not list(tmp_path.rglob(".*"))  # no temp files left behind


def test_mp4_sweep_of_one_control(gen, morph, tmp_path):
    import imageio.v3 as iio

    c = gen.controls()
    path = downloads.write("mp4", gen, c, tmp_path, sweep=("yaw", -20, 20))
    frames = iio.imread(path)
    assert path.suffix == ".mp4" and frames.shape[0] == downloads.SWEEP_FRAMES
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0  # the head turned
    with pytest.raises(RigError, match="not a pose angle"):
        downloads.write("mp4", morph, c, tmp_path, sweep=("nod", 0, 1))
    with pytest.raises(RigError, match="unknown download"):
        downloads.write("gif", morph, c, tmp_path)


def test_glb_expression_clip_eases_from_the_face_to_the_edit(morph):
    c = morph.controls().with_values(mouthSmileLeft=0.8, yaw=10)
    clip = downloads.expression_clip(morph, c, frames=5)
    smile = clip.expression[:, ARKIT_NAMES.index("mouthSmileLeft")].tolist()
    assert smile[0] == pytest.approx(0.0) and smile[-1] == pytest.approx(0.8) and smile == sorted(smile)
    assert clip.pose[:, 0].tolist() == pytest.approx([10.0] * 5)


def test_cli_app_refuses_a_busy_port_and_a_missing_bundle(run_cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, out, err = run_cli("app", "--port", port, "--no-browser")
    assert code == 2 and err.strip() == f"facerig: error: port {port} on 127.0.0.1 is in use; pick another with --port"
    code, _, err = run_cli("app", "--bundle", "/nonexistent/bundle", "--no-browser")
    assert code == 2 and "rig bundle not found" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_cli_app_serves_the_page(tmp_path):
    """`facerig app --no-browser` as a user starts it: the URL line, then the page over HTTP."""
    import os
    import subprocess
    import sys
    import urllib.request

    from rig.app import free_port

    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "-m", "rig.cli", "app", "--port", str(port), "--no-browser",
                             "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert line.startswith("facerig app: http://127.0.0.1:") and str(port) in line
        html = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60).read().decode()
        assert "facerig" in html and "<html" in html.lower()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
