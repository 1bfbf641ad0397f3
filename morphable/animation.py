"""Keyframed animation tracks of FaceParams channels (expression, pose, light), their file formats.

A track file (JSON or YAML) names channels and keys:
    {"fps": 25, "duration": 2.0, "interpolation": "linear",
     "tracks": [{"block": "expression", "name": "jawOpen", "keys": [[0, 0], [0.5, 1]]},
                {"block": "pose", "name": "yaw", "keys": [[0, -20], [2, 20]], "interpolation": "smooth"},
                {"block": "light", "preset": [[0, "left"], [2, "right"]]}]}
"linear" interpolates piecewise linearly; "smooth" is a monotone cubic (scipy's
PchipInterpolator: C1, never overshoots the keys, so values stay in range). Before the first
and after the last key a channel holds its end value. Sampled frames can be written to and read
from CSV (`time,yaw,...,jawOpen,...`), and tracked/fitted FaceParams sequences (e.g. the JSONL of
`facerig track`) convert into tracks so a captured performance replays on any face.
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import yaml
from scipy.interpolate import PchipInterpolator

from . import controls, lighting
from .arkit import ARKIT_NAMES, expression_index
from .errors import MorphableError
from .fileio import atomic_output
from .params import POSE_NAMES, FaceParams
from .suggest import did_you_mean

INTERPOLATIONS: tuple[str, ...] = ("linear", "smooth")
BLOCKS: tuple[str, ...] = ("expression", "pose", "light")
# every channel's allowed range (degrees, metres, weights) comes from morphable.controls
LIGHT_CHANNEL = "light"
#: CSV column names of the 27 SH light coefficients, light[k, c] -> light_<k>_<r|g|b>
LIGHT_COLUMNS: tuple[str, ...] = tuple(f"light_{k}_{c}" for k in range(9) for c in "rgb")
_TOP_KEYS = {"fps", "duration", "interpolation", "tracks"}
_TRACK_KEYS = {"block", "name", "keys", "preset", "interpolation"}


@dataclass(frozen=True)
class Channel:
    """One animated channel: key times (K,) strictly increasing and values (K,) or (K, 27) for light."""

    block: str
    name: str
    times: np.ndarray
    values: np.ndarray
    interpolation: str = "linear"

    def sample(self, times: np.ndarray) -> np.ndarray:
        """Values at `times` (T,) -> (T,) or (T, 27); held constant outside the keys."""
        t = np.clip(np.asarray(times, dtype=np.float64), self.times[0], self.times[-1])
        if len(self.times) == 1:
            return np.repeat(self.values[:1], len(t), axis=0)
        if self.interpolation == "smooth":
            return PchipInterpolator(self.times, self.values, axis=0)(t)
        if self.values.ndim == 1:
            return np.interp(t, self.times, self.values)
        return np.stack([np.interp(t, self.times, col) for col in self.values.T], axis=1)


@dataclass
class Tracks:
    """A set of channels with a frame rate and a duration (seconds)."""

    fps: float
    channels: list[Channel]
    duration: float

    @property
    def num_frames(self) -> int:
        return int(math.floor(self.duration * self.fps + 1e-9)) + 1

    def frame_times(self) -> np.ndarray:
        """Frame times 0, 1/fps, ... up to the duration, (T,)."""
        return np.arange(self.num_frames, dtype=np.float64) / self.fps

    def channel(self, name: str) -> Channel:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise MorphableError(f"no channel {name!r}; the tracks have {', '.join(c.name for c in self.channels)}")

    def sample(self, times: Sequence[float] | np.ndarray | None = None,
               base: FaceParams | None = None) -> dict[str, np.ndarray] | FaceParams:
        """Per-frame values at `times` (default: every frame).

        Without `base`: {channel name: (T,) array; "light": (T, 9, 3)}. With `base` (batch 1 or
        T): a FaceParams of batch T, the animated channels replacing base's values.
        """
        t = self.frame_times() if times is None else np.asarray(times, dtype=np.float64).reshape(-1)
        values = {ch.name: ch.sample(t) for ch in self.channels}
        if LIGHT_CHANNEL in values:
            values[LIGHT_CHANNEL] = values[LIGHT_CHANNEL].reshape(-1, 9, 3)
        return values if base is None else apply_values(base, values)

    def to_dict(self) -> dict:
        """JSON/YAML-ready dict in the track file format (light as raw coefficient keys)."""
        tracks = []
        for ch in self.channels:
            keys = [[float(t), v.tolist() if ch.values.ndim > 1 else float(v)]
                    for t, v in zip(ch.times, ch.values)]
            entry: dict[str, Any] = {"block": ch.block}
            if ch.block != "light":
                entry["name"] = ch.name
            entry.update(keys=keys, interpolation=ch.interpolation)
            tracks.append(entry)
        return {"fps": self.fps, "duration": self.duration, "tracks": tracks}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the track file (.json, or .yaml/.yml) atomically."""
        path = Path(path)
        data = self.to_dict()
        text = yaml.safe_dump(data, sort_keys=False) if _is_yaml(path) else json.dumps(data)
        with atomic_output(path) as tmp:
            tmp.write_text(text)
        return path

    def to_csv(self, path: str | os.PathLike, times: Sequence[float] | np.ndarray | None = None) -> Path:
        """Sample every frame (or `times`) and write the CSV (see write_csv)."""
        t = self.frame_times() if times is None else np.asarray(times, dtype=np.float64)
        return write_csv(path, t, self.sample(t))


