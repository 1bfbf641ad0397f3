"""The output layer: every file a command writes goes through one Outputs, and every image or video is encoded here.

    with Outputs() as out:                        # or Outputs(provenance=...) to label what is written
        png = out.expect(args.output, (".png",))  # checked now, before any slow work
        ...                                       # the slow work
        out.image(png, frame)                     # encoded into a temp file beside png
    # leaving the block renames every temp over its target; an exception deletes them all instead

So a command writes all its outputs or none, and a path that cannot be written fails in one line
before the work starts. PNG / JPEG / WebP images and MP4 / GIF videos (or a folder of PNG frames)
are encoded by encode_image and encode_video only. A Provenance handed to Outputs is the hook for
labelling: its `mark` sees the pixels before they are encoded (a watermark), its `label` sees each
encoded file's bytes before the rename (metadata, a signed manifest). Without one (the default)
the files are plain encodings.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from basics.atomic import publish, temp_beside

from .errors import RigError

#: images over this many pixels are written by write_big_png (fast filter and zlib settings, two threads)
BIG_IMAGE_PX = 12_000_000
#: rows deflated as one piece by write_big_png (pieces are compressed in parallel, then joined)
PNG_PIECE_ROWS = 256
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_SUFFIXES = (".mp4", ".gif")


class Provenance(Protocol):
    """What the output layer asks of a provenance labeller (rig.provenance provides one)."""

    def mark(self, frames: np.ndarray) -> np.ndarray:
        """(T,H,W,3) uint8 frames -> the same frames with the mark applied (before encoding)."""

    def label(self, data: bytes, path: Path) -> bytes:
        """The encoded bytes of one image or video meant for `path` (its suffix names the format) -> labelled bytes."""


def check_path(path: str | os.PathLike, suffixes: Sequence[str], folder_ok: bool = False) -> Path:
    """RigError (one line) unless `path` has one of `suffixes` (or none, with folder_ok) and can be written."""
    path = Path(path)
    if not (folder_ok and path.suffix == "") and path.suffix.lower() not in suffixes:
        extra = " (or be a folder for PNG frames)" if folder_ok else ""
        raise RigError(f"output {path} must end in {' or '.join(suffixes)}{extra}")
    probe = path.parent if str(path.parent) else Path(".")
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise RigError(f"cannot write {path}: {probe} is not a folder")
    if path.suffix and path.is_dir():
        raise RigError(f"cannot write {path}: it is a folder")
    if path.suffix == "" and path.exists() and not path.is_dir():
        raise RigError(f"cannot write frames into {path}: it is a file")
    target = path if path.exists() else probe
    if not os.access(probe, os.W_OK) or not os.access(target, os.W_OK):
        raise RigError(f"cannot write {path}: permission denied")
    try:  # the folder may still refuse files (/proc, a read-only mount; root passes os.access everywhere)
        fd, trial = tempfile.mkstemp(dir=probe, prefix=".facerig-check.")
    except OSError as exc:
        raise RigError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(trial)
    return path


def encode_image(path: Path, image: np.ndarray) -> None:
    """Write one (H,W,3) or (H,W) uint8 image in the format of path's suffix (PNG, JPEG quality 95, lossless WebP)."""
    from PIL import Image

    arr = np.ascontiguousarray(image, dtype=np.uint8)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise RigError(f"image output {path.name} must end in {' or '.join(IMAGE_SUFFIXES)}")
    try:
        if suffix == ".png" and arr.shape[0] * arr.shape[1] > BIG_IMAGE_PX and (arr.ndim == 2 or arr.shape[2] == 3):
            write_big_png(path, arr)   # from the array itself: Pillow would copy an RGB photo to 4 bytes a pixel
            return
        img = Image.fromarray(arr)
        if suffix == ".png":
            img.save(path, format="PNG", compress_level=6)
        elif suffix in (".jpg", ".jpeg"):
            img.save(path, format="JPEG", quality=95)
        else:
            img.save(path, format="WEBP", lossless=True)
    except OSError as exc:
        raise RigError(f"cannot write image {path}: {exc}") from None


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, payload, CRC-32 of type + payload."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _adler32_joined(first: int, second: int, second_len: int) -> int:
    """The Adler-32 of two byte strings one after the other, from theirs (A = 1 + sum of bytes, B = sum of
    the A's after each byte, both mod 65521: A = A1 + A2 - 1, B = B1 + B2 + len2 * (A1 - 1))."""
    base = 65521
    a1, b1, a2, b2 = first & 0xFFFF, first >> 16, second & 0xFFFF, second >> 16
    return ((b1 + b2 + second_len * (a1 - 1)) % base) << 16 | (a1 + a2 - 1) % base


