"""How a remapped osu!standard map compares with the map it was made from (the remap quality report).

* ``spacing_tv``: total-variation distance between the histograms (20 px bins, 0-640 px) of the distances between
  consecutive objects: 0 = the same spacing distribution, 1 = disjoint;
* ``in_bounds``: share of objects (and slider control points) inside the 512x384 playfield;
* ``slider_length_error``: mean and max |drawn path length - the slider's required length| in osu! pixels;
* ``copied``: share of objects within 1 px of the original position (a remap must not copy).
"""

from __future__ import annotations

import numpy as np

from beatforge.charts.slider_path import path_length, polyline
from beatforge.constants import PLAYFIELD
from beatforge.formats.osu import Beatmap

BINS = np.arange(0.0, 660.0, 20.0)


def _positions(bm: Beatmap) -> np.ndarray:
    return np.array([(o.x, o.y) for o in bm.hit_objects], dtype=np.float64).reshape(-1, 2)


def spacing_histogram(bm: Beatmap) -> np.ndarray:
    d = np.linalg.norm(np.diff(_positions(bm), axis=0), axis=1)
    h, _ = np.histogram(np.clip(d, 0, BINS[-1] - 1e-6), bins=BINS)
    return h / max(h.sum(), 1)


def remap_metrics(generated: Beatmap, original: Beatmap) -> dict[str, float]:
    g, o = _positions(generated), _positions(original)
    pts = [g]
    errs = []
    for obj in generated.hit_objects:
        if obj.curve_points:
            cp = np.array([(obj.x, obj.y), *obj.curve_points], dtype=np.float64)
            pts.append(cp)
            if obj.length:
                errs.append(abs(path_length(polyline(obj.curve_type or "B", cp)) - float(obj.length)))
    allp = np.vstack(pts)
    inside = ((allp >= 0) & (allp <= np.array(PLAYFIELD))).all(axis=1)
    n = min(len(g), len(o))
    return {
        "spacing_tv": float(0.5 * np.abs(spacing_histogram(generated) - spacing_histogram(original)).sum()),
        "in_bounds": float(inside.mean()) if len(inside) else 1.0,
        "slider_length_error_mean": float(np.mean(errs)) if errs else 0.0,
        "slider_length_error_max": float(np.max(errs)) if errs else 0.0,
        "copied": float((np.linalg.norm(g[:n] - o[:n], axis=1) < 1.0).mean()) if n else 0.0,
    }


__all__ = ["remap_metrics", "spacing_histogram"]
