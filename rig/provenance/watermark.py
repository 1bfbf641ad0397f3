"""An invisible, tiled spread-spectrum watermark on luminance that survives JPEG, crops and resizes.

The mark is one pseudo-random tile (TILE x TILE pixels, CELL-pixel cells, each cell carrying one
chip of one payload bit) repeated over the image and added to the luminance with a strength that
follows local texture mildly. Detection high-passes the luminance, weights it by inverse local
activity, folds it onto one tile (so a crop, which only shifts the tiling, is found by a circular
correlation over all shifts), correlates it with the known part of the payload (b"facerig") and
decodes every bit at the best shift. A resize changes the tile period; the detector estimates it
from the residual's autocorrelation and resamples back. The score is the correlation peak in
standard deviations of the other shifts; Z_THRESHOLD was set on real photos (docs/provenance.md).
"""
from __future__ import annotations

import hashlib
import mmap
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial

import cv2
import numpy as np

TILE = 32            # tile period in pixels at embedding time
CELL = 2             # cell size in pixels (one chip)
MAGIC = b"facerig"   # 56 fixed bits; detection correlates with these
PAYLOAD_BITS = 64    # MAGIC + one version byte
Z_THRESHOLD = 6.0    # correlation peak, in standard deviations of the shift map, to call a mark present
DEFAULT_PSNR = 40.0  # embedding strength, as the PSNR the mark alone costs
HP_SIGMA = 0.8       # detector high-pass (picture removal) width, pixels
TEXTURE_SIGMA = 1.5  # the perceptual mask's detail scale (luma minus a blur this wide), pixels
TEXTURE_REF = 3.0    # local detail RMS (grey levels) at which the mark gets its full strength
MASK_FLAT, MASK_HI = 0.25, 1.5  # mask range: flat areas get 0.25 of full strength, rich texture 1.5x
MAX_GAIN = 1.0       # a flat picture's strength is capped: textured areas never above the RMS its PSNR gives


def payload_bits(version: int) -> np.ndarray:
    """The 64 payload bits: b'facerig' then the version byte, most significant bit first."""
    if not 0 <= int(version) <= 255:
        raise ValueError(f"watermark version must be a byte, got {version}")
    return np.unpackbits(np.frombuffer(MAGIC + bytes([int(version)]), dtype=np.uint8)).astype(np.int8)


