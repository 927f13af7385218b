"""Slider shapes for a remapped osu!standard map: each slider's control points scaled about its head so the drawn
path is exactly the slider's required length (the length the .osu stores, from slider velocity and beat length),
turned about the head by the smallest angle that keeps it inside the 512x384 playfield, squashed only when it
fits in no rotation. Hand-written geometry, plain numpy: no model.
"""

from __future__ import annotations

import numpy as np

from beatforge.charts.slider_path import path_length, polyline
from beatforge.charts.standard_sequence import CURVE, CURVE_NAMES, KIND, LENGTH, SLIDES, X, Y
from beatforge.constants import PLAYFIELD

# Turns tried, smallest first, when a point or a slider would leave the playfield: 0, +-15, +-30, ... 180 degrees
TURNS = np.deg2rad(np.array([0] + [a * sgn for a in range(15, 181, 15) for sgn in (1, -1)][:-1]))


def slider_end(kinds: np.ndarray, h: int) -> int:
    """Index after the anchors of the slider whose head is row ``h``."""
    j = h + 1
    while j < len(kinds) and 6 <= kinds[j] <= 10:
        j += 1
    return j


def fit_slider(row: np.ndarray, head: np.ndarray, anchors: np.ndarray, reps: np.ndarray,
               ref_anchors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """One slider's control points (head first) scaled about ``head`` to the required length the head ``row``
    stores and turned to fit the playfield, plus where its path ends; None for a slider without a length.

    A shape that fits in no rotation (a very long slider the network drew too straight) is replaced by the
    reference map's own shape for this slider (``ref_anchors``, relative to its head), which fits the field by
    construction: turned to fit, or else shifted whole. Clipping points instead would shorten the path."""
    curve = CURVE_NAMES.get(int(row[CURVE]), "B")
    want = float(row[LENGTH])
    if want <= 0:
        return None
    shapes = [anchors - head] + ([ref_anchors] if ref_anchors is not None else [])
    for off in shapes:
        pts = np.vstack([head, head + off])
        path = polyline(curve, np.repeat(pts, reps, axis=0))
        natural = path_length(path)
        if natural < 1e-6:  # all anchors on the head: lay the slider out straight, to the right
            pts[1:] = head + np.array([[want, 0.0]]) * np.linspace(1 / len(off), 1, len(off))[:, None]
            path, natural = pts, want
        scaled = np.vstack([pts[1:] - head, path[-1:] - head]) * (want / natural)
        placed = _place(head, scaled, shift=False)
        if placed is not None:
            return placed[:-1], placed[-1]
    return _squeeze(head, shapes[-1], curve, reps, want)


def _squeeze(head: np.ndarray, off: np.ndarray, curve: str, reps: np.ndarray, want: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """Last resort for a slider whose shape is larger than the playfield in some direction (its control points
    may even leave the field in the reference map): squash the overflowing axis, rescale to the required length,
    repeat with a stronger squash until the bounding box fits, then shift it inside. The path keeps its exact
    length; only as a last step are points clipped."""
    field = np.array(PLAYFIELD)
    for k in np.linspace(1.0, 0.2, 17):
        pts = np.vstack([head, head + off])
        ext = np.ptp(pts, axis=0)
        squash = np.where(ext > field, k, 1.0)
        pts = head + (pts - head) * squash
        path = polyline(curve, np.repeat(pts, reps, axis=0))
        natural = path_length(path)
        if natural < 1e-6:
            break
        allp = head + np.vstack([pts - head, path[-1:] - head]) * (want / natural)
        if (np.ptp(allp, axis=0) <= field).all():
            shift = np.maximum(-allp.min(axis=0), 0) - np.maximum(allp.max(axis=0) - field, 0)
            allp = allp + shift
            return allp[:-1], allp[-1]
    allp = np.clip(np.vstack([head, head + off, head + off[-1:]]), 0, field)
    return allp[:-1], allp[-1]


def _place(head: np.ndarray, off: np.ndarray, shift: bool = True) -> np.ndarray | None:
    """The slider's points (head first) inside the playfield: its shape turned about the head by the smallest
    angle that fits (lengths and curvature are kept); if none fits, the whole slider shifted inside (``shift``)
    or None."""
    c, s = np.cos(TURNS), np.sin(TURNS)
    rot = np.stack([c[:, None] * off[:, 0] - s[:, None] * off[:, 1],
                    s[:, None] * off[:, 0] + c[:, None] * off[:, 1]], axis=-1)  # (A, m, 2)
    pts = head + rot
    inside = ((pts >= 0) & (pts <= np.array(PLAYFIELD))).all(axis=(1, 2))
    if inside.any():
        return np.vstack([head, pts[int(np.argmax(inside))]])
    if not shift:
        return None
    allp = np.vstack([head, head + off])
    shift = np.maximum(-allp.min(axis=0), 0) - np.maximum(allp.max(axis=0) - np.array(PLAYFIELD), 0)
    return np.clip(allp + shift, 0, PLAYFIELD)


def fit_sliders(seq: np.ndarray) -> np.ndarray:
    """Each slider's anchors (rows of a :mod:`~beatforge.charts.standard_sequence` sequence) scaled about its head
    to its required length, turned where they leave the field.

    A loop over sliders (each needs its own curve evaluation: Bezier / perfect circle / Catmull / linear); a
    1000-object map takes milliseconds."""
    out = seq.copy()
    kinds = out[:, KIND].astype(int)
    for h in np.flatnonzero(np.isin(kinds, (4, 5))):
        j = slider_end(kinds, h)
        if j == h + 1:
            continue
        reps = np.r_[1, np.maximum(out[h + 1:j, SLIDES].astype(int), 1)]  # a doubled point is a red anchor
        fit = fit_slider(out[h], out[h, [X, Y]], out[h + 1:j, [X, Y]], reps)
        if fit is not None:
            out[h:j, X], out[h:j, Y] = fit[0][:, 0], fit[0][:, 1]
    return out


__all__ = ["TURNS", "fit_slider", "fit_sliders", "slider_end"]
