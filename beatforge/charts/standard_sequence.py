"""osu!standard beatmap <-> hit-object sequence, the data point osu-diffusion's DiT consumes.

Each hit object becomes one or more rows ("datapoints"): a circle one row, a spinner two (start, end),
a slider its head, one row per control point, and its end. Columns (float64):

| col | name   | meaning                                                                   |
|-----|--------|---------------------------------------------------------------------------|
| 0   | time   | ms; anchors get times spread evenly over the first span (osu-diffusion)   |
| 1   | x      | osu! pixels (0-512)                                                       |
| 2   | y      | osu! pixels (0-384)                                                       |
| 3   | kind   | osu-diffusion's 16 datapoint types, table below                           |
| 4   | slides | slider heads: number of slides (1 = no repeat); anchors: multiplicity      |
| 5   | length | slider heads: pixel length; spinner/slider end rows: 0                    |
| 6   | curve  | slider heads: 1 B, 2 C, 3 L, 4 P; 0 elsewhere                             |
| 7   | otype  | first row of each object: the raw .osu type bits (combo skip etc.)        |

Kinds: 0 circle, 1 circle + new combo, 2 spinner start, 3 spinner end, 4 slider head, 5 slider head + new
combo, 6 Bezier anchor, 7 perfect-circle anchor, 8 Catmull anchor, 9 red anchor (linear-segment joint /
doubled Bezier point), 10 last anchor (at start + one span), 11-13 slider end with 0/1/2 repeats, 14 end with
an even number of repeats >= 4, 15 end with an odd number >= 5. The slider end's position is the path's end
(curve(1)), at the slider's end time, as osu-diffusion places it.
"""

from __future__ import annotations

import numpy as np

from beatforge.charts.beatmap import CIRCLE, HOLD, NEW_COMBO, SLIDER, SPINNER, Beatmap, HitObject
from beatforge.charts.slider_path import slider_path
from beatforge.errors import ChartError

TIME, X, Y, KIND, SLIDES, LENGTH, CURVE, OTYPE = range(8)
N_COLUMNS = 8
N_KINDS = 16
CURVES = {"B": 1, "C": 2, "L": 3, "P": 4}
CURVE_NAMES = {v: k for k, v in CURVES.items()}
_INNER_KIND = {"B": 6, "P": 7, "C": 8, "L": 9}


def _end_kind(slides: int) -> int:
    repeats = max(slides, 1) - 1
    if repeats <= 2:
        return 11 + repeats
    return 14 if repeats % 2 == 0 else 15


def span_duration(bm: Beatmap, obj: HitObject) -> float:
    """ms one pass of a slider lasts: length / (100 x SliderMultiplier x SV) beats."""
    beat = bm.beat_length_at(obj.time)
    velocity = 100.0 * bm.slider_multiplier * bm.slider_velocity_at(obj.time)
    return float(obj.length or 0.0) / velocity * beat if velocity > 0 else 0.0


def encode(bm: Beatmap) -> np.ndarray:
    """The (N, 8) sequence of an osu!standard beatmap (see the module docstring)."""
    if bm.mode != 0:
        raise ChartError(f"{bm.path}: an osu!{bm.mode_name} beatmap, not osu!standard")
    rows: list[list[float]] = []
    for o in bm.hit_objects:
        nc = 1 if o.type & NEW_COMBO else 0
        if o.type & SLIDER:
            rows.extend(_slider_rows(bm, o, nc))
        elif o.type & SPINNER:
            end = o.end_time if o.end_time is not None else o.time
            rows.append([o.time, o.x, o.y, 2, 0, 0, 0, o.type])
            rows.append([end, o.x, o.y, 3, 0, 0, 0, 0])
        else:
            rows.append([o.time, o.x, o.y, 0 + nc, 0, 0, 0, o.type])
    if not rows:
        raise ChartError(f"{bm.path}: the beatmap has no hit objects")
    return np.asarray(rows, dtype=np.float64)


