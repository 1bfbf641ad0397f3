"""The shipped portrait facerig opens on (NASA's public-domain astronaut photo in scikit-image's wheel) and its
photo-engine rig, fitted once per process: the app, the demo and the tests start from it."""
from __future__ import annotations

import numpy as np

#: who and where the shipped portrait is from (captions and the app's status line)
PORTRAIT_CREDIT = "NASA portrait of astronaut Eileen Collins (public domain, from scikit-image)"
#: the same, short enough for a video's caption strip
PORTRAIT_SHORT = "photo: NASA (public domain)"


def portrait() -> np.ndarray:
    """The portrait facerig opens on: NASA's public-domain astronaut photo (512x512 RGB uint8), shipped in
    scikit-image's wheel (skimage.data.astronaut). RigError (one line) when scikit-image is missing."""
    try:
        from skimage import data
    except ImportError:
        from ..errors import RigError

        raise RigError("the shipped portrait needs scikit-image (pip install scikit-image)") from None
    return np.ascontiguousarray(data.astronaut()[..., :3], dtype=np.uint8)


#: the portrait's fit per morphable model name: (params, frame, warnings); fitted once per process
_PORTRAIT_FITS: dict[str, tuple] = {}


def portrait_rig(model=None):
    """The portrait as a PhotoRig, its 3DMM fit (landmarks + photometric, ~5 s) made once per process and
    model: the app, the demo and the tests open on it, each with its own rig over the same fit."""
    import warnings

    from .photo_rig import PhotoRig

    if model is None:
        from morphable.formats import load_model

        model = load_model("default")
    image = portrait()
    if model.name not in _PORTRAIT_FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # come back as the rig's fit_warnings
            rig = PhotoRig.from_photo(image, model=model)
        _PORTRAIT_FITS[model.name] = (rig.params, list(rig.frame), list(rig.fit_warnings))
        return rig
    params, frame, notes = _PORTRAIT_FITS[model.name]
    return PhotoRig.from_fit(image, params, frame, model, fit_warnings=notes)
