"""MediaPipe face-mesh landmark backend: 468 surface points and 2x5 iris points per face, plus iBUG-68 points.

MediaPipe's face mesh (Kartynnik et al. 2019; Apache-2.0 code and bundled models) regresses a
fixed 468-point surface topology in 3D, so its points follow the head's pose much more
faithfully than dlib's 2D jaw contour and brows. The FaceMesh of the legacy
`mediapipe.python.solutions` API is used, static-image mode by default, video mode for one stream
(wheel mediapipe==0.10.21; no download at run time).
Each Detection carries the mesh (468,2) px and 68 iBUG-compatible `points` blended from mesh
points by IBUG68_FROM_MESH, so alignment, inter-ocular distances and overlays keep working.
With `refine_landmarks` (the default) MediaPipe's attention model also refines lids and lips and
adds 10 iris points (centre + 4 on the rim per eye): Detection.iris (2,5,2) px, the subject's left
eye first (morphable.gaze's order). It costs about 0.5 ms a frame (bench/bench_track.py).
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import threading
import types

import numpy as np

from .errors import MorphableError
from .landmarks import Detection, as_rgb_uint8

NUM_MESH_POINTS = 468
#: MediaPipe rows of the iris points with refine_landmarks: centre then rim, subject's left eye
#: (image right on a frontal face) first, as morphable.gaze.EYES orders eyes
IRIS_ROWS = ((473, 474, 475, 476, 477), (468, 469, 470, 471, 472))
#: images whose larger side is below this are upsampled (bicubic) before detection: on 64 px
#: faces this brings the points closer to dlib's on the 128 px originals (docs/fitting.md)
MIN_SIDE = 256
#: fraction of the larger side added on every border (edge-replicated) for tightly cropped faces
PAD = 0.25

#: iBUG-68 point k = (1 - a) * mesh[i] + a * mesh[j] for row (i, j, a); built by data
#: (morphable/landmark_select_mp.py `ibug68`): each dlib point on UTKFace photos matched by the
#: mesh point, or blend of two, with the smallest mean distance in inter-ocular units.
IBUG68_FROM_MESH: tuple[tuple[int, int, float], ...] = (
    (162, 227, 0.487), (227, 137, 0.275), (177, 137, 0.372), (215, 177, 0.014),
    (172, 138, 0.397), (136, 150, 0.301), (149, 150, 0.088), (148, 176, 0.407),
    (152, 152, 0.0), (377, 400, 0.379), (378, 379, 0.063), (365, 379, 0.324),
    (397, 367, 0.345), (435, 401, 0.008), (401, 366, 0.368), (366, 356, 0.352),
    (389, 447, 0.472), (70, 139, 0.22), (63, 104, 0.055), (105, 66, 0.285),
    (66, 107, 0.297), (107, 193, 0.233), (336, 168, 0.233), (296, 336, 0.4),
    (282, 299, 0.327), (293, 334, 0.232), (300, 383, 0.194), (168, 122, 0.175),
    (196, 351, 0.419), (281, 174, 0.384), (5, 19, 0.498), (240, 99, 0.117),
    (97, 239, 0.12), (2, 164, 0.261), (326, 250, 0.266), (460, 290, 0.313),
    (7, 113, 0.185), (160, 158, 0.185), (157, 159, 0.451), (173, 26, 0.378),
    (23, 157, 0.369), (144, 25, 0.07), (362, 256, 0.112), (385, 384, 0.345),
    (387, 385, 0.317), (249, 388, 0.235), (373, 374, 0.132), (374, 362, 0.317),
    (61, 57, 0.278), (39, 40, 0.453), (72, 167, 0.309), (37, 302, 0.479),
    (267, 0, 0.109), (269, 415, 0.302), (291, 287, 0.087), (320, 406, 0.458),
    (314, 18, 0.083), (17, 83, 0.089), (84, 83, 0.132), (90, 182, 0.428),
    (62, 146, 0.211), (38, 179, 0.095), (13, 87, 0.071), (268, 316, 0.049),
    (308, 375, 0.248), (317, 404, 0.069), (14, 85, 0.106), (87, 179, 0.242),
)


# MediaPipe's C++ side logs through absl/TF logging: keep only errors (must be set before import)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _PyplotOnUse(types.ModuleType):
    """Stands in for matplotlib.pyplot until one of its attributes is read, then loads it and hands that over.

    MediaPipe's drawing helpers import pyplot at module level (about 0.5 s of a cold command: fonts, backends)
    and the face mesh never draws with them; whoever does use pyplot later gets the real module. It carries the
    real module's __file__, so a scan of sys.modules for files (inspect.getmodule, which torch.jit.trace's check
    runs when the mouth filler loads) does not load pyplot: ~2 s of the first reenacted open mouth."""

    def __init__(self, name: str, file: str | None = None):
        super().__init__(name)
        if file is not None:
            self.__file__ = file

    def __getattr__(self, name: str):
        if sys.modules.get("matplotlib.pyplot") is self:
            del sys.modules["matplotlib.pyplot"]
        return getattr(importlib.import_module("matplotlib.pyplot"), name)


def _import_mediapipe() -> None:
    """Import mediapipe with matplotlib.pyplot standing in (_PyplotOnUse) unless pyplot is already loaded."""
    spec = None if "matplotlib.pyplot" in sys.modules else importlib.util.find_spec("matplotlib")
    if spec is not None:
        places = list(spec.submodule_search_locations or [])
        sys.modules["matplotlib.pyplot"] = _PyplotOnUse("matplotlib.pyplot",
                                                        os.path.join(places[0], "pyplot.py") if places else None)
    try:
        importlib.import_module("mediapipe")
    finally:
        if type(sys.modules.get("matplotlib.pyplot")) is _PyplotOnUse and "mediapipe" not in sys.modules:
            del sys.modules["matplotlib.pyplot"]   # mediapipe failed: leave no stand-in behind


def mediapipe_importable() -> bool:
    """True when MediaPipe's face-mesh solution can be imported (checked on every call)."""
    try:
        _import_mediapipe()
        importlib.import_module("mediapipe.python.solutions.face_mesh")
    except Exception:  # ImportError, or a broken install (missing cv2, protobuf mismatch, ...)
        return False
    return True