def _png_piece(rows: np.ndarray, above: np.ndarray | None, last: bool) -> tuple[bytes, int, int]:
    """PNG scanlines of `rows` ((n, W*channels) uint8), each Up-filtered against the row before it (`above`
    for the first; none at the top of the image), deflated as raw blocks that a later piece can follow.
    (compressed bytes, Adler-32 of the filtered bytes, their length)."""
    n = rows.shape[0]
    lines = np.empty((n, rows.shape[1] + 1), np.uint8)
    lines[:, 0] = 2   # filter type Up: the byte minus the byte above it, mod 256
    if above is None:
        lines[0, 1:] = rows[0]
    else:
        np.subtract(rows[0], above, out=lines[0, 1:])
    np.subtract(rows[1:], rows[:-1], out=lines[1:, 1:])
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    data = deflate.compress(lines) + deflate.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    return data, zlib.adler32(lines), lines.size


def write_big_png(path: Path, image: np.ndarray) -> None:
    """A lossless 8-bit RGB (or grey) PNG of a big image, written fast: every row Up-filtered (one numpy
    subtraction) and deflated with run-length matching, in pieces of PNG_PIECE_ROWS rows compressed on two
    threads and joined into one zlib stream (each piece ends on a byte boundary, as pigz joins them).

    Pillow tries five filters on every row and deflates on one thread: a 48 MP photo took ~3 s at zlib
    level 3; this takes about a third of that, and the file is no larger (smaller on noisy photos)."""
    arr = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = arr.shape[:2]
    rows = arr.reshape(h, -1)
    starts = list(range(0, h, PNG_PIECE_ROWS))

    def piece(r0: int) -> tuple[bytes, int, int]:
        r1 = min(h, r0 + PNG_PIECE_ROWS)
        return _png_piece(rows[r0:r1], rows[r0 - 1] if r0 else None, r1 == h)

    colour = 2 if arr.ndim == 3 else 0
    with open(path, "wb") as fh, ThreadPoolExecutor(2 if (os.cpu_count() or 1) > 1 else 1) as pool:
        fh.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)))
        check = 1
        for i, (data, adler, size) in enumerate(pool.map(piece, starts)):
            head = b"\x78\x01" if i == 0 else b""   # zlib header: deflate, 32 KB window, fastest
            check = _adler32_joined(check, adler, size)
            fh.write(_png_chunk(b"IDAT", head + data))
        fh.write(_png_chunk(b"IDAT", struct.pack(">I", check)) + _png_chunk(b"IEND", b""))


def encode_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """Write (T,H,W,3) uint8 frames as .mp4 (H.264, yuv420p, ffmpeg from imageio-ffmpeg) or .gif."""
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        import imageio.v2 as imageio

        # macro_block_size=1 keeps odd sizes; yuv420p plays everywhere; faststart puts the index first (streamable)
        with imageio.get_writer(path, format="FFMPEG", fps=fps, codec="libx264", quality=8, pixelformat="yuv420p",
                                macro_block_size=1, output_params=["-movflags", "+faststart"]) as writer:
            for frame in frames:
                writer.append_data(frame)
    elif suffix == ".gif":
        from PIL import Image

        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=int(round(1000 / fps)),
                       loop=0)
    else:
        raise RigError(f"video output {path} must end in .mp4 or .gif (or be a folder for PNG frames)")


