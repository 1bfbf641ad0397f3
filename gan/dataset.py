"""Training images: decode a zip or folder of images once into one uint8 tensor (N,3,H,W).

Decoding runs in threads (Pillow releases the GIL); the result can be cached as .npy so a
resumed run starts in seconds. A seeded sampler draws minibatch indices and x-flips.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .checks import require_power_of_two
from .errors import GanError
from .fileio import atomic_output

NON_IMAGE_SUFFIXES = (".txt", ".md", ".json", ".csv", ".npy", ".npz", ".pt", ".pkl", ".zip")


@dataclass
class ImageSet:
    """Decoded images (uint8, N x 3 x R x R) plus what was skipped while decoding."""

    images: torch.Tensor
    names: list[str]
    skipped: list[str]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1])


def _is_candidate(name: str) -> bool:
    """Every file may be an image (UTKFace has one without a suffix) except hidden/metadata ones
    and known non-image types; what then fails to decode is skipped and counted."""
    parts = Path(name).parts
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return Path(name).suffix.lower() not in NON_IMAGE_SUFFIXES


def _folder_images(folder: Path) -> list[str]:
    """Names (relative, sorted) of the files under `folder`, subfolders included, that may be images."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and _is_candidate(str(p.relative_to(folder))))


def _list_sources(source: Path) -> tuple[list[str], Callable[[str], bytes]]:
    """Image names under a zip or a folder, sorted, and a function reading one's bytes."""
    if source.is_dir():
        return _folder_images(source), lambda n: (source / n).read_bytes()
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            names = sorted(
                i.filename for i in zf.infolist()
                if not i.is_dir() and _is_candidate(i.filename)
            )
        zf = zipfile.ZipFile(source)  # stays open for the readers; closed when collected
        lock = threading.Lock()  # ZipFile reads are not thread-safe; decoding runs unlocked

        def read(name: str) -> bytes:
            with lock:
                return zf.read(name)

        return names, read
    if not source.exists():
        raise GanError(f"dataset {source} does not exist")
    raise GanError(f"dataset {source} is neither a folder nor a zip file")


