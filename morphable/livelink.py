"""Live Link Face's CSV (Epic's iPhone capture app): write a performance in it, read one back.

The layout (docs/animation.md gives the sources): a header `Timecode,BlendShapeCount,` then the
52 ARKit blendshapes in PascalCase in the app's own column order (LIVELINK_SHAPES: note
JawRight before JawLeft and MouthRight before MouthLeft), then the nine rotations
HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,...,RightEyeRoll. One row a frame: the timecode
`HH:MM:SS:FF.mmm` (FF the frame within the second at the timecode rate, .mmm thousandths of a
frame), the count 61, the weights in [0, 1] and the rotations in radians, all with 10 decimals.

Rotation axes are ARKit's face frame (+x the subject's left, +y up, +z out of the face), right
handed: yaw > 0 turns toward the subject's left, pitch > 0 turns down, roll > 0 is
counter-clockwise as the camera sees it. facerig's yaw and roll have those signs; its pitch is
positive up, so HeadPitch = -pitch. Eye rotations come from the eyeLook* weights (morphable.gaze);
on reading, the weights are what the tracks keep (the app's eye angles are a second estimate).
"""
from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import torch

from . import controls
from .animation import Tracks, params_to_values, tracks_from_frames
from .arkit import ARKIT_NAMES, expression_index
from .errors import MorphableError
from .fileio import atomic_output
from .gaze import eye_angles
from .params import FaceParams

if TYPE_CHECKING:
    from .fit.track import Track

#: the 52 blendshape columns, in the order Live Link Face writes them
LIVELINK_SHAPES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight",
    "JawForward", "JawRight", "JawLeft", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker",
    "MouthRight", "MouthLeft", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft",
    "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft",
    "MouthStretchRight", "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight",
    "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp",
    "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight",
    "NoseSneerLeft", "NoseSneerRight", "TongueOut")
#: the nine rotation columns (radians)
ROTATION_COLUMNS: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
HEADER: tuple[str, ...] = ("Timecode", "BlendShapeCount") + LIVELINK_SHAPES + ROTATION_COLUMNS
#: the BlendShapeCount every row carries: 52 blendshapes + 9 rotations
BLEND_SHAPE_COUNT = 61
#: decimals of every value (as the app writes them)
DECIMALS = 10
#: ARKit index of each blendshape column
SHAPE_INDEX: tuple[int, ...] = tuple(expression_index(n[0].lower() + n[1:]) for n in LIVELINK_SHAPES)
_TIMECODE = re.compile(r"^(\d{2,}):(\d{2}):(\d{2}):(\d{2,3})(?:\.(\d{1,3}))?$")
#: a clip rate this close (relative) to a whole number is labelled by frame count at it, as non-drop timecode does
_NOMINAL = 2e-3

assert sorted(SHAPE_INDEX) == list(range(len(ARKIT_NAMES)))
#: (low, high) of each ARKit weight, in ARKit order (morphable.controls)
_WEIGHT_BOUNDS = np.array([controls.limits(n) for n in ARKIT_NAMES])


def timecode_rate(fps: float) -> int:
    """The whole-number timecode rate of a clip at `fps`: the nearest whole number within 0.2% (29.97 -> 30,
    11.99 -> 12), else the next one up."""
    if not fps > 0:
        raise MorphableError(f"fps must be positive, got {fps}")
    near = round(fps)
    return int(near) if near >= 1 and abs(fps - near) <= _NOMINAL * fps else int(math.ceil(fps))


def timecode(frames: float, rate: int) -> str:
    """`HH:MM:SS:FF.mmm` of a frame count at a whole-number timecode rate (.mmm: thousandths of a frame)."""
    frames = max(0.0, float(frames))
    whole = int(math.floor(frames + 1e-6))
    sub = min(999, int(round((frames - whole) * 1000))) if frames - whole > 1e-6 else 0
    secs, ff = divmod(whole, rate)
    mins, ss = divmod(secs, 60)
    hh, mm = divmod(mins, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}.{sub:03d}"


