"""Find faces of any size in ordinary photos, then run a landmark backend on a crop around each.

Landmark backends are tuned for faces that fill the image: MediaPipe's face mesh starts from its
short-range detector (faces within ~2 m, most of a 128 px input), dlib's HOG needs 80 px faces.
A 268 px face in a 1920x1080 portrait, or a face a tenth of an 8000 px photo wide, is missed.

FaceFinder looks with MediaPipe's full-range face detector (`model_selection=1`, shipped in the
wheel) over the whole image and, when that finds nothing, over overlapping square tiles of
falling size; dlib's HOG detector on a reduced copy is the fallback. FindingBackend wraps any
LandmarkBackend: each found face is cut out as a square of CROP_SCALE x its box, resampled to
WORK_SIDE px, given to the wrapped backend, and the points mapped back to the full image. So the
landmark backend always sees a face-centred square of one size, whatever the photo's size.
"""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

import numpy as np

from .errors import MorphableError
from .landmarks import Detection, LandmarkBackend, as_rgb_uint8

#: side (px) of the square each face is resampled to before the landmark backend sees it
WORK_SIDE = 512
#: side of that square relative to the larger side of the detector's box
CROP_SCALE = 2.0
#: a face box at least this fraction of the image's shorter side: the inner backend sees the whole image first
BIG_FACE = 0.3
#: the whole image is looked at reduced to at most this many px on its larger side
WHOLE_SIDE = 1280
#: tiles are looked at down to this side (px of the full image); smaller faces are too small to edit
MIN_TILE = 320
#: side (px) each tile is reduced to before the detector sees it (it works at 192 px inside)
TILE_PX = 384
#: a box the detector saw smaller than this (px at its input) is re-found on a closer crop
REFINE_BELOW = 96
#: two boxes with at least this intersection over union are one face
SAME_FACE_IOU = 0.4


