"""osu!standard slider paths: control points + curve type + pixel length -> a polyline.

Written here rather than taken from ``slider`` because its Catmull curve crashes on evaluation
(``slider`` 0.8.4, ``Curve.from_kind_and_points('C', ...)(1.0)`` raises TypeError) and it evaluates one
point per Python call; this module builds the whole polyline with numpy (Bernstein matrices for Bezier
segments), which is what the dataset builder and the remapper need.

Rules follow osu!: a Bezier path splits into segments at repeated ("red") control points; a perfect
circle ("P") needs exactly 3 non-collinear points, else it is drawn as a Bezier; the path is cut at the
slider's pixel length, or its last segment extended in a straight line when the length is longer.
"""

from __future__ import annotations

from math import comb

import numpy as np

_SAMPLES_PER_SEGMENT = 50


def _bernstein(n_points: int, samples: int) -> np.ndarray:
    """(samples, n_points) Bernstein basis of degree n_points-1 at evenly spaced t in [0, 1]."""
    t = np.linspace(0.0, 1.0, samples)[:, None]
    k = np.arange(n_points)[None, :]
    n = n_points - 1
    coeffs = np.array([comb(n, int(i)) for i in range(n_points)], dtype=np.float64)[None, :]
    return coeffs * t**k * (1.0 - t) ** (n - k)


def _bezier(points: np.ndarray) -> np.ndarray:
    if len(points) <= 2:
        return points
    # Beyond ~30 points Bernstein coefficients lose precision; osu! maps rarely have such segments, and
    # subdividing by de Casteljau would be exact, but chaining 2-point blends is a safe, cheap fallback.
    if len(points) > 30:
        halves = [points[: len(points) // 2 + 1], points[len(points) // 2 :]]
        return np.concatenate([_bezier(halves[0]), _bezier(halves[1])[1:]])
    return _bernstein(len(points), _SAMPLES_PER_SEGMENT) @ points


def _split_red(points: np.ndarray) -> list[np.ndarray]:
    """Bezier segments between repeated points (red anchors)."""
    same = np.all(np.isclose(points[1:], points[:-1]), axis=1)
    cuts = np.nonzero(same)[0] + 1
    return [seg for seg in np.split(points, cuts) if len(seg)]


def _perfect(points: np.ndarray) -> np.ndarray | None:
    a, b, c = points
    d = 2.0 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
    if abs(d) < 1e-6:
        return None  # collinear: osu! draws it as a Bezier
    sa, sb, sc = a @ a, b @ b, c @ c
    centre = np.array(
        [
            (sa * (b[1] - c[1]) + sb * (c[1] - a[1]) + sc * (a[1] - b[1])) / d,
            (sa * (c[0] - b[0]) + sb * (a[0] - c[0]) + sc * (b[0] - a[0])) / d,
        ]
    )
    radius = np.linalg.norm(a - centre)
    t0 = np.arctan2(a[1] - centre[1], a[0] - centre[0])
    t2 = np.arctan2(c[1] - centre[1], c[0] - centre[0])
    t1 = np.arctan2(b[1] - centre[1], b[0] - centre[0])
    # Go from a to c through b: pick the direction whose sweep contains b.
    sweep = (t2 - t0) % (2 * np.pi)
    if (t1 - t0) % (2 * np.pi) > sweep:
        sweep -= 2 * np.pi
    n = max(8, int(abs(sweep) * radius / 2))
    angles = t0 + np.linspace(0.0, sweep, min(n, 1000))
    return centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _catmull(points: np.ndarray) -> np.ndarray:
    out = [points[:1]]
    t = np.linspace(0.0, 1.0, _SAMPLES_PER_SEGMENT)[:, None]
    for i in range(len(points) - 1):
        v1 = points[i - 1] if i > 0 else points[i]
        v2 = points[i]
        v3 = points[i + 1]
        v4 = points[i + 2] if i + 2 < len(points) else 2 * v3 - v2
        seg = 0.5 * (
            2 * v2
            + (-v1 + v3) * t
            + (2 * v1 - 5 * v2 + 4 * v3 - v4) * t**2
            + (-v1 + 3 * v2 - 3 * v3 + v4) * t**3
        )
        out.append(seg[1:])
    return np.concatenate(out)


def polyline(curve_type: str, points: np.ndarray) -> np.ndarray:
    """The uncut path through ``points`` (K, 2) for curve type B, C, L or P, as (M, 2) vertices."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) < 2:
        return points
    kind = (curve_type or "B").upper()[:1]
    if kind == "L":
        return points
    if kind == "P" and len(points) == 3:
        arc = _perfect(points)
        if arc is not None:
            return arc
    if kind == "C":
        return _catmull(points)
    segments = [_bezier(seg) for seg in _split_red(points)]
    return np.concatenate([segments[0]] + [s[1:] if len(s) > 1 else s for s in segments[1:]])


def cut_to_length(path: np.ndarray, length: float | None) -> np.ndarray:
    """Cut the polyline at ``length`` px, or extend its last segment straight to reach it."""
    if length is None or len(path) < 2:
        return path
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    if length <= 0:
        return path[:1]
    if length >= cum[-1]:
        nz = np.nonzero(seg > 1e-9)[0]
        if len(nz) == 0:
            return path
        i = nz[-1]
        direction = (path[i + 1] - path[i]) / seg[i]
        end = path[-1] + direction * (length - cum[-1])
        return np.concatenate([path, end[None, :]]) if length > cum[-1] + 1e-9 else path
    k = int(np.searchsorted(cum, length, side="right"))
    frac = (length - cum[k - 1]) / max(seg[k - 1], 1e-12)
    end = path[k - 1] + (path[k] - path[k - 1]) * frac
    return np.concatenate([path[:k], end[None, :]])


def slider_path(curve_type: str, points: np.ndarray, length: float | None) -> np.ndarray:
    """The slider's drawn path: :func:`polyline` cut to ``length``."""
    return cut_to_length(polyline(curve_type, points), length)


def path_length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()) if len(path) > 1 else 0.0


def position_at(path: np.ndarray, progress: float) -> np.ndarray:
    """The point at ``progress`` in [0, 1] of the path's length."""
    if len(path) < 2:
        return path[0]
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    target = float(np.clip(progress, 0.0, 1.0)) * cum[-1]
    return np.array([np.interp(target, cum, path[:, 0]), np.interp(target, cum, path[:, 1])])
