"""Gaze from MediaPipe's iris points: each eye's yaw and pitch in degrees, relative to the clip's neutral.

The iris centre turns on a sphere about the eyeball's centre. In the head's own frame (the mesh
aligned to the clip's neutral face, so head rotation and translation are taken out) its shift
from where it sits in the calm frames is r * sin(angle), with r the distance from the eye's centre
of rotation to the iris, EYE_RADIUS eye widths (corner to corner). The calm frames look at the
camera on average, so their gaze is 0. While an eye is more than a third closed its iris is hidden
and the other eye's angles are used (or, with both closed, the last frame's).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mesh_expression import EYE_CONTOURS, similarity_align

#: distance from the eye's centre of rotation to the iris centre, in eye widths: about 10.5 mm over
#: the 28-30 mm between the eye corners of an adult (anatomy textbooks' averages)
EYE_RADIUS = 0.37
#: an eye whose blink weight is above this has no usable iris (a half-closed lid pushes MediaPipe's iris)
CLOSED = 0.3


def iris_centres(iris: np.ndarray, iris_z: np.ndarray | None, mesh3d: np.ndarray) -> np.ndarray:
    """(T,2,3) iris centres with depth (MediaPipe's iris z, else the mean depth of the eye's lids)."""
    xy = np.asarray(iris, np.float64)[:, :, 0, :]
    if iris_z is not None:
        z = np.asarray(iris_z, np.float64)[:, :, 0]
    else:
        z = np.stack([mesh3d[:, list(c + u + lo), 2].mean(1) for c, u, lo in EYE_CONTOURS], 1)
    return np.concatenate([xy, z[..., None]], -1)


def gaze_angles(meshes: np.ndarray, iris: np.ndarray, neutral: np.ndarray, calm: np.ndarray, rigid: np.ndarray,
                blink: np.ndarray | None = None, iris_z: np.ndarray | None = None,
                radius: float = EYE_RADIUS) -> np.ndarray:
    """(T,2,2) [left, right] x [yaw, pitch] degrees (yaw > 0 toward image right, pitch > 0 up).

    meshes (T,468,3) px, iris (T,2,5,2) px (Detection.iris), neutral (468,3) the clip's neutral mesh,
    calm the neutral frames' indices, rigid the rows that align meshes, blink (T,2) the eyes' blink weights,
    radius the iris's distance from the eye's centre of rotation in eye widths.
    """
    eyes = _aligned_eyes(meshes, iris, iris_z, neutral, rigid)      # (T,2,3) in the neutral head frame
    out = _angles(eyes, eyes[np.asarray(calm)].mean(0), eye_widths(neutral), radius)
    if blink is not None:
        out = _fill_closed(out, np.asarray(blink) > CLOSED)
    return out


@dataclass(frozen=True)
class GazeRest:
    """What reading one frame's gaze needs from the calm frames, computed once (a live tracker's settle)."""

    neutral: np.ndarray   # (468,3) the neutral mesh the frames are aligned to
    rigid: np.ndarray     # rows that align meshes
    rest: np.ndarray      # (2,3) the calm frames' mean iris centres in the neutral head frame
    widths: np.ndarray    # (2,) the neutral's eye widths


def gaze_rest(calm_meshes: np.ndarray, calm_iris: np.ndarray, neutral: np.ndarray, rigid: np.ndarray,
              calm_iris_z: np.ndarray | None = None) -> GazeRest:
    """The calm frames' iris rest and the neutral's eye widths, for frame_gaze (as gaze_angles finds them)."""
    eyes = _aligned_eyes(calm_meshes, calm_iris, calm_iris_z, neutral, rigid)
    return GazeRest(neutral, rigid, eyes.mean(0), eye_widths(neutral))


def frame_gaze(rest: GazeRest, mesh: np.ndarray, iris: np.ndarray, iris_z: np.ndarray | None = None,
               radius: float = EYE_RADIUS) -> np.ndarray:
    """(2,2) gaze_angles of one frame's mesh (468,3) and iris (2,5,2) (iris_z (2,5)) against a settled GazeRest."""
    eyes = _aligned_eyes(mesh[None], iris[None], None if iris_z is None else iris_z[None], rest.neutral, rest.rigid)
    return _angles(eyes, rest.rest, rest.widths, radius)[0]


def eye_widths(neutral: np.ndarray) -> np.ndarray:
    """(2,) each eye's corner-to-corner width on the neutral mesh (x, y)."""
    return np.array([np.linalg.norm(neutral[c[0], :2] - neutral[c[1], :2]) for c, _, _ in EYE_CONTOURS])


def _aligned_eyes(meshes: np.ndarray, iris: np.ndarray, iris_z: np.ndarray | None, neutral: np.ndarray,
                  rigid: np.ndarray) -> np.ndarray:
    """(T,2,3) iris centres moved into the neutral's head frame with their meshes."""
    m = np.asarray(meshes, np.float64)
    centres = iris_centres(iris, iris_z, m)                          # (T,2,3)
    return similarity_align(np.concatenate([m, centres], 1), neutral, rigid)[:, -2:]


def _angles(eyes: np.ndarray, rest: np.ndarray, widths: np.ndarray, radius: float) -> np.ndarray:
    """(T,2,2) yaw, pitch of the iris centres' shifts from rest (2,3), in radius x eye width units."""
    out = np.zeros((len(eyes), 2, 2))
    for e in range(2):
        shift = (eyes[:, e, :2] - rest[e, :2]) / (radius * widths[e])
        out[:, e, 0] = np.degrees(np.arcsin(np.clip(shift[:, 0], -1.0, 1.0)))
        out[:, e, 1] = np.degrees(np.arcsin(np.clip(-shift[:, 1], -1.0, 1.0)))
    return out


def _fill_closed(angles: np.ndarray, closed: np.ndarray) -> np.ndarray:
    """Closed eyes take the open eye's angles, or the last frame's when both are closed."""
    out = angles.copy()
    for t in range(len(out)):
        for e in range(2):
            if closed[t, e]:
                if not closed[t, 1 - e]:
                    out[t, e] = angles[t, 1 - e]
                else:
                    out[t, e] = out[t - 1, e] if t > 0 else 0.0
    return out