def is_held_out(name: str, share: float) -> bool:
    """True for the fixed `share` of file names kept out of training (by a hash of the base name),
    so an evaluation can pick the same held-back photos without any list being stored."""
    if share <= 0:
        return False
    digest = hashlib.sha1(Path(name).name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64 < share


def list_images(source: str | os.PathLike) -> tuple[list[str], Callable[[str], bytes]]:
    """Sorted candidate image names of a zip or folder, and a function reading one file's bytes."""
    return _list_sources(Path(source))


def decode_image(raw: bytes, resolution: int | None = None) -> np.ndarray:
    """One encoded image -> uint8 HxWx3 (centre square crop, Lanczos resize), as training sees it."""
    return _decode(raw, resolution)


def _decode(raw: bytes, resolution: int | None) -> np.ndarray:
    """One image -> uint8 HxWx3, centre-cropped to a square and resized with Lanczos."""
    with Image.open(io.BytesIO(raw)) as im:
        im = im.convert("RGB")
        w, h = im.size
        if w != h:
            s = min(w, h)
            left, top = (w - s) // 2, (h - s) // 2
            im = im.crop((left, top, left + s, top + s))
        if resolution is not None and im.size[0] != resolution:
            im = im.resize((resolution, resolution), Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8)


def load_images(
    source: str | os.PathLike,
    resolution: int | None = None,
    max_images: int | None = None,
    workers: int | None = None,
    progress: bool = False,
    holdout: float = 0.0,
) -> ImageSet:
    """Decode every image of a zip or folder (sorted by name) into one uint8 (N,3,R,R) tensor.

    `holdout` leaves out that share of the files (see is_held_out) for evaluation. Unreadable
    files are skipped and listed; no readable image, or mixed sizes with no `resolution`
    given, raises GanError.
    """
    source = Path(source)
    names, read = _list_sources(source)
    if holdout > 0:
        names = [n for n in names if not is_held_out(n, holdout)]
    if max_images is not None:
        names = names[: max(0, int(max_images))]
    if not names:
        raise GanError(f"dataset {source} holds no image files")
    if resolution is not None:
        require_power_of_two(resolution, 4, "resolution")

    def work(name: str) -> np.ndarray | None:
        try:
            return _decode(read(name), resolution)
        except (UnidentifiedImageError, OSError, ValueError, zipfile.BadZipFile):
            return None

    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results: Iterable = pool.map(work, names, chunksize=64)
        if progress:
            from tqdm import tqdm

            results = tqdm(results, total=len(names), desc="decode", unit="img", leave=False)
        decoded = list(results)

    kept = [(n, a) for n, a in zip(names, decoded) if a is not None]
    skipped = [n for n, a in zip(names, decoded) if a is None]
    if not kept:
        raise GanError(f"dataset {source}: none of its {len(names)} images could be decoded")
    sizes = {a.shape for _, a in kept}
    if len(sizes) != 1:
        raise GanError(f"dataset {source} mixes image sizes {sorted(sizes)}; pass a resolution")
    res = next(iter(sizes))[0]
    require_power_of_two(res, 4, f"dataset {source}: image size", hint="; pass a resolution")
    stack = np.stack([a for _, a in kept]).transpose(0, 3, 1, 2)
    return ImageSet(torch.from_numpy(np.ascontiguousarray(stack)), [n for n, _ in kept], skipped)


def _cache_key(source: Path, resolution: int | None, max_images: int | None, holdout: float = 0.0) -> str:
    """Hash of what the decoded set depends on: a folder's every image name, size and mtime (a file
    replaced in a subfolder leaves the folder's own mtime alone), a zip's size and mtime, the options."""
    if source.is_dir():
        stamp = [(n, st.st_size, st.st_mtime_ns) for n in _folder_images(source) for st in [(source / n).stat()]]
    else:
        st = source.stat()
        stamp = [st.st_size, st.st_mtime_ns]
    ident = json.dumps([str(source.resolve()), stamp, resolution, max_images] + ([holdout] if holdout else []))
    return hashlib.sha1(ident.encode()).hexdigest()[:16]


def load_images_cached(
    source: str | os.PathLike,
    cache_dir: str | os.PathLike | None,
    resolution: int | None = None,
    max_images: int | None = None,
    progress: bool = False,
    holdout: float = 0.0,
) -> ImageSet:
    """`load_images`, reusing a decoded .npy in `cache_dir` keyed by the source's files (see _cache_key)."""
    source = Path(source)
    if cache_dir is None or not source.exists():
        return load_images(source, resolution, max_images, progress=progress, holdout=holdout)
    key = _cache_key(source, resolution, max_images, holdout)
    npy = Path(cache_dir) / f"dataset-{key}.npy"
    meta = npy.with_suffix(".json")
    if npy.exists() and meta.exists():
        info = json.loads(meta.read_text())
        arr = np.load(npy, allow_pickle=False)
        return ImageSet(torch.from_numpy(np.ascontiguousarray(arr)), info["names"], info["skipped"])
    data = load_images(source, resolution, max_images, progress=progress, holdout=holdout)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    with atomic_output(npy) as tmp:
        np.save(tmp, data.images.numpy(), allow_pickle=False)
    with atomic_output(meta) as tmp:
        tmp.write_text(json.dumps({"source": str(source), "names": data.names, "skipped": data.skipped}))
    return data


class BatchSampler:
    """Seeded random minibatches (indices with replacement-free epochs) and x-flip flags.

    Every rank runs the same sampler and takes its own slice of each global batch, so one
    saved state resumes all of them.
    """

    def __init__(self, num_images: int, seed: int, xflip: bool = True):
        if num_images < 1:
            raise GanError("the dataset is empty")
        self.num_images = int(num_images)
        self.xflip = xflip
        self.generator = torch.Generator().manual_seed(int(seed))
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def next(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The next `batch` image indices (long) and x-flip flags (bool), on the CPU."""
        parts = []
        need = batch
        while need > 0:
            if self._pos >= len(self._order):
                self._order = torch.randperm(self.num_images, generator=self.generator)
                self._pos = 0
            take = self._order[self._pos: self._pos + need]
            self._pos += len(take)
            need -= len(take)
            parts.append(take)
        idx = torch.cat(parts)
        flips = torch.rand(batch, generator=self.generator) < 0.5
        if not self.xflip:
            flips = torch.zeros_like(flips)
        return idx, flips

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self._order.clone(), "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self._order = state["order"].clone()
        self._pos = int(state["pos"])


def make_batch(images: torch.Tensor, idx: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Gather uint8 images (on their own device), x-flip the flagged ones, scale to [-1, 1]."""
    idx = idx.to(images.device)
    x = images.index_select(0, idx).to(torch.float32)
    flips = flips.to(images.device).view(-1, 1, 1, 1)
    x = torch.where(flips, x.flip(3), x)
    return x / 127.5 - 1.0