@dataclass(frozen=True)
class FoundFace:
    """A face box (x0, y0, x1, y1) in image px, the detector's score and which detector found it."""

    box: tuple[float, float, float, float]
    score: float
    source: str

    @property
    def side(self) -> float:
        """The box's larger side (px)."""
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H,W,3) uint8 resampled to size (w, h): box filter down (cheap on 48 MP), bicubic up.

    A large reduction first takes every k-th pixel (k at most half the factor), so a 48 MP photo is
    not copied whole into PIL; the box filter then averages what is left."""
    from PIL import Image

    k = int(image.shape[1] / max(1, size[0])) // 2
    if k >= 2:
        image = image[::k, ::k]
    im = Image.fromarray(np.ascontiguousarray(image))
    down = size[0] < image.shape[1]
    return np.asarray(im.resize(size, Image.BOX if down else Image.BICUBIC, reducing_gap=3.0 if down else None))


def square_crop(image: np.ndarray, cx: float, cy: float, side: float,
                out: int) -> tuple[np.ndarray, float, float, float]:
    """The square of `side` px centred at (cx, cy), edge-padded where it leaves the image, at out x out px.

    Returns (crop, x0, y0, scale): crop px p is image px (x0, y0) + p / scale.
    """
    h, w = image.shape[:2]
    side = max(2.0, float(side))
    x0, y0 = int(np.floor(cx - side / 2.0)), int(np.floor(cy - side / 2.0))
    n = int(np.ceil(side))
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(w, x0 + n), min(h, y0 + n)
    if xa >= xb or ya >= yb:
        raise MorphableError("a face crop lies outside the image")
    part = image[ya:yb, xa:xb]
    pads = ((ya - y0, y0 + n - yb), (xa - x0, x0 + n - xb), (0, 0))
    if any(p for pair in pads[:2] for p in pair):
        part = np.pad(part, pads, mode="edge")
    crop = _resize(np.ascontiguousarray(part), (out, out)) if n != out else part
    return np.ascontiguousarray(crop), float(x0), float(y0), out / n


class FaceFinder:
    """Face boxes in a photo of any size, largest first: the MediaPipe full-range detector (whole image,
    then tiles), the dlib HOG detector as the fallback."""

    def __init__(self, min_score: float = 0.5, use_dlib: bool = True):
        self.min_score = float(min_score)
        self.use_dlib = use_dlib
        self._lock = threading.Lock()
        self._mp = None
        self._mp_failed = False

    def _detector(self):
        """MediaPipe's full-range face detector, started once (None when MediaPipe cannot start)."""
        if self._mp is None and not self._mp_failed:
            from .landmarks_mp import _quiet_native_stderr, mediapipe_importable

            if not mediapipe_importable():
                self._mp_failed = True
                return None
            try:
                from mediapipe.python.solutions import face_detection

                with _quiet_native_stderr():
                    self._mp = face_detection.FaceDetection(model_selection=1,
                                                            min_detection_confidence=self.min_score)
                    self._mp.process(np.zeros((64, 64, 3), np.uint8))
            except Exception:  # noqa: BLE001 -- a broken install: the dlib fallback looks instead
                self._mp_failed = True
        return self._mp

    def _mediapipe(self, image: np.ndarray, x0: float, y0: float, scale: float) -> list[FoundFace]:
        """Faces in `image` (a piece of the photo at `scale` photo->piece, its origin at photo (x0, y0))."""
        from .landmarks_mp import _quiet_native_stderr

        det = self._detector()
        if det is None:
            return []
        h, w = image.shape[:2]
        with self._lock, _quiet_native_stderr():
            res = det.process(np.ascontiguousarray(image))
        out = []
        for d in res.detections or []:
            b = d.location_data.relative_bounding_box
            bx0, by0 = b.xmin * w, b.ymin * h
            box = (x0 + bx0 / scale, y0 + by0 / scale, x0 + (bx0 + b.width * w) / scale,
                   y0 + (by0 + b.height * h) / scale)
            out.append(FoundFace(tuple(float(v) for v in box), float(d.score[0]), "mediapipe-full-range"))
        return out

    def _whole(self, image: np.ndarray) -> list[FoundFace]:
        h, w = image.shape[:2]
        scale = min(1.0, WHOLE_SIDE / max(h, w))
        small = image if scale == 1.0 else _resize(image, (max(1, round(w * scale)), max(1, round(h * scale))))
        found = self._mediapipe(small, 0.0, 0.0, scale)
        return [self._refined(image, f) if f.side * scale < REFINE_BELOW else f for f in found]

    def _tiles(self, image: np.ndarray, smallest: float = MIN_TILE, first: bool = True) -> list[FoundFace]:
        """Overlapping square tiles (half overlap) of falling size down to `smallest` px; with `first`, stops
        at the first size that finds a face, else gathers every size's faces.

        Each size reduces the image once so that a tile is TILE_PX px, then walks the tiles of the reduced copy."""
        h, w = image.shape[:2]
        tile = min(h, w) / 1.5
        gathered: list[FoundFace] = []
        while tile >= smallest:
            scale = min(1.0, TILE_PX / tile)
            small = image if scale == 1.0 else _resize(image, (max(1, round(w * scale)), max(1, round(h * scale))))
            n = int(round(tile * scale))
            found: list[FoundFace] = []
            for ty in _starts(small.shape[0], n, n / 2.0):
                for tx in _starts(small.shape[1], n, n / 2.0):
                    piece = small[int(ty):int(ty) + n, int(tx):int(tx) + n]
                    found += self._mediapipe(piece, int(tx) / scale, int(ty) / scale, scale)
            found = [self._refined(image, f) for f in found]
            if found and first:
                return found
            gathered += found
            tile /= 2.0
        return gathered

    def _refined(self, image: np.ndarray, face: FoundFace) -> FoundFace:
        """The box re-found on a TILE_PX square of 3x its size around it (a coarse tile saw it at a few px)."""
        cx, cy = face.centre
        crop, x0, y0, scale = square_crop(image, cx, cy, 3.0 * face.side, TILE_PX)
        again = self._mediapipe(crop, x0, y0, scale)
        if not again:
            return face
        return min(again, key=lambda f: np.hypot(f.centre[0] - cx, f.centre[1] - cy))

    def _dlib(self, image: np.ndarray) -> list[FoundFace]:
        from .landmarks import _dlib_model

        h, w = image.shape[:2]
        scale = min(1.0, WHOLE_SIDE / max(h, w))
        small = image if scale == 1.0 else _resize(image, (max(1, round(w * scale)), max(1, round(h * scale))))
        try:
            rects, scores, _ = _dlib_model("detector").run(small, 1, 0.0)
        except MorphableError:
            return []
        return [FoundFace((r.left() / scale, r.top() / scale, r.right() / scale, r.bottom() / scale), float(s),
                          "dlib-hog") for r, s in zip(rects, scores)]

    def find(self, image: np.ndarray, every: bool = False) -> list[FoundFace]:
        """The faces found, largest first ([] when none).

        By default the tiles are looked at only when the whole image shows no face (enough for the
        largest face, cheap per video frame); `every` also walks tiles when it does, down to a sixth of
        the shorter side or 1.5x the largest face, so smaller faces beside a large one (down to about a
        quarter of its size) are counted too (a photo's --face N)."""
        img = as_rgb_uint8(image)
        faces = self._whole(img)
        if not faces and max(img.shape[:2]) >= 2 * MIN_TILE:
            faces = self._tiles(img)
        elif faces and every:
            smallest = max(MIN_TILE, min(img.shape[:2]) / 6.0, 1.5 * max(f.side for f in faces))
            faces = faces + self._tiles(img, smallest, first=False)
        if not faces and self.use_dlib:
            faces = self._dlib(img)
        return merge(faces)


def _starts(length: int, tile: float, step: float) -> list[float]:
    """Tile origins along one side so that tiles of `tile` px cover [0, length)."""
    if tile >= length:
        return [0.0]
    starts = list(np.arange(0.0, length - tile, step))
    return starts + [float(length - tile)]