def _numbers(table: np.ndarray) -> np.ndarray:
    """The app's fixed 10-decimal format of every value, never '-0.0000000000'."""
    return np.char.mod(f"%.{DECIMALS}f", np.round(table, DECIMALS) + 0.0)


def livelink_rows(times: Sequence[float] | np.ndarray, values: Mapping[str, np.ndarray],
                  fps: float) -> list[list[str]]:
    """Header and one row a frame: `values` holds ARKit weights and yaw/pitch/roll in degrees (absent = 0)."""
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    n = len(t)
    expr = np.zeros((n, len(ARKIT_NAMES)))
    for name, v in values.items():
        if name in ARKIT_NAMES:
            expr[:, expression_index(name)] = np.asarray(v, dtype=np.float64).reshape(n)
    # rounded as written, so eye angles re-read identically
    expr = np.round(np.clip(expr, _WEIGHT_BOUNDS[:, 0], _WEIGHT_BOUNDS[:, 1]), DECIMALS)
    pose = {k: np.asarray(values.get(k, np.zeros(n)), dtype=np.float64).reshape(n) for k in ("yaw", "pitch", "roll")}
    eyes = eye_angles(torch.from_numpy(expr)).numpy()   # (n, 2, 2): [left, right] x [yaw, pitch] degrees
    rot = np.radians(np.stack([pose["yaw"], -pose["pitch"], pose["roll"],
                               eyes[:, 0, 0], -eyes[:, 0, 1], np.zeros(n),
                               eyes[:, 1, 0], -eyes[:, 1, 1], np.zeros(n)], axis=1))
    rate = timecode_rate(fps)
    if abs(fps - rate) <= _NOMINAL * fps:   # frame k is labelled k at the nominal rate (29.97 counts at 30)
        frames = np.round((t - t[0]) * fps)
    else:                                   # an odd rate: the time at the next whole rate, with sub-frames
        frames = (t - t[0]) * rate
    text = _numbers(np.concatenate([expr[:, list(SHAPE_INDEX)], rot], axis=1)).tolist()
    return [list(HEADER)] + [[timecode(frames[i], rate), str(BLEND_SHAPE_COUNT)] + text[i] for i in range(n)]


def write_livelink(path: str | os.PathLike, times: Sequence[float] | np.ndarray,
                   values: Mapping[str, np.ndarray], fps: float) -> Path:
    """Write Live Link Face's CSV (atomically) from per-frame values (see livelink_rows)."""
    rows = livelink_rows(times, values, fps)
    path = Path(path)
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def tracks_to_livelink(tracks: Tracks, path: str | os.PathLike) -> Path:
    """Sample every frame of `tracks` and write it as Live Link Face's CSV."""
    return write_livelink(path, tracks.frame_times(), tracks.sample(), tracks.fps)


def track_to_livelink(track: "Track", path: str | os.PathLike) -> Path:
    """A tracked clip (morphable.fit.track.Track) as Live Link Face's CSV: every frame's expression and head
    rotation, gaze from its eyeLook* weights (translation, identity and light are not in the format)."""
    params = FaceParams.cat([f.params for f in track.frames])
    return write_livelink(path, [f.time for f in track.frames], params_to_values(params), track.fps)


# ---- reading -----------------------------------------------------------------------------------
@dataclass
class LiveLinkTake:
    """A Live Link Face CSV as read: times from the first row, ARKit weights, the nine rotations."""

    times: np.ndarray       # (T,) seconds from the first row
    weights: np.ndarray     # (T, 52) in ARKit order
    rotations: np.ndarray   # (T, 9) radians, ROTATION_COLUMNS order
    rate: int               # the timecode's frames per second
    fps: float              # the rows' frame rate
    start: str              # the first row's timecode

    def values(self) -> dict[str, np.ndarray]:
        """{ARKit name: (T,) weight, yaw/pitch/roll: (T,) degrees in facerig's conventions}."""
        out = {name: self.weights[:, j] for j, name in enumerate(ARKIT_NAMES)}
        deg = np.degrees(self.rotations[:, :3])
        out.update(yaw=deg[:, 0], pitch=-deg[:, 1] + 0.0, roll=deg[:, 2])
        return out