def _cells() -> tuple[np.ndarray, np.ndarray]:
    """(bit index, chip sign) per cell of the tile, from a fixed key (the layout is the format)."""
    n = (TILE // CELL) ** 2
    seed = int.from_bytes(hashlib.sha256(b"facerig watermark v1").digest()[:8], "little")
    rng = np.random.default_rng(seed)
    bit = rng.permutation(np.arange(n) % PAYLOAD_BITS)
    chip = rng.choice(np.array([-1.0, 1.0]), n)
    return bit.reshape(TILE // CELL, -1), chip.reshape(TILE // CELL, -1)


_BIT, _CHIP = _cells()


def _upsample_cells(values: np.ndarray, scale: int = 1) -> np.ndarray:
    """Cell values (T/CELL, T/CELL) -> a smooth periodic (TILE*scale)^2 pattern (cubic, wrapped)."""
    n, c = values.shape[0], CELL * scale
    padded = np.pad(values, 2, mode="wrap").astype(np.float32)
    big = cv2.resize(padded, ((n + 4) * c, (n + 4) * c), interpolation=cv2.INTER_CUBIC)
    return big[2 * c:(n + 2) * c, 2 * c:(n + 2) * c].astype(np.float64)


def pattern_scale(height: int, width: int) -> int:
    """Tile magnification for an image size: 1 below 256 px, 2 below 1024 px, else 4.

    Small images need the fine 2 px cells (more independent cells); large ones need coarser cells
    so the mark survives being shrunk and then JPEG-compressed. The detector finds either (it tries
    these scales besides the ones it estimates).
    """
    side = min(height, width)
    return 1 if side < 256 else (2 if side < 1024 else 4)


def tile_pattern(bits: np.ndarray, scale: int = 1) -> np.ndarray:
    """The (TILE*scale)^2 zero-mean, unit-RMS pattern for 64 payload bits."""
    signs = 2.0 * np.asarray(bits, dtype=np.float64) - 1.0
    pattern = _upsample_cells(_CHIP * signs[_BIT], scale)
    pattern -= pattern.mean()
    return pattern / pattern.std()


def _bit_carriers() -> np.ndarray:
    """(64, TILE, TILE): each bit's own chips upsampled (zero elsewhere), for decoding."""
    out = np.zeros((PAYLOAD_BITS, TILE, TILE))
    for i in range(PAYLOAD_BITS):
        out[i] = _upsample_cells(np.where(_BIT == i, _CHIP, 0.0))
    return out


_CARRIERS = _bit_carriers()


def luminance(image: np.ndarray) -> np.ndarray:
    """(H,W,3) uint8/float RGB -> (H,W) float64 BT.601 luma."""
    img = np.asarray(image, dtype=np.float64)
    return img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114


#: rows converted to float at a time by _luma32 (a (rows, W, 3) float32 temp, not a whole strip's)
LUMA_ROWS = 64
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


#: pictures over this many pixels are embedded by the compiled loops (rig.provenance.embed_loops; same bits):
#: ~1.5 s less at 48 MP; below, numba's start-up (~0.5 s when nothing compiled has run yet) could cost more
COMPILED_PX = 12_000_000


def _luma32(image: np.ndarray, compiled: bool = False) -> np.ndarray:
    """(H,W,3) uint8 RGB -> (H,W) float32 BT.601 luma (the embedder's: float32 is all its mask uses);
    `compiled`: through rig.provenance.embed_loops (numba), the same numbers ~8x faster."""
    out = np.empty(image.shape[:2], np.float32)
    if compiled:
        from .embed_loops import luma_into

        return luma_into(image, _LUMA_WEIGHTS, out)
    for r in range(0, image.shape[0], LUMA_ROWS):
        np.dot(image[r:r + LUMA_ROWS].astype(np.float32), _LUMA_WEIGHTS, out=out[r:r + LUMA_ROWS])
    return out


def _texture_mask(luma: np.ndarray) -> np.ndarray:
    """Perceptual mask: the mark's relative strength at each pixel, from the local texture around it.

    Texture is the local RMS of the picture's fine detail (luma minus a blur, in grey levels), so smooth
    gradients (skies, walls, studio backdrops) count as flat. A min filter keeps the flat side of an edge
    weak (no halo), and the mask is blurred so the strength has no seams of its own. Flat areas get
    MASK_FLAT of the textured strength, where a structured pattern of even one grey level shows.
    """
    lum = np.asarray(luma, dtype=np.float32)
    mask = _blurred_strength(lum)
    return np.multiply(mask, _room(lum), out=mask)


def _blurred_strength(lum: np.ndarray, compiled: bool = False) -> np.ndarray:
    """The mask before the saturation fade (float32 luma in; `compiled`: embed_loops' steps, same numbers)."""
    # the same operations as written out plainly, done in place (a 48 MP photo's strips make 100s of MB of temps)
    detail = cv2.GaussianBlur(lum, (0, 0), TEXTURE_SIGMA)
    if compiled:
        from .embed_loops import squared_detail, strength

        squared_detail(lum, detail)
    else:
        np.subtract(lum, detail, out=detail)
        np.multiply(detail, detail, out=detail)
    activity = cv2.GaussianBlur(detail, (0, 0), 2.0 * TEXTURE_SIGMA)
    np.sqrt(activity, out=activity)
    activity = cv2.erode(activity, np.ones((5, 5), np.uint8))
    if compiled:
        strength(activity, TEXTURE_REF, MASK_FLAT, MASK_HI)
    else:
        np.divide(activity, TEXTURE_REF, out=activity)
        np.clip(activity, MASK_FLAT, MASK_HI, out=activity)
    return cv2.GaussianBlur(activity, (0, 0), 2.0)


def _room(lum: np.ndarray) -> np.ndarray:
    """The saturation fade: no room to add in saturated areas, so the mark fades out near 0 and 255."""
    room = np.subtract(255.0, lum, dtype=np.float32)
    np.minimum(lum, room, out=room)
    np.divide(room, ROOM_FADE, out=room)
    return np.clip(room, 0.0, 1.0, out=room)


#: grey levels from 0 or 255 over which the mark fades in
ROOM_FADE = 8.0


#: rows of the picture embedded at a time: big photos cost strips, not whole-frame float64 copies
STRIP_ROWS = 512
#: context rows above and below a strip: more than the mask's blurs and erosion reach (about 28 px),
#: so a strip's mask equals the whole picture's there
STRIP_MARGIN = 32


@lru_cache(maxsize=8)
def _tile32(version: int, scale: int) -> np.ndarray:
    """One float32 tile of the pattern (read-only): what the whole-frame field and the strips repeat."""
    tile = tile_pattern(payload_bits(version), scale).astype(np.float32)
    tile.setflags(write=False)
    return tile


@lru_cache(maxsize=8)
def _mark_field(h: int, w: int, version: int, scale: int) -> np.ndarray:
    """The tiled pattern over an (h,w) frame: the same for every frame of a video, so made once (read-only)."""
    period = TILE * scale
    field = np.tile(_tile32(version, scale), (h // period + 1, w // period + 1))[:h, :w]
    field.setflags(write=False)
    return field


def _field_rows(h: int, w: int, version: int, scale: int, r0: int, r1: int) -> np.ndarray:
    """Rows r0:r1 of the tiled pattern (float32); whole frames up to 4 MP come from the cache (videos reuse them)."""
    if h * w <= 4_000_000:
        return _mark_field(h, w, version, scale)[r0:r1]
    period = TILE * scale
    rows = _tile32(version, scale)[np.arange(r0, r1) % period]
    return np.tile(rows, (1, w // period + 1))[:, :w]


def _strips(h: int):
    """(r0, r1, a, b): each strip's rows and the rows read around it for its mask."""
    for r0 in range(0, h, STRIP_ROWS):
        r1 = min(h, r0 + STRIP_ROWS)
        yield r0, r1, max(0, r0 - STRIP_MARGIN), min(h, r1 + STRIP_MARGIN)


def _marked_rows(img: np.ndarray, h: int, w: int, version: int, scale: int, strip: tuple[int, int, int, int],
                 store: np.ndarray) -> float:
    """Store one strip's unscaled mark (the tiled pattern times the perceptual mask) in `store`; its energy."""
    r0, r1, a, b = strip
    delta = store[r0:r1]
    compiled = h * w > COMPILED_PX
    luma = _luma32(img[a:b], compiled=compiled)
    if compiled:
        from .embed_loops import marked_into

        mask = _blurred_strength(luma, compiled=True)
        marked_into(_tile32(version, scale), r0, mask[r0 - a:r1 - a], luma[r0 - a:r1 - a], ROOM_FADE, delta)
    else:
        np.multiply(_field_rows(h, w, version, scale, r0, r1), _texture_mask(luma)[r0 - a:r1 - a], out=delta)
    return float(np.einsum("ij,ij->", delta, delta, dtype=np.float64))


def _threads(h: int, w: int) -> int:
    """Worker threads for the strips: two for a big picture when there are two cores (numpy and OpenCV
    release the GIL), else one."""
    return 2 if h * w > 4 * STRIP_ROWS * w and (os.cpu_count() or 1) > 1 else 1


def embed(image: np.ndarray, version: int = 1, psnr: float = DEFAULT_PSNR, scale: int | None = None,
          out: np.ndarray | None = None) -> np.ndarray:
    """Watermarked copy of an (H,W,3) uint8 RGB image (written into `out` when given); the mark alone costs
    about `psnr` dB, or less on a mostly flat picture (its strength follows the perceptual mask, capped at
    MAX_GAIN).

    Worked in strips of rows (the unscaled float32 mark is kept between the two passes and let go as the
    output is written), so a 48 MP photo costs about 250 MB over its input and output."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"watermark needs an (H,W,3) uint8 image, got {img.shape} {img.dtype}")
    img = np.ascontiguousarray(img)   # OpenCV works on rows of contiguous pixels (a copy only for a view)
    out = np.empty_like(img) if out is None else out
    if out.shape != img.shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ValueError(f"watermark out= must be a contiguous {img.shape} uint8 array")
    h, w = img.shape[:2]
    scale = pattern_scale(h, w) if scale is None else int(scale)
    # the unscaled mark of every row, kept between the passes in anonymous memory whose pages are handed
    # back to the system as the output is written (freed numpy strips would stay in the heap)
    buf = mmap.mmap(-1, h * w * 4)
    marks = np.frombuffer(buf, np.float32).reshape(h, w)
    strips = list(_strips(h))
    work = partial(_marked_rows, img, h, w, int(version), scale, store=marks)
    if _threads(h, w) > 1:
        with ThreadPoolExecutor(_threads(h, w)) as pool:
            energies = list(pool.map(work, strips))
    else:
        energies = [work(strip) for strip in strips]
    energy = 0.0
    for e in energies:   # summed in strip order, as one pass would
        energy += e
    rms = float(np.sqrt(energy / (h * w))) + 1e-12
    target = 255.0 * 10.0 ** (-psnr / 20.0)
    # the PSNR is the cost where the picture has texture to hide the mark in; a mostly flat picture
    # does not get its flat areas turned up to reach it (it costs less: a higher PSNR)
    gain = np.float32(min(target / rms, MAX_GAIN * target))
    done = 0   # bytes of `buf` handed back
    for r0, r1, _, _ in strips:
        delta = np.multiply(marks[r0:r1], gain, out=marks[r0:r1])
        for q in range(0, r1 - r0, LUMA_ROWS):   # img + delta in float32, rounded half to even, saturated:
            rows = slice(r0 + q, min(r1, r0 + q + LUMA_ROWS))   # np.clip(np.rint(img + delta), 0, 255) exactly
            cv2.add(img[rows], cv2.cvtColor(delta[q:q + LUMA_ROWS], cv2.COLOR_GRAY2RGB), dst=out[rows],
                    dtype=cv2.CV_8U)
        used = r1 * w * 4 // mmap.PAGESIZE * mmap.PAGESIZE
        if used > done and hasattr(buf, "madvise"):
            buf.madvise(mmap.MADV_DONTNEED, done, used - done)
            done = used
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images (inf when equal)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def _highpass(luma: np.ndarray) -> np.ndarray:
    """Remove the picture, keep the mark's band: luma minus a Gaussian blur, activity-weighted, clipped."""
    lum = luma.astype(np.float32)
    res = (lum - cv2.GaussianBlur(lum, (0, 0), HP_SIGMA)).astype(np.float64)
    # weight by inverse local activity: textured areas hide the mark in noise, flat ones carry it clean
    local = np.sqrt(np.maximum(cv2.blur((res * res).astype(np.float32), (7, 7)), 0.0).astype(np.float64))
    res = res / (local + np.median(local) + 1e-6)
    lim = 3.0 * (np.median(np.abs(res)) / 0.6745 + 1e-6)
    return np.clip(res, -lim, lim)


def _fold(res: np.ndarray) -> np.ndarray:
    """Average the residual onto one TILE x TILE tile (pixel (y, x) -> (y mod TILE, x mod TILE))."""
    h, w = res.shape
    hh, ww = -(-h // TILE) * TILE, -(-w // TILE) * TILE
    pad = np.zeros((hh, ww))
    cnt = np.zeros((hh, ww))
    pad[:h, :w] = res
    cnt[:h, :w] = 1.0
    s = pad.reshape(hh // TILE, TILE, ww // TILE, TILE).sum(axis=(0, 2))
    c = cnt.reshape(hh // TILE, TILE, ww // TILE, TILE).sum(axis=(0, 2))
    return s / np.maximum(c, 1.0)


def _circ_highpass(tile: np.ndarray) -> np.ndarray:
    """The detector's high-pass applied to a periodic tile (so reference and residual match)."""
    big = np.tile(tile, (3, 3)).astype(np.float32)
    hp = big - cv2.GaussianBlur(big, (0, 0), HP_SIGMA)
    return hp[TILE:2 * TILE, TILE:2 * TILE].astype(np.float64)


_REF_KNOWN = None


def _reference() -> np.ndarray:
    """High-passed pattern of the fixed MAGIC bits only (the version bits left out)."""
    global _REF_KNOWN
    if _REF_KNOWN is None:
        bits = payload_bits(0).astype(np.float64)
        signs = 2.0 * bits - 1.0
        signs[len(MAGIC) * 8:] = 0.0
        _REF_KNOWN = _circ_highpass(_upsample_cells(_CHIP * signs[_BIT]))
    return _REF_KNOWN


_CARRIERS_HP = np.stack([_circ_highpass(c) for c in _CARRIERS])


@dataclass
class Detection:
    """What the detector found: peak z-score, the decoded bits and how many match MAGIC + version."""

    z: float
    scale: float
    bits: np.ndarray
    detected: bool
    strength: np.ndarray | None = None   # |correlation| of each bit at the best shift
    mirrored: bool = False               # found in the left-right mirrored image

    @property
    def version_reliable(self) -> bool:
        """True when the 8 unprotected version bits are each well clear of zero (against the fixed bits)."""
        if not self.detected or self.strength is None:
            return False
        n = len(MAGIC) * 8
        return bool(self.magic_accuracy == 1.0 and self.strength[n:].min() >= 0.35 * np.median(self.strength[:n]))

    @property
    def version(self) -> int:
        """The decoded version byte (meaningful only when detected)."""
        return int(np.packbits(self.bits[len(MAGIC) * 8:].astype(np.uint8))[0])

    def bit_accuracy(self, version: int | None = None) -> float:
        """Share of the 64 bits equal to MAGIC + version (the decoded version when None)."""
        want = payload_bits(self.version if version is None else version)
        return float(np.mean(self.bits == want))

    @property
    def magic_accuracy(self) -> float:
        """Share of the 56 fixed bits decoded right."""
        n = len(MAGIC) * 8
        return float(np.mean(self.bits[:n] == payload_bits(0)[:n]))


def _score_fold(fold: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(z-score of the best circular shift, the 64 decoded bits there, their |correlation|)."""
    f = np.fft.fft2(fold)
    cmap = np.real(np.fft.ifft2(f * np.conj(np.fft.fft2(_reference()))))
    flat = cmap.ravel()
    k = int(np.argmax(flat))
    dy, dx = divmod(k, TILE)
    # the shift map's spread away from the peak (the pattern's own correlation width is ~2 cells)
    away = np.ones((TILE, TILE), bool)
    near = np.arange(-2 * CELL, 2 * CELL + 1)
    away[np.ix_((dy + near) % TILE, (dx + near) % TILE)] = False
    rest = cmap[away]
    z = (flat[k] - rest.mean()) / (rest.std() + 1e-12)
    aligned = np.roll(fold, (-dy, -dx), axis=(0, 1))
    corr = np.tensordot(_CARRIERS_HP, aligned, axes=([1, 2], [0, 1]))
    return float(z), (corr > 0).astype(np.int8), np.abs(corr)


def _candidate_periods(res: np.ndarray, top: int = 3) -> list[float]:
    """Tile periods (pixels) suggested by peaks of the residual's autocorrelation along x and y."""
    h, w = res.shape
    f = np.fft.rfft2(res - res.mean())
    ac = np.fft.irfft2(np.abs(f) ** 2, s=res.shape)
    ac /= ac[0, 0] + 1e-12
    prof = np.zeros(max(h, w))
    prof[: w // 2] += ac[0, : w // 2] + ac[1, : w // 2] + ac[-1, : w // 2]
    prof[: h // 2] += ac[: h // 2, 0] + ac[: h // 2, 1] + ac[: h // 2, -1]
    lo, hi = TILE * 0.3, min(TILE * 6.0, max(h, w) / 2.0 - 1)
    if hi <= lo:
        return []
    periods = np.arange(lo, hi, 0.05)
    score = np.zeros_like(periods)
    for k in (1, 2, 3):
        lags = periods * k
        ok = lags < len(prof) - 1
        score[ok] += np.interp(lags[ok], np.arange(len(prof)), prof)
    out: list[float] = []
    for i in np.argsort(score)[::-1]:
        p = float(periods[i])
        if all(abs(p - q) > 0.5 for q in out):
            out.append(p)
        if len(out) == top:
            break
    return out


def detect(image: np.ndarray, frames: list[np.ndarray] | None = None, search_scale: bool = True) -> Detection:
    """Look for the mark in an (H,W,3) image (or, with `frames`, in several frames of one video)."""
    images = [np.asarray(image)] if frames is None else [np.asarray(f) for f in frames]
    lumas = [luminance(im) if im.ndim == 3 else im.astype(np.float64) for im in images]
    best: tuple[float, float, np.ndarray, np.ndarray, bool] | None = None
    h0, w0 = lumas[0].shape
    scales = [float(k) for k in (1, 2, 4) if k == 1 or min(h0, w0) >= TILE * k * 2]
    at_scale_1 = [_highpass(lum) for lum in lumas]   # scale 1 is always tried: high-pass each frame once
    if search_scale:
        scales += [p / TILE for p in _candidate_periods(at_scale_1[0])]
    tried: list[float] = []
    for s in scales:
        for fine in ((1.0,) if s in (1.0, 2.0, 4.0) else (0.996, 0.998, 1.0, 1.002, 1.004)):
            sc = s * fine
            if any(abs(sc - t) < 1e-4 for t in tried):
                continue
            tried.append(sc)
            fold = np.zeros((TILE, TILE))
            for lum, res in zip(lumas, at_scale_1):
                if sc != 1.0:
                    h, w = lum.shape
                    size = (max(1, int(round(w / sc))), max(1, int(round(h / sc))))
                    interp = cv2.INTER_AREA if sc > 1.0 else cv2.INTER_CUBIC
                    res = _highpass(cv2.resize(lum.astype(np.float32), size, interpolation=interp))
                fold += _fold(res)
            # a mirrored copy (a common re-post) folds onto the mirrored tile: try both
            for mirrored, f in ((False, fold), (True, fold[:, ::-1])):
                z, bits, strength = _score_fold(f)
                if best is None or z > best[0]:
                    best = (z, sc, bits, strength, mirrored)
        if best[0] >= 2 * Z_THRESHOLD:  # unmistakable already: the remaining scales cannot change the verdict
            break
    z, sc, bits, strength, mirrored = best
    return Detection(z=z, scale=sc, bits=bits, detected=z >= Z_THRESHOLD, strength=strength, mirrored=mirrored)