# ---- applying sampled values -------------------------------------------------------------------
def apply_values(base: FaceParams, values: Mapping[str, np.ndarray]) -> FaceParams:
    """FaceParams of batch T: `base` (batch 1 or T) with the named channels' per-frame values."""
    lengths = {len(np.asarray(v)) for v in values.values()}
    if len(lengths) > 1:
        raise MorphableError(f"per-frame channels have different lengths: {sorted(lengths)}")
    t = lengths.pop() if lengths else base.batch_size
    if base.batch_size not in (1, t):
        raise MorphableError(f"base FaceParams must have batch 1 or {t}, got {base.batch_size}")
    out = base.map(lambda x: x.expand(t, *x.shape[1:]).clone())
    dev, dt = out.expression.device, out.expression.dtype
    for name, v in values.items():
        col = torch.as_tensor(np.asarray(v, dtype=np.float64), device=dev, dtype=dt)
        if name == LIGHT_CHANNEL:
            out.light[:] = col.reshape(t, 9, 3)
        elif name in POSE_NAMES:
            out.pose[:, POSE_NAMES.index(name)] = col
        else:
            out.expression[:, _expression_index(name, "channel")] = col
    return out


# ---- parsing and validation --------------------------------------------------------------------
def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def _num(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise MorphableError(f"{what} must be a finite number, got {x!r}")
    return float(x)


def _expression_index(name: str, where: str) -> int:
    try:
        return expression_index(name)
    except ValueError as exc:
        raise MorphableError(f"{where}: {exc}") from None


def _pose_name(name: str, where: str) -> str:
    if name not in POSE_NAMES:
        hint = did_you_mean(name, POSE_NAMES, n=2)
        raise MorphableError(f"{where}: unknown pose channel {name!r}{hint} (choose {', '.join(POSE_NAMES)})")
    return name


def _check_range(value: float, lo: float, hi: float, where: str) -> None:
    if not lo <= value <= hi:
        raise MorphableError(f"{where}: value {value:g} out of range [{lo:g}, {hi:g}]")


def _key_times(keys: Any, where: str) -> list[float]:
    if not isinstance(keys, list) or not keys:
        raise MorphableError(f"{where}: keys must be a non-empty list of [time, value] pairs")
    times = []
    for i, key in enumerate(keys):
        if not isinstance(key, (list, tuple)) or len(key) != 2:
            raise MorphableError(f"{where}: key {i} must be a [time, value] pair, got {key!r}")
        t = _num(key[0], f"{where}: key {i} time")
        if t < 0:
            raise MorphableError(f"{where}: key {i} time {t:g} is negative")
        if times and t <= times[-1]:
            raise MorphableError(f"{where}: key times must be strictly increasing "
                                 f"(key {i} at {t:g} s follows {times[-1]:g} s)")
        times.append(t)
    return times


def _light_value(v: Any, where: str) -> np.ndarray:
    if isinstance(v, str):
        _check_preset(v, where)
        return lighting.preset(v).reshape(27).double().numpy()
    arr = np.asarray(v, dtype=object).reshape(-1)
    if arr.size != 27:
        raise MorphableError(f"{where}: a light key needs a preset name or 27 SH coefficients (9x3), "
                             f"got {arr.size} values")
    return np.array([_num(x, where) for x in arr], dtype=np.float64)


def _check_preset(name: str, where: str) -> None:
    if name not in lighting.LIGHT_PRESETS:
        hint = did_you_mean(name, lighting.LIGHT_PRESETS, n=2)
        raise MorphableError(f"{where}: unknown light preset {name!r}{hint} "
                             f"(choose {', '.join(lighting.LIGHT_PRESETS)})")


def _check_fields(mapping: Mapping, allowed: set[str], where: str) -> None:
    """Refuse keys a track file does not define (typos would otherwise be ignored silently)."""
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise MorphableError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: {', '.join(sorted(allowed))}")


def _interpolation(interp: Any, where: str) -> str:
    """The interpolation name, checked against INTERPOLATIONS."""
    if interp not in INTERPOLATIONS:
        raise MorphableError(f"{where}: interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interp!r}")
    return interp


def _parse_track(entry: Any, i: int, default_interp: str, source: str) -> Channel:
    where = f"{source}: track {i}"
    if not isinstance(entry, Mapping):
        raise MorphableError(f"{where} must be a mapping with 'block' and 'keys'")
    _check_fields(entry, _TRACK_KEYS, where)
    block = entry.get("block")
    if block not in BLOCKS:
        hint = did_you_mean(block, BLOCKS, n=1)
        raise MorphableError(f"{where}: bad block {block!r}{hint} (choose {', '.join(BLOCKS)})")
    interp = _interpolation(entry.get("interpolation", default_interp), where)
    if block == "light":
        if ("preset" in entry) == ("keys" in entry):
            raise MorphableError(f"{where}: a light track needs exactly one of 'preset' or 'keys'")
        keys = entry.get("preset", entry.get("keys"))
        where = f"{where} (light)"
        times = _key_times(keys, where)
        values = np.stack([_light_value(k[1], f"{where}: key {j}") for j, k in enumerate(keys)])
        return Channel("light", LIGHT_CHANNEL, np.array(times), values, interp)
    if "preset" in entry:
        raise MorphableError(f"{where}: 'preset' is for light tracks only")
    name = entry.get("name")
    if not isinstance(name, str):
        raise MorphableError(f"{where}: a {block} track needs a 'name'")
    if block == "expression":
        _expression_index(name, where)
    else:
        _pose_name(name, where)
    lo, hi = controls.limits(name)
    where = f"{where} ({block} {name})"
    keys = entry.get("keys")
    times = _key_times(keys, where)
    values = []
    for j, key in enumerate(keys):
        v = _num(key[1], f"{where}: key {j} value")
        _check_range(v, lo, hi, f"{where}: key {j}")
        values.append(v)
    return Channel(block, name, np.array(times), np.array(values), interp)


def parse_tracks(data: Any, source: str = "tracks") -> Tracks:
    """Validate a track-file dict (see module docstring) into Tracks; bad input -> MorphableError."""
    if not isinstance(data, Mapping):
        raise MorphableError(f"{source}: a track file must be a mapping with 'fps' and 'tracks'")
    _check_fields(data, _TOP_KEYS, source)
    fps = _num(data.get("fps", 25), f"{source}: fps")
    if fps <= 0:
        raise MorphableError(f"{source}: fps must be positive, got {fps:g}")
    interp = _interpolation(data.get("interpolation", "linear"), source)
    entries = data.get("tracks")
    if not isinstance(entries, list) or not entries:
        raise MorphableError(f"{source}: 'tracks' must be a non-empty list")
    channels: list[Channel] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        ch = _parse_track(entry, i, interp, source)
        if ch.name in seen:
            raise MorphableError(f"{source}: track {i} animates {ch.name!r} again (already track {seen[ch.name]})")
        seen[ch.name] = i
        channels.append(ch)
    last = max(float(ch.times[-1]) for ch in channels)
    duration = last if data.get("duration") is None else _num(data["duration"], f"{source}: duration")
    if duration < 0:
        raise MorphableError(f"{source}: duration must be >= 0, got {duration:g}")
    return Tracks(fps, channels, duration)


def load_tracks(path: str | os.PathLike) -> Tracks:
    """Read and validate a JSON or YAML track file."""
    path = Path(path)
    if not path.is_file():
        raise MorphableError(f"track file not found: {path}")
    try:
        text = path.read_text()
        data = yaml.safe_load(text) if _is_yaml(path) else json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "YAML" if _is_yaml(path) else "JSON"
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MorphableError(f"{path}: not valid {kind} ({msg})") from None
    return parse_tracks(data, str(path))


# ---- per-frame values: CSV and conversion ------------------------------------------------------
def _column_order(names) -> list[str]:
    names = set(names)
    order = [n for n in POSE_NAMES if n in names] + [n for n in ARKIT_NAMES if n in names]
    return order + ([LIGHT_CHANNEL] if LIGHT_CHANNEL in names else [])


def write_csv(path: str | os.PathLike, times: Sequence[float] | np.ndarray,
              values: Mapping[str, np.ndarray]) -> Path:
    """Per-frame CSV: header `time,<pose...>,<ARKit...>[,light_0_r..light_8_b]`, one row a frame."""
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    for name in values:
        if name != LIGHT_CHANNEL and name not in POSE_NAMES:
            _expression_index(name, "write_csv")
    cols, header = [t[:, None]], ["time"]
    for name in _column_order(values):
        v = np.asarray(values[name], dtype=np.float64).reshape(len(t), -1)
        cols.append(v)
        header += list(LIGHT_COLUMNS) if name == LIGHT_CHANNEL else [name]
    table = np.concatenate(cols, axis=1)
    path = Path(path)
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows([[repr(float(x)) for x in row] for row in table])
    return path


def read_csv(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Inverse of write_csv: (times (T,), {channel: (T,) or light (T, 9, 3)}), validated."""
    path = Path(path)
    if not path.is_file():
        raise MorphableError(f"CSV file not found: {path}")
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    if not rows or rows[0][0].strip() != "time":
        raise MorphableError(f"{path}: the first CSV column must be 'time'")
    header = [h.strip() for h in rows[0]]
    for name in header[1:]:
        if name not in LIGHT_COLUMNS and name not in POSE_NAMES:
            _expression_index(name, f"{path}: column")
    if len(set(header)) != len(header):
        raise MorphableError(f"{path}: repeated column names")
    light_cols = [h for h in header if h in LIGHT_COLUMNS]
    if light_cols and light_cols != list(LIGHT_COLUMNS):
        raise MorphableError(f"{path}: light needs all 27 columns {LIGHT_COLUMNS[0]}..{LIGHT_COLUMNS[-1]} in order")
    table = np.empty((len(rows) - 1, len(header)))
    for i, row in enumerate(rows[1:]):
        if len(row) != len(header):
            raise MorphableError(f"{path}: row {i + 2} has {len(row)} fields, the header {len(header)}")
        try:
            table[i] = [float(x) for x in row]
        except ValueError:
            raise MorphableError(f"{path}: row {i + 2} has a non-numeric value") from None
    if not np.isfinite(table).all():
        raise MorphableError(f"{path}: non-finite value in the table")
    times = table[:, 0]
    if len(times) > 1 and not (np.diff(times) > 0).all():
        raise MorphableError(f"{path}: times must be strictly increasing")
    values: dict[str, np.ndarray] = {}
    for j, name in enumerate(header[1:], start=1):
        if name in LIGHT_COLUMNS:
            continue
        lo, hi = controls.limits(name)
        bad = (table[:, j] < lo) | (table[:, j] > hi)
        if bad.any():
            i = int(np.argmax(bad))
            _check_range(float(table[i, j]), lo, hi, f"{path}: row {i + 2} column {name}")
        values[name] = table[:, j]
    if light_cols:
        k = header.index(LIGHT_COLUMNS[0])
        values[LIGHT_CHANNEL] = table[:, k:k + 27].reshape(-1, 9, 3)
    return times, values


def tracks_from_frames(times: Sequence[float] | np.ndarray, values: Mapping[str, np.ndarray],
                       fps: float, interpolation: str = "linear") -> Tracks:
    """Tracks with one key per frame per channel (e.g. from read_csv or a tracked clip)."""
    t = [float(x) for x in np.asarray(times, dtype=np.float64).reshape(-1)]
    tracks = []
    for name in _column_order(values):
        v = np.asarray(values[name], dtype=np.float64)
        if name == LIGHT_CHANNEL:
            tracks.append({"block": "light", "keys": [[ti, row.reshape(27).tolist()] for ti, row in zip(t, v)]})
        else:
            block = "pose" if name in POSE_NAMES else "expression"
            tracks.append({"block": block, "name": name, "keys": [[ti, float(x)] for ti, x in zip(t, v)]})
    if not tracks:
        raise MorphableError("no channels to convert into tracks")
    return parse_tracks({"fps": fps, "interpolation": interpolation, "tracks": tracks}, "frames")


def params_to_values(params: FaceParams, blocks: Sequence[str] = ("expression", "pose"),
                     expression_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Per-frame channel values of a FaceParams sequence (batch T), for the chosen blocks."""
    out: dict[str, np.ndarray] = {}
    for block in blocks:
        if block not in BLOCKS:
            raise MorphableError(f"bad block {block!r} (choose {', '.join(BLOCKS)})")
    if "pose" in blocks:
        pose = params.pose.detach().cpu().double().numpy()
        out.update({n: pose[:, i] for i, n in enumerate(POSE_NAMES)})
    if "expression" in blocks:
        expr = params.expression.detach().cpu().double().numpy()
        for n in expression_names if expression_names is not None else ARKIT_NAMES:
            out[n] = expr[:, _expression_index(n, "expression_names")]
    if "light" in blocks:
        out[LIGHT_CHANNEL] = params.light.detach().cpu().double().numpy()
    return out


def tracks_from_params(params: FaceParams, fps: float, times: Sequence[float] | np.ndarray | None = None,
                       blocks: Sequence[str] = ("expression", "pose"), translation: str = "relative",
                       interpolation: str = "linear") -> Tracks:
    """Tracks replaying a per-frame FaceParams sequence (batch T) on any face.

    translation: "absolute" keeps tx/ty/tz, "relative" subtracts the first frame's (the motion
    starts where the target face is), "none" drops them (pose is rotation only).
    """
    if translation not in ("absolute", "relative", "none"):
        raise MorphableError(f"translation must be absolute, relative or none, got {translation!r}")
    if not fps > 0:
        raise MorphableError(f"fps must be positive, got {fps}")
    t = np.arange(params.batch_size) / fps if times is None else np.asarray(times, dtype=np.float64)
    values = params_to_values(params, blocks)
    for n in ("tx", "ty", "tz"):
        if n in values:
            if translation == "none":
                del values[n]
            elif translation == "relative":
                values[n] = values[n] - values[n][0]
    # fitted values can sit outside morphable.controls' ranges (weights a hair outside [0, 1] after smoothing,
    # a tracked head pitched or rolled past 60 deg): clamp to them, so the tracks load anywhere
    for n in (*ARKIT_NAMES, *POSE_NAMES):
        if n in values:
            values[n] = np.clip(values[n], *controls.limits(n))
    return tracks_from_frames(t, values, fps, interpolation)


def tracks_from_jsonl(path: str | os.PathLike, blocks: Sequence[str] = ("expression", "pose"),
                      translation: str = "relative", interpolation: str = "linear") -> Tracks:
    """Tracks from a `facerig track` JSONL (header line, then one line per frame)."""
    path = Path(path)
    if not path.is_file():
        raise MorphableError(f"track file not found: {path}")
    header, frames = None, []
    with open(path) as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise MorphableError(f"{path}: line {n} is not JSON") from None
            kind = rec.get("type") if isinstance(rec, dict) else None
            if kind == "header":
                header = rec
            elif kind == "frame" and isinstance(rec.get("params"), dict):
                frames.append(rec)
            else:
                raise MorphableError(f"{path}: line {n} is neither a header nor a frame record")
    if header is None or not frames:
        raise MorphableError(f"{path}: not a `facerig track` JSONL (needs a header line and frames)")
    fps = _num(header.get("fps"), f"{path}: header fps")
    params = FaceParams.cat([FaceParams.from_dict(f["params"]) for f in frames])
    times = np.array([_num(f.get("time", i / fps), f"{path}: frame {i} time") for i, f in enumerate(frames)])
    grid = np.arange(len(times)) / fps
    if np.abs(times - grid).max() < 1e-5:   # the JSONL rounds times to 6 decimals: back onto frames k / fps
        times = grid
    return tracks_from_params(params, fps, times, blocks, translation, interpolation)