def _parse_timecode(text: str, where: str) -> tuple[int, float]:
    """(whole seconds, frame within the second incl. sub-frame) of one timecode."""
    m = _TIMECODE.match(text.strip())
    if m is None:
        raise MorphableError(f"{where}: timecode {text!r} is not HH:MM:SS:FF.mmm")
    hh, mm, ss, ff = (int(g) for g in m.groups()[:4])
    if mm > 59 or ss > 59:
        raise MorphableError(f"{where}: timecode {text!r} has minutes or seconds over 59")
    sub = int(m.group(5).ljust(3, "0")) / 1000 if m.group(5) else 0.0
    return hh * 3600 + mm * 60 + ss, ff + sub


def _infer_rate(secs: np.ndarray, frames: np.ndarray, source: str) -> int:
    """The timecode rate, from where the frame number wraps at a whole second."""
    step = np.diff(frames)[np.diff(secs) == 0]
    wraps = np.flatnonzero(np.diff(secs) == 1)
    if len(wraps) == 0 or len(step) == 0:
        raise MorphableError(f"{source}: the timecode never passes a whole second, so its frame rate is unknown; "
                             f"give it (--fps)")
    delta = float(np.median(step))
    return int(round(float(np.median(frames[wraps] + delta - frames[wraps + 1]))))


def _row_fps(times: np.ndarray, rate: int) -> float:
    """The rows' frame rate (median spacing), snapped to the timecode rate's whole fractions (60 -> 30 rows)."""
    if len(times) < 2:
        return float(rate)
    fps = 1.0 / float(np.median(np.diff(times)))
    for cand in [rate / k for k in (1, 2, 3, 4)]:
        if abs(fps - cand) < _NOMINAL * cand:
            return float(cand)
    return fps


def _header_columns(header: list[str], source: str) -> list[int]:
    """Column index of each HEADER name (matched without regard to case); MorphableError when one is missing."""
    names = [h.strip() for h in header]
    lower = [h.lower() for h in names]
    if lower[:2] != ["timecode", "blendshapecount"]:
        raise MorphableError(f"{source}: a Live Link Face CSV starts with the columns Timecode,BlendShapeCount "
                             f"(got {','.join(names[:2])})")
    if len(set(lower)) != len(lower):
        raise MorphableError(f"{source}: repeated column names")
    missing = [h for h in HEADER if h.lower() not in lower]
    if missing:
        raise MorphableError(f"{source}: missing column(s) {', '.join(missing)} (a Live Link Face CSV has "
                             f"Timecode, BlendShapeCount, 52 blendshapes and 9 rotations)")
    extra = [n for n in names if n.lower() not in {h.lower() for h in HEADER}]
    if extra:
        raise MorphableError(f"{source}: unknown column(s) {', '.join(extra)}")
    return [lower.index(h.lower()) for h in HEADER]


