"""The end-to-end flows, written once for the CLI, the demo, the benches and the app.

    photo  -> read_photo -> align_photo -> invert_photo            (a real face as a latent)
    driver -> open_driver -> track_driver -> rig.reenact.reenact    (a face performs a clip: reenact_clip)
    seed / latent -> source_latents -> edit_image / sweep_grid      (edits through the rig)
    tracks -> animate                                               (a face performs keyframes)

Each step takes and returns plain values (arrays, tensors, dataclasses); none writes files
(rig.outputs does) and none parses arguments (rig.cli does).
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
#: most frames one animation or reenactment makes (held in memory: 10,000 frames of 256 px are 2 GB)
MAX_FRAMES = 10_000


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


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, the way a viewer shows it; RigError when it is not one.

    EXIF orientation is applied (a phone photo stored sideways comes upright), 16-bit and 32-bit
    grey are scaled to 8 bits (not clipped to white), CMYK goes through its ICC profile when it
    has one, palette, grey and alpha images are made RGB, transparency over white; an animated
    file gives its first frame.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise RigError(f"photo not found: {path}")
    try:
        with Image.open(path) as im:
            img = image_to_rgb(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise RigError(f"{path} is not a readable image ({type(exc).__name__})") from None
    except Image.DecompressionBombError:
        raise RigError(f"{path} is too large to read ({Image.MAX_IMAGE_PIXELS * 2:,} pixels at most)") from None
    if min(img.shape[:2]) < 8:
        raise RigError(f"{path} is not a usable image (shape {tuple(img.shape)})")
    return img


def image_to_rgb(im) -> np.ndarray:
    """A PIL image (any mode, any EXIF orientation) -> upright (H, W, 3) uint8 RGB (rig.pipeline.read_photo's rules)."""
    from PIL import ImageOps

    try:
        im.load()
        ImageOps.exif_transpose(im, in_place=True)   # in place: no second copy of a 48 MP photo
    except (OSError, ValueError, KeyError, TypeError, SyntaxError):  # a broken EXIF block: the pixels as stored
        pass
    mode = im.mode
    if mode == "RGB":   # one copy out of PIL (convert() and asarray() each made one)
        return np.frombuffer(im.tobytes(), np.uint8).reshape(im.height, im.width, 3)
    if mode in ("I", "F") or mode.startswith("I;16"):
        return np.repeat(_deep_grey_to_uint8(im, mode)[..., None], 3, axis=2)
    if mode == "CMYK":
        return _cmyk_to_rgb(im)
    if mode in ("P", "PA"):
        im = im.convert("RGBA")
    elif mode in ("LA", "La", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        from PIL import Image

        back = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(back, im).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def _deep_grey_to_uint8(im, mode: str) -> np.ndarray:
    """16-bit / 32-bit integer or float grey pixels -> uint8, scaled by the format's range (not clipped)."""
    arr = np.asarray(im).astype(np.float64)
    if mode == "F":
        top = 1.0 if arr.size and np.nanmax(arr) <= 1.0 else 255.0
    elif mode.startswith("I;16") or (arr.size and arr.max() > 255):
        top = 65535.0 if not arr.size or arr.max() <= 65535 else float(2 ** 32 - 1)
    else:
        top = 255.0
    return np.clip(np.nan_to_num(arr) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _cmyk_to_rgb(im) -> np.ndarray:
    """CMYK -> sRGB through the image's own ICC profile when it carries one, else PIL's plain conversion."""
    icc = im.info.get("icc_profile")
    if icc:
        try:
            import io

            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return np.asarray(ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB"))
        except Exception:  # noqa: BLE001 -- a profile littlecms cannot use: the plain conversion
            pass
    return np.asarray(im.convert("RGB"))


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


# ---- driver -> track -> reenact -------------------------------------------------------------
def open_driver(path: str | os.PathLike, fps: float | None = None, max_frames: int | None = None,
                ) -> tuple[list[np.ndarray], float]:
    """All frames of a driving video or frame folder, and its frame rate; RigError when there are none.

    Decodes at most MAX_FRAMES + 1 frames, so a clip that is too long is refused before it fills memory.
    A folder's frames are decoded like a photo (read_photo: EXIF orientation, 16-bit, CMYK, alpha).
    """
    from morphable.fit.video_io import DEFAULT_FOLDER_FPS, frame_files, open_frames

    if not Path(path).exists():
        raise RigError(f"driver not found: {path}")
    limit = MAX_FRAMES + 1 if max_frames is None else min(max_frames, MAX_FRAMES + 1)
    if Path(path).is_dir():
        frames = [read_photo(f) for f in frame_files(Path(path))[:limit]]
        rate = float(fps or DEFAULT_FOLDER_FPS)
    else:
        frames_iter, rate = open_frames(path, fps=fps, max_frames=limit)
        frames = list(frames_iter)
    if not frames:
        raise RigError(f"no frames in {path}")
    if len(frames) > MAX_FRAMES:
        raise RigError(f"the driver {path} has more than {MAX_FRAMES:,} frames; facerig makes at most {MAX_FRAMES:,} "
                       f"in one run (use --max-frames or a lower --fps)")
    return frames, rate


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


def reenact_clip(rig: FaceRig, driver: str | os.PathLike, photo: str | os.PathLike | None = None,
                 latent: str | os.PathLike | None = None, seed: int | None = None,
                 blocks: tuple[str, ...] | list[str] = ("expression", "pose"), relative: bool = True, clamp: bool = True,
                 landmarks: str | None = None, steps: int = 300, fps: float | None = None,
                 max_frames: int | None = None, progress: bool = False):
    """The whole reenactment: the source (photo, latent file or seed) performs the driving clip at `driver`.

    The source photo is read and its face found before the driver is tracked, so a bad photo fails in
    seconds. Tracks with `landmarks` (default: the backend that labelled the bundle's estimator).
    Returns (TrackedDriver, rig.reenact.Reenactment).
    """
    from .reenact import check_blocks, reenact

    blocks = check_blocks(list(blocks))
    aligned = None
    if photo is not None:
        aligned = align_photo(read_photo(photo), rig.G.img_resolution, name=str(photo))
    frames, rate = open_driver(driver, fps=fps, max_frames=max_frames)
    tracked = track_driver(rig.model, frames, rate, landmarks or rig.landmarks, progress=progress, name=str(driver))
    if aligned is None:
        ws = source_latents(rig, latent, seed)
    else:
        ws = invert_photo(rig.G, aligned, steps=steps, progress=progress, measure=False).ws.to(rig.device)
    return tracked, reenact(rig, ws, tracked.params, blocks, relative=relative, clamp=clamp, progress=progress)


# ---- seed / latent -> edits, tracks -> animation --------------------------------------------
def edit_image(rig: FaceRig, ws: torch.Tensor, **edit: object) -> np.ndarray:
    """(H,W,3) uint8 of one face edited by FaceRig.edit keywords (yaw=, expression={...}, light=, ...)."""
    return rig.to_uint8(rig.image(rig.edit(ws, **edit)))[0]


def sweep_edit(edit: dict | None, name: str, value: float) -> dict:
    """Edit keywords `edit` with the pose angle or ARKit expression `name` set to `value` (one step of a sweep)."""
    kw = dict(edit or {})
    if name in ("yaw", "pitch", "roll"):
        kw[name] = value
    else:
        kw["expression"] = {**kw.get("expression", {}), name: value}
    return kw


def sweep_grid(rig: FaceRig, ws: torch.Tensor, name: str, values: list[float], edit: dict | None = None) -> np.ndarray:
    """A labelled row: the original, then one edit per value of the pose angle or ARKit expression `name`."""
    from .frames import labelled_grid

    edits = [rig.edit(ws, **sweep_edit(edit, name, value)) for value in values]
    images = rig.to_uint8(rig.image(torch.cat([ws] + edits)))
    return labelled_grid([list(images)], col_labels=[["original"] + [f"{name}={v:g}" for v in values]])


def read_tracks(path: str | os.PathLike, rate: int | None = None):
    """Keyframed tracks (.json / .yaml, docs/animation.md), a `facerig track` JSONL, or a CSV (Live Link Face's
    layout, or facerig's `time,...`), as morphable.animation.Tracks; `rate`: a Live Link Face timecode's frame rate."""
    from morphable.animation import load_tracks, tracks_from_jsonl

    path = Path(path)
    if path.suffix.lower() == ".csv":
        tracks = _csv_tracks(path, rate)
    elif path.suffix.lower() == ".jsonl" or _starts_like_track_jsonl(path):
        tracks = tracks_from_jsonl(path)
    else:
        tracks = load_tracks(path)
    check_frame_count(tracks.num_frames, f"{path} ({tracks.duration:g} s at {tracks.fps:g} fps)")
    return tracks


def _csv_tracks(path: Path, rate: int | None):
    """Tracks of a Live Link Face CSV, or of facerig's own per-frame CSV (its fps from the median time step)."""
    from morphable.animation import read_csv, tracks_from_frames
    from morphable.livelink import is_livelink_csv, tracks_from_livelink

    if not path.is_file():
        raise RigError(f"track file not found: {path}")
    if is_livelink_csv(path):
        return tracks_from_livelink(path, rate)
    times, values = read_csv(path)
    fps = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 25.0
    return tracks_from_frames(times, values, fps)


def _starts_like_track_jsonl(path: Path) -> bool:
    """True when the file's first line is a `facerig track` header (a JSONL named .json)."""
    import json

    try:
        with open(path) as fh:
            first = json.loads(fh.readline())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(first, dict) and first.get("type") == "header"


def check_frame_count(n: int, what: str) -> None:
    """RigError (before anything is allocated) when `what` asks for more than MAX_FRAMES frames."""
    if n > MAX_FRAMES:
        raise RigError(f"{what} asks for {n:,} frames; facerig makes at most {MAX_FRAMES:,} in one run "
                       f"(shorten the duration or lower the fps)")


@torch.no_grad()
def animate(rig: FaceRig, ws: torch.Tensor, tracks, batch: int = 16, progress: bool = False,
            ) -> tuple[np.ndarray, FaceParams]:
    """Frames (T,H,W,3) uint8 of `ws` performing keyframed `tracks` (morphable.animation.Tracks), and the targets."""
    check_frame_count(tracks.num_frames, "the tracks")
    targets = tracks.sample(base=rig.params(ws[:1]))
    return rig.frames(ws, targets, batch=batch, progress=progress, desc="animate"), targets