def _slider_rows(bm: Beatmap, o: HitObject, nc: int) -> list[list[float]]:
    curve = (o.curve_type or "B").upper()[:1]
    full = [(o.x, o.y)] + list(o.curve_points)
    slides = int(o.slides or 1)
    length = float(o.length) if o.length is not None else 0.0
    span = span_duration(bm, o)
    head = [o.time, o.x, o.y, 4 + nc, slides, length, CURVES.get(curve, 1), o.type]
    # Consecutive equal control points form one row whose ``slides`` column keeps the multiplicity: a
    # doubled Bezier point is a red anchor (segment joint), and some maps repeat a point 3-4 times.
    anchors: list[tuple[float, float, int, int]] = []
    pts = list(o.curve_points)
    k = 0
    while k < len(pts):
        count = 1
        while k + count < len(pts) and pts[k + count] == pts[k]:
            count += 1
        last = k + count == len(pts)
        red = curve == "B" and (count > 1 or (k == 0 and pts[0] == full[0]))
        kind = 10 if last else (9 if red else _INNER_KIND.get(curve, 6))
        anchors.append((pts[k][0], pts[k][1], kind, count))
        k += count
    rows = [head]
    for j, (ax, ay, kind, count) in enumerate(anchors, start=1):
        rows.append([o.time + span * j / len(anchors), ax, ay, kind, count, 0, 0, 0])
    if len(full) > 1:
        end_xy = slider_path(curve, np.asarray(full, dtype=np.float64), o.length)[-1]
    else:
        end_xy = np.array([o.x, o.y])
    rows.append([o.time + span * slides, end_xy[0], end_xy[1], _end_kind(slides), 0, 0, 0, 0])
    return rows


def decode(seq: np.ndarray, template: Beatmap | None = None) -> list[HitObject]:
    """Hit objects from a sequence; with ``template`` (same objects, e.g. the remapped reference),
    hit sounds and samples are copied from it, and only positions are taken from ``seq``."""
    seq = np.asarray(seq, dtype=np.float64)
    objects: list[HitObject] = []
    i, n = 0, len(seq)
    while i < n:
        row = seq[i]
        kind, otype = int(row[KIND]), int(row[OTYPE])
        if kind in (0, 1):
            objects.append(HitObject(x=row[X], y=row[Y], time=row[TIME], type=otype or (CIRCLE | NEW_COMBO * kind)))
            i += 1
        elif kind == 2:
            end = seq[i + 1][TIME] if i + 1 < n and int(seq[i + 1][KIND]) == 3 else row[TIME]
            objects.append(
                HitObject(x=row[X], y=row[Y], time=row[TIME], type=otype or (SPINNER | NEW_COMBO), end_time=end)
            )
            i += 2
        elif kind in (4, 5):
            curve = CURVE_NAMES.get(int(row[CURVE]), "B")
            points: list[tuple[float, float]] = []
            j = i + 1
            while j < n and 6 <= int(seq[j][KIND]) <= 10:
                p = (float(seq[j][X]), float(seq[j][Y]))
                points.extend([p] * max(int(seq[j][SLIDES]), 1))
                j += 1
            if j < n and 11 <= int(seq[j][KIND]) <= 15:
                j += 1
            objects.append(
                HitObject(
                    x=row[X],
                    y=row[Y],
                    time=row[TIME],
                    type=otype or (SLIDER | NEW_COMBO * (kind - 4)),
                    curve_type=curve,
                    curve_points=points,
                    slides=int(row[SLIDES]),
                    length=float(row[LENGTH]),
                )
            )
            i = j
        else:
            raise ChartError(f"hit-object sequence: row {i} has kind {kind} where an object must start")
    if template is not None:
        _copy_sounds(objects, template)
    for o in objects:
        if o.type & HOLD:
            raise ChartError("hit-object sequence: a mania hold in an osu!standard sequence")
    return objects


def _copy_sounds(objects: list[HitObject], template: Beatmap) -> None:
    if len(objects) != len(template.hit_objects):
        raise ChartError(
            f"{template.path}: sequence has {len(objects)} objects, the template {len(template.hit_objects)}"
        )
    for o, t in zip(objects, template.hit_objects):
        o.hitsound, o.hit_sample, o.edge_sounds, o.edge_sets = t.hitsound, t.hit_sample, t.edge_sounds, t.edge_sets
        if t.curve_raw and o.curve_points == t.curve_points:
            o.curve_raw = t.curve_raw
