"""The steps under the engines' flows (rig.engine.flows writes edit / sweep / reenact / animate once over them):

    bundle -> load_rig; seed / latent -> source_latents                 (a generated face's latent)
    photo  -> read_photo -> align_photo -> invert_photo                 (a real face as a latent)
    driver -> open_driver -> track_driver                               (a driving clip as 3DMM params)

Each step takes and returns plain values (arrays, tensors, dataclasses); none writes files
(rig.outputs does) and none parses arguments (rig.cli does). The input readers live in rig.inputs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from morphable.params import FaceParams

from .errors import RigError
from .face_rig import FaceRig, default_bundle

#: = gan.inversion.InversionLoss().noise_reg (not imported: keeps the CLI start light)
DEFAULT_NOISE_REG = 1e4


# ---- sources --------------------------------------------------------------------------------
def load_rig(bundle: str | os.PathLike | None = None, device: str | torch.device | None = None,
             bf16: bool = False) -> FaceRig:
    """The rig bundle at `bundle` (default: the committed assets/rig/dcgan64); `bf16`: a StyleGAN2
    bundle synthesises in bf16 (FaceRig.set_compute_dtype; a DCGAN bundle stays fp32)."""
    folder = Path(bundle) if bundle else default_bundle()
    if not folder.exists():
        raise RigError(f"rig bundle not found: {folder}")
    rig = FaceRig.load(folder, device)
    rig.set_compute_dtype(bf16)
    return rig


def source_latents(rig: FaceRig, latent: str | os.PathLike | None = None, seed: int | None = None,
                   truncation: float = 1.0) -> torch.Tensor:
    """(1, num_ws, w_dim) latent of the face to work on: a LATENT.npz from `facerig invert`, or a seed."""
    if latent is not None:
        from .latent_file import read_latent

        return rig.check_ws(read_latent(latent)["ws"][:1])
    if seed is None:
        raise RigError("give a seed or a latent file")
    return rig.sample(seed, truncation)


# ---- photo -> align -> invert ---------------------------------------------------------------
@dataclass
class AlignedPhoto:
    """A photo framed like the generator's training data."""

    image: np.ndarray       # (size, size, 3) uint8
    transform: np.ndarray   # 2x3, photo px -> aligned px
    points: np.ndarray      # (68, 2) landmarks in the aligned frame (NaN without alignment)


def align_photo(photo: np.ndarray, size: int, name: str = "the photo", align: bool = True) -> AlignedPhoto:
    """Align a face photo to the training framing (RigError when it has no face), or only resize it."""
    if align:
        from .align import align_face

        return AlignedPhoto(*align_face(photo, size, name=name))
    from PIL import Image

    resized = np.asarray(Image.fromarray(photo).resize((size, size), Image.LANCZOS))
    transform = np.array([[size / photo.shape[1], 0, 0], [0, size / photo.shape[0], 0]], dtype=np.float64)
    return AlignedPhoto(resized, transform, np.full((68, 2), np.nan))


def photo_to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H,W,3) uint8 -> (1,3,H,W) in [-1, 1], the generator's range."""
    return torch.from_numpy(img.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]


def tensor_to_uint8(t: torch.Tensor) -> np.ndarray:
    """(1,3,H,W) in [-1, 1] -> (H,W,3) uint8, rounded."""
    return ((t[0].permute(1, 2, 0).clamp(-1, 1).cpu().numpy() + 1.0) * 127.5).round().astype(np.uint8)


def identity_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """dlib descriptor distance between two aligned faces (None when either has no face)."""
    from morphable.landmarks import descriptor_distance, detect_landmarks, face_descriptor

    pa, pb = detect_landmarks(a), detect_landmarks(b)
    if pa is None or pb is None:
        return None
    return descriptor_distance(face_descriptor(a, pa), face_descriptor(b, pb))


@dataclass
class Inversion:
    """A photo inverted into a generator, with how well the reconstruction matches."""

    aligned: AlignedPhoto
    ws: torch.Tensor                     # (1, num_ws, w_dim)
    noise: dict[str, torch.Tensor]       # optimised noise maps by buffer name
    reconstruction: np.ndarray           # (size, size, 3) uint8
    psnr: float = float("nan")
    ssim: float = float("nan")
    dlib_distance: float | None = None   # None: no face found in both
    settings: dict = field(default_factory=dict)


def invert_photo(G, aligned: AlignedPhoto, steps: int = 500, w_plus: bool = True, optimise_noise: bool = True,
                 lr: float = 0.1, seed: int = 0, noise_reg: float = DEFAULT_NOISE_REG, progress: bool = False,
                 measure: bool = True) -> Inversion:
    """Invert an aligned photo into G (gan.inversion); with `measure`, PSNR, SSIM and the dlib distance too."""
    from gan.inversion import InversionLoss, invert

    if steps < 1:
        raise RigError(f"inversion steps must be at least 1, got {steps}")
    if noise_reg < 0:
        raise RigError(f"the noise regularisation must be >= 0, got {noise_reg}")
    target = photo_to_tensor(aligned.image)
    device = next(iter(G.parameters())).device
    result = invert(G, target.to(device), steps=steps, w_plus=w_plus, optimise_noise=optimise_noise, lr=lr,
                    seed=seed, loss=InversionLoss(noise_reg=noise_reg), progress=progress)
    recon = tensor_to_uint8(result.image)
    out = Inversion(aligned, result.ws, result.noise, recon, settings={"steps": steps, "seed": seed})
    if measure:
        from gan.metrics import psnr, ssim

        with torch.no_grad():
            image = result.image.clamp(-1, 1).cpu()
            out.psnr, out.ssim = float(psnr(image, target)[0]), float(ssim(image, target)[0])
        out.dlib_distance = identity_distance(aligned.image, recon)
    return out


# ---- driver -> track -------------------------------------------------------------------------
@dataclass
class TrackedDriver:
    """A driving clip tracked with the 3DMM."""

    frames: list[np.ndarray]
    fps: float
    params: FaceParams   # (T) per-frame parameters
    found: int           # frames with a usable face
    landmarks: str       # the backend name that tracked it


def track_driver(model, frames: list[np.ndarray], fps: float, landmarks: str = "auto", progress: bool = False,
                 name: str = "the driver") -> TrackedDriver:
    """Track the 3DMM through driver frames with the named landmark backend; RigError when no frame has a face."""
    from morphable.face_finder import FindingBackend
    from morphable.fit.track import track_frames
    from morphable.landmark_backends import backend_by_name

    # faces found at any size (morphable.face_finder), then the named backend on a crop; each frame looks
    # where the last one's face was first
    backend = FindingBackend(backend_by_name(landmarks), remember=True)
    track = track_frames(model, frames, fps=fps, backend=backend, progress=progress)
    found = sum(f.ok for f in track.frames)
    if found == 0:
        raise RigError(f"no face found in any frame of {name}")
    return TrackedDriver(frames, fps, FaceParams.cat([f.params for f in track.frames]), found, landmarks)