def read_livelink(path: str | os.PathLike, rate: int | None = None) -> LiveLinkTake:
    """Read and check a Live Link Face CSV; `rate`: the timecode's frame rate (default: from the timecode)."""
    path = Path(path)
    if not path.is_file():
        raise MorphableError(f"CSV file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MorphableError(f"{path}: not a readable CSV ({type(exc).__name__})") from None
    if len(rows) < 2:
        raise MorphableError(f"{path}: no frames (a header line and one row a frame expected)")
    cols = _header_columns(rows[0], str(path))
    n = len(rows) - 1
    secs, frames, table = np.empty(n, dtype=np.int64), np.empty(n), np.empty((n, len(HEADER) - 2))
    for i, row in enumerate(rows[1:]):
        where = f"{path}: row {i + 2}"
        if len(row) != len(rows[0]):
            raise MorphableError(f"{where} has {len(row)} fields, the header {len(rows[0])}")
        secs[i], frames[i] = _parse_timecode(row[cols[0]], where)
        count = row[cols[1]].strip()
        if count != str(BLEND_SHAPE_COUNT):
            raise MorphableError(f"{where}: BlendShapeCount is {count!r}, expected {BLEND_SHAPE_COUNT} "
                                 f"(52 blendshapes + 9 rotations)")
        for k, c in enumerate(cols[2:]):
            try:
                table[i, k] = float(row[c])
            except ValueError:
                raise MorphableError(f"{where} column {HEADER[k + 2]}: {row[c]!r} is not a number") from None
    if not np.isfinite(table).all():
        i, k = np.argwhere(~np.isfinite(table))[0]
        raise MorphableError(f"{path}: row {i + 2} column {HEADER[k + 2]}: non-finite value")
    for k, name in enumerate(HEADER[2:]):
        lo, hi = _WEIGHT_BOUNDS[SHAPE_INDEX[k]] if k < len(LIVELINK_SHAPES) else (-math.pi, math.pi)
        bad = np.flatnonzero((table[:, k] < lo) | (table[:, k] > hi))
        if len(bad):
            unit = "weights" if k < len(LIVELINK_SHAPES) else "rotations are radians"
            raise MorphableError(f"{path}: row {bad[0] + 2} column {name}: {table[bad[0], k]:g} is outside "
                                 f"[{lo:g}, {hi:g}] (Live Link Face {unit})")
    back = np.flatnonzero((np.diff(secs) < 0) | ((np.diff(secs) == 0) & (np.diff(frames) <= 0)))
    if len(back):
        raise MorphableError(f"{path}: row {back[0] + 3}: the timecode does not increase")
    if rate is None:
        rate = _infer_rate(secs, frames, str(path))
    if not rate >= 1 or frames.max() >= rate:
        raise MorphableError(f"{path}: frame number {frames.max():g} does not fit a timecode rate of {rate}")
    times = (secs - secs[0]) + (frames - frames[0]) / rate
    if n > 1 and not (np.diff(times) > 0).all():
        i = int(np.argmax(np.diff(times) <= 0))
        raise MorphableError(f"{path}: row {i + 3}: the timecode does not increase")
    fps = _row_fps(times, rate)
    uniform = np.arange(n) / fps
    if np.abs(times - uniform).max() < 0.1 / fps:   # the app's clock jitters by thousandths of a frame: frames k / fps
        times = uniform
    weights = np.empty((n, len(ARKIT_NAMES)))
    weights[:, list(SHAPE_INDEX)] = table[:, :len(LIVELINK_SHAPES)]
    return LiveLinkTake(times, weights, table[:, len(LIVELINK_SHAPES):], int(rate), fps, rows[1][cols[0]].strip())


def tracks_from_livelink(path: str | os.PathLike, rate: int | None = None, interpolation: str = "linear") -> Tracks:
    """Tracks (52 ARKit channels, yaw/pitch/roll in degrees, one key a row) of a Live Link Face CSV."""
    take = read_livelink(path, rate)
    values = take.values()
    for column, name in zip(ROTATION_COLUMNS, ("yaw", "pitch", "roll")):
        lo, hi = controls.limits(name)
        bad = np.flatnonzero((values[name] < lo) | (values[name] > hi))
        if len(bad):
            raise MorphableError(f"{path}: row {bad[0] + 2} column {column}: {values[name][bad[0]]:.1f} deg is outside "
                                 f"facerig's head {name} range [{lo:g}, {hi:g}]")
    return tracks_from_frames(take.times, values, take.fps, interpolation)


def is_livelink_csv(path: str | os.PathLike) -> bool:
    """True when the file's first line starts with Live Link Face's `Timecode,BlendShapeCount`."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return first.replace(" ", "").lower().startswith("timecode,blendshapecount")