def _same(a: Path, b: Path) -> bool:
    """True when two paths name one file or folder (the same file through another spelling or a link too)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


#: the names of the PNG frames a frames folder holds (encode_video's folder form)
FRAME_NAME = re.compile(r"^frame_\d{5}\.png$")


def check_frames_folder(path: Path) -> None:
    """RigError when an existing frames folder holds files that are not a facerig run's frames (hidden files aside).

    facerig writes frame_NNNNN.png there and, once the new run is written, deletes an earlier run's
    frames that the new one did not replace; anything else in the folder is not its to mix with or delete."""
    if not path.is_dir():
        return
    foreign = sorted(p.name for p in path.iterdir() if not p.name.startswith(".") and not FRAME_NAME.match(p.name))
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise RigError(f"cannot write frames into {path}: it holds other files ({foreign[0]}{more}); "
                       f"choose an empty or new folder")


class Outputs:
    """All the files of one command: checked up front, written to temps, renamed together when the block ends.

    `inputs`: the command's input files or folders; an output that names one of them is refused up front
    (so `-o photo.png --photo photo.png` cannot overwrite the photo)."""

    def __init__(self, provenance: Provenance | None = None,
                 inputs: Sequence[str | os.PathLike | None] = ()):
        self.provenance = provenance
        self.inputs = [Path(p) for p in inputs if p is not None]
        self._pending: list[tuple[Path, Path]] = []   # (temp, target) files
        self._folders: list[tuple[Path, Path]] = []   # (temp folder, target folder) of PNG frames
        self.written: list[Path] = []

    # ---- before the work -------------------------------------------------------------------
    def expect(self, path: str | os.PathLike | None, suffixes: Sequence[str], folder_ok: bool = False) -> Path | None:
        """Check an output path now (None passes: an optional output not asked for)."""
        if path is None:
            return None
        out = check_path(path, suffixes, folder_ok)
        for source in self.inputs:
            if _same(out, source):
                raise RigError(f"output {out} is also an input of this command; write to another name")
        if folder_ok and out.suffix == "":
            check_frames_folder(out)
        return out

    # ---- the writers -----------------------------------------------------------------------
    def image(self, path: str | os.PathLike, image: np.ndarray) -> Path:
        """One image (PNG/JPEG/WebP by suffix)."""
        image = np.asarray(image, dtype=np.uint8)
        if self.provenance is not None and image.ndim == 3:
            image = self.provenance.mark(image[None])[0]

        def write(tmp: Path) -> None:
            encode_image(tmp, image)
            self._labelled(tmp, path)

        return self.file(path, write)

    def video(self, path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
        """(T,H,W,3) uint8 frames as .mp4, .gif, or a folder of PNG frames (a path without a suffix)."""
        path = Path(path)
        frames = np.asarray(frames, dtype=np.uint8)
        if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
            raise RigError(f"no frames to write to {path}")
        if self.provenance is not None:
            frames = self.provenance.mark(frames)
        if path.suffix:

            def write(tmp: Path) -> None:
                encode_video(tmp, frames, fps)
                self._labelled(tmp, path)

            return self.file(path, write)
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
        self._folders.append((folder, path))
        for i, frame in enumerate(frames):
            encode_image(folder / f"frame_{i:05d}.png", frame)
            self._labelled(folder / f"frame_{i:05d}.png", path / f"frame_{i:05d}.png")
        return path

    def text(self, path: str | os.PathLike, text: str) -> Path:
        """A text file (JSON, JSONL, CSV, YAML)."""
        return self.file(path, lambda tmp: tmp.write_text(text))

    def file(self, path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
        """Any file: `write(tmp)` writes it to a temp path with the target's suffix (npz, glb, obj, ...)."""
        path = Path(path)
        tmp = temp_beside(path, RigError)
        self._pending.append((tmp, path))
        write(tmp)
        return path

    @contextmanager
    def labelled_by(self, provenance: Provenance | None):
        """Label what is written inside the block with another provenance (a command whose outputs differ in kind)."""
        before, self.provenance = self.provenance, provenance
        try:
            yield self
        finally:
            self.provenance = before

    def _labelled(self, tmp: Path, target: str | os.PathLike) -> None:
        """Let the provenance label the encoded bytes in `tmp` (meant for `target`)."""
        if self.provenance is not None:
            tmp.write_bytes(self.provenance.label(tmp.read_bytes(), Path(target)))

    # ---- the end ---------------------------------------------------------------------------
    def commit(self) -> list[Path]:
        """Rename every temp over its target; returns the written paths."""
        for tmp, target in self._pending:
            publish(tmp, target)
            self.written.append(target)
        for folder, target in self._folders:
            target.mkdir(parents=True, exist_ok=True)
            new = {frame.name for frame in folder.iterdir()}
            for frame in sorted(folder.iterdir()):
                publish(frame, target / frame.name)
            folder.rmdir()
            for old in target.iterdir():   # an earlier run's frames beyond this one's: theirs, now stale
                if FRAME_NAME.match(old.name) and old.name not in new:
                    old.unlink()
            self.written.append(target)
        self._pending, self._folders = [], []
        return self.written

    def discard(self) -> None:
        """Delete every temp: nothing of this command is left behind."""
        for tmp, _ in self._pending:
            tmp.unlink(missing_ok=True)
        for folder, _ in self._folders:
            shutil.rmtree(folder, ignore_errors=True)
        self._pending, self._folders = [], []

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
