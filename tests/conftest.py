"""Shared fixtures: where ../shared lives, and skips with a reason where it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACERIG_SHARED", ROOT.parent / "shared"))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs {path} (the project's shared data, present in CI; absent in a user's clone)")
    return path


@pytest.fixture(scope="session")
def ict_dir() -> Path:
    """The ICT-FaceKit subset in ../shared/data/ict-facekit/FaceXModel."""
    return _need(SHARED / "data" / "ict-facekit" / "FaceXModel")


@pytest.fixture(scope="session")
def utkface_zip() -> Path:
    """UTKFace 128 px WebP zip in ../shared/data/utkface."""
    return _need(SHARED / "data" / "utkface" / "utkface-128-webp.zip")


@pytest.fixture
def run_cli(capsys):
    """Run `facerig ARGS...` in-process; returns (exit_code, stdout, stderr)."""
    from rig.cli import main

    def run(*args: str):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse exits
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture(scope="session")
def utkface_photos(utkface_zip):
    """`utkface_photos(count, seed)` -> that many random UTKFace photos as RGB uint8 arrays."""
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    def read(count: int, seed: int = 0) -> list:
        with zipfile.ZipFile(utkface_zip) as zf:
            names = sorted(zf.namelist())
            pick = np.random.default_rng(seed).choice(len(names), count, replace=False)
            return [np.array(Image.open(io.BytesIO(zf.read(names[i]))).convert("RGB")) for i in pick]

    return read


@pytest.fixture(scope="module")
def single_thread():
    """One torch thread: tiny nets run faster so, and far faster on a busy 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


#: the side (px) of the shared 3DMM renderer (tests/morphable/test_raster.py, tests/rig/photo/test_photo_flow.py)
RENDER_SIZE = 128


@pytest.fixture(scope="module")
def model():
    """The default morphable model (a test file may define its own `model`, which wins)."""
    from morphable.formats import load_model

    return load_model("default")


@pytest.fixture(scope="module")
def renderer(model):
    """A RENDER_SIZE px morphable.render.Renderer of `model` on a grey (0.5) background."""
    from morphable.render import Renderer

    return Renderer(model, RENDER_SIZE, background=0.5)