def ibug68_from_mesh(mesh: np.ndarray, table=None) -> np.ndarray:
    """(..., 468, 2) mesh points -> (..., 68, 2) iBUG-compatible points via the blend table."""
    rows = np.asarray(table if table is not None else IBUG68_FROM_MESH, dtype=np.float64)
    if rows.shape != (68, 3):
        raise MorphableError("the mesh -> iBUG-68 table is not built (morphable/landmark_select_mp.py ibug68)")
    i, j, a = rows[:, 0].astype(int), rows[:, 1].astype(int), rows[:, 2]
    m = np.asarray(mesh, dtype=np.float64)
    return m[..., i, :] * (1.0 - a)[:, None] + m[..., j, :] * a[:, None]


@contextlib.contextmanager
def _quiet_native_stderr():
    """Send file descriptor 2 to /dev/null for a moment: MediaPipe's C++ side (absl, TFLite) logs
    INFO/WARNING lines there on graph start-up that Python cannot filter; errors still raise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (MediaPipe's can span many lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))


class MediaPipeBackend:
    """MediaPipe's FaceMesh as a LandmarkBackend; faces largest first, each with its mesh.

    `static_image_mode` (default) detects every image anew; False is MediaPipe's video mode for the
    frames of one stream in order: it follows the faces from the previous frame (min_confidence is
    then also the tracking confidence) and runs its detector again when it loses them."""

    def __init__(self, max_faces: int = 4, min_confidence: float = 0.3, min_side: int = MIN_SIDE,
                 pad: float = PAD, refine: bool = True, static_image_mode: bool = True):
        if not mediapipe_importable():
            raise MorphableError("mediapipe is not importable (pip install --no-deps mediapipe==0.10.21 "
                                 "plus its runtime deps, see pyproject.toml); use the dlib backend")
        from mediapipe.python.solutions import face_mesh

        self.min_side = int(min_side)
        self.pad = float(pad)
        self.refine = bool(refine)
        self._lock = threading.Lock()
        try:
            with self._lock, _quiet_native_stderr():
                if static_image_mode:
                    self._mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=int(max_faces),
                                                    refine_landmarks=self.refine,
                                                    min_detection_confidence=float(min_confidence))
                    self._mesh.process(np.zeros((64, 64, 3), np.uint8))   # start-up logs go here, not to the user
                else:   # no blank first frame: the stream's own first frame starts the tracking
                    self._mesh = face_mesh.FaceMesh(static_image_mode=False, max_num_faces=int(max_faces),
                                                    refine_landmarks=self.refine,
                                                    min_detection_confidence=float(min_confidence),
                                                    min_tracking_confidence=float(min_confidence))
        except Exception as exc:  # noqa: BLE001 -- the graph's start-up raises RuntimeError, ValueError, ...
            raise MorphableError(f"MediaPipe's face mesh did not start ({type(exc).__name__}: "
                                 f"{_first_line(exc)}); use the dlib backend") from None

    def meshes(self, image: np.ndarray) -> list[np.ndarray]:
        """The (468,3) meshes found in an RGB image: x, y in source px, z in the same px scale."""
        return [m[:NUM_MESH_POINTS] for m in self.points(image)]

    def points(self, image: np.ndarray) -> list[np.ndarray]:
        """All points MediaPipe gives per face, (478,3) with `refine` else (468,3); px as in meshes()."""
        img = as_rgb_uint8(image)
        h, w = img.shape[:2]
        pad = int(round(self.pad * max(h, w)))
        work = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else img
        scale = max(1.0, self.min_side / max(work.shape[:2]))
        if scale > 1.0:
            work = _resize(work, scale)
        hh, ww = work.shape[:2]
        try:
            with self._lock, _quiet_native_stderr():
                res = self._mesh.process(np.ascontiguousarray(work))
        except Exception as exc:  # noqa: BLE001 -- a failing graph is one user-facing error
            raise MorphableError(f"MediaPipe's face mesh failed on an image ({type(exc).__name__}: "
                                 f"{_first_line(exc)})") from None
        out = []
        for face in res.multi_face_landmarks or []:
            pts = np.array([[p.x * ww, p.y * hh, p.z * ww] for p in face.landmark], dtype=np.float64)
            pts = pts / scale
            pts[:, :2] -= pad
            out.append(pts)
        return out

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in `image` (H,W,3), largest first; points are iBUG-68 from the mesh, mesh is (468,2), iris (2,5,2)."""
        found = []
        for m in self.points(image):
            xy = m[:NUM_MESH_POINTS, :2]
            box = (*xy.min(0), *xy.max(0))
            iris = m[np.array(IRIS_ROWS)] if len(m) > max(IRIS_ROWS[0]) else None
            found.append(Detection(tuple(float(v) for v in box), ibug68_from_mesh(xy), 1.0, "mediapipe",
                                   mesh=xy.copy(), mesh_z=m[:NUM_MESH_POINTS, 2].copy(),
                                   iris=None if iris is None else iris[..., :2].copy(),
                                   iris_z=None if iris is None else iris[..., 2].copy()))
        found.sort(key=lambda d: d.area, reverse=True)
        return found