def _inside(p: tuple[float, float], box: tuple[float, ...]) -> bool:
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]


def merge(faces: list[FoundFace]) -> list[FoundFace]:
    """One box per face (the best-scored of overlapping ones; a box whose centre lies inside another's is
    a piece of that face, seen by a tile that cut it), largest first."""
    kept: list[FoundFace] = []
    for f in sorted(faces, key=lambda f: f.score, reverse=True):
        if all(iou(f.box, k.box) < SAME_FACE_IOU and not _inside(f.centre, k.box) and not _inside(k.centre, f.box)
               for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.area, reverse=True)


def _mapped(d: Detection, x0: float, y0: float, scale: float) -> Detection:
    """A detection in crop px moved back to image px (crop px p = image px (x0, y0) + p / scale).

    Every point field (arrays of x, y: points, mesh, iris, ...) is moved, every depth field (`*_z`, px
    scale) rescaled, so fields a backend adds later come back in image px too."""
    changes: dict = {"box": (x0 + d.box[0] / scale, y0 + d.box[1] / scale, x0 + d.box[2] / scale,
                             y0 + d.box[3] / scale), "attempt": f"{d.attempt}+crop"}
    for f in dataclasses.fields(d):
        value = getattr(d, f.name)
        if f.name in changes or not isinstance(value, np.ndarray):
            continue
        arr = np.asarray(value, np.float64)
        if f.name.endswith("_z"):
            changes[f.name] = arr / scale
        elif arr.shape[-1:] == (2,):
            changes[f.name] = arr / scale + np.array([x0, y0])
    return dataclasses.replace(d, **changes)


class FindingBackend:
    """A LandmarkBackend that finds faces with FaceFinder and runs `inner` on a WORK_SIDE square around each.

    Where the finder sees no face, `inner` looks at the whole image as before (tight crops it was built for).
    With `remember` (one instance per video), a frame first looks where the last frame's largest face was
    and runs the finder only when it is not there: the detector's ~25 ms a frame is paid once per shot.
    """

    def __init__(self, inner: LandmarkBackend, finder: FaceFinder | None = None, work_side: int = WORK_SIDE,
                 crop_scale: float = CROP_SCALE, max_faces: int = 8, remember: bool = False):
        self.inner = inner
        self.finder = finder or shared_finder()
        self.work_side = int(work_side)
        self.crop_scale = float(crop_scale)
        self.max_faces = int(max_faces)
        self.remember = remember
        self._last: tuple[tuple[int, ...], FoundFace] | None = None

    def landmarks_at(self, image: np.ndarray, face: FoundFace) -> Detection | None:
        """The inner backend's face nearest the centre of a square crop around `face`, in image px."""
        cx, cy = face.centre
        crop, x0, y0, scale = square_crop(image, cx, cy, self.crop_scale * face.side, self.work_side)
        found = self.inner.detect(crop)
        if not found:
            return None
        mid = self.work_side / 2.0

        def off_centre(d: Detection) -> float:
            return float(np.hypot((d.box[0] + d.box[2]) / 2.0 - mid, (d.box[1] + d.box[3]) / 2.0 - mid))

        return _mapped(min(found, key=off_centre), x0, y0, scale)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in `image` (H,W,3), largest first, each with the inner backend's points in image px.

        A face that fills the image (its box at least BIG_FACE of the shorter side: aligned crops,
        renders, selfies) is what the inner backend was built and calibrated on: it looks at the whole
        image for it first, and the crop is used when that misses."""
        img = as_rgb_uint8(image)
        out: list[Detection] = []
        if self.remember and self._last is not None and self._last[0] == img.shape:
            out = self._landmarks(img, [self._last[1]])
        if not out:
            out = self._landmarks(img, self.finder.find(img)[:self.max_faces])
        if not out:
            out = list(self.inner.detect(img))
        out.sort(key=lambda d: d.area, reverse=True)
        if self.remember:
            self._last = (img.shape, FoundFace(tuple(out[0].box), out[0].score, "last frame")) if out else None
        return out

    def _landmarks(self, img: np.ndarray, faces: list[FoundFace]) -> list[Detection]:
        """The inner backend's detection for each face box (whole image for big faces, else a crop)."""
        whole: list[Detection] | None = None
        out: list[Detection] = []
        for face in faces:
            d = None
            if face.side >= BIG_FACE * min(img.shape[:2]):
                whole = list(self.inner.detect(img)) if whole is None else whole
                near = [w for w in whole if _inside(face.centre, w.box)]
                d = max(near, key=lambda w: w.area) if near else None
            if d is None:
                d = self.landmarks_at(img, face)
            if d is not None and all(iou(d.box, o.box) < SAME_FACE_IOU for o in out):
                out.append(d)
        return out


_FINDER: FaceFinder | None = None


def shared_finder() -> FaceFinder:
    """One FaceFinder per process (MediaPipe's graph starts once)."""
    global _FINDER
    if _FINDER is None:
        _FINDER = FaceFinder()
    return _FINDER
