"""How an osu!standard map moves (its flow), and the floor every flow figure needs: a random-angle walk with the
human map's spacing.

A remap keeps the spacing by construction (the projection step), so what the DiT itself decides is the direction
of each move. These figures look at that:

* turn angles: between consecutive head-to-head moves longer than MIN_MOVE_PX, in TURN_BIN_DEG bins over 0-180
  degrees (0 = straight on, 180 = straight back); their histogram's total-variation distance to the human map's,
  overall and by the time gap to the previous object (1/1 beat and longer, 1/2, 1/4, shorter: streams);
* near-stacks per object: an object within NEAR_STACK_PX of one 2-11 objects before it and less than a second
  earlier (a mapper's back-and-forth and stacks);
* mean distance by time gap (the same gap classes);
* overlaps: pairs of objects on screen at once (the approach rate's preempt) whose circles overlap, not stacked.

:func:`random_walk` keeps the map's times and every move's length and turns by uniformly random angles, reflected
at the playfield's edges; :func:`flow_report` scores a generated map and the mean of WALKS such walks against the
human map, so every figure has its floor beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from beatforge.charts.beatmap import Beatmap
from beatforge.constants import PLAYFIELD

MIN_MOVE_PX = 30.0  # shorter moves have no direction a player follows
TURN_BIN_DEG = 10.0
NEAR_STACK_PX = 20.0
NEAR_STACK_BACK = (2, 11)  # objects before, inclusive
NEAR_STACK_MS = 1000.0
WALKS = 5
# time gap to the previous object, in beats: [low, high)
GAP_CLASSES: dict[str, tuple[float, float]] = {"1/1+": (0.75, np.inf), "1/2": (0.375, 0.75), "1/4": (0.1875, 0.375),
                                              "stream": (0.0, 0.1875)}


def positions_and_times(bm: Beatmap) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) head positions and (N,) times in ms of the map's circles and sliders (spinners have no position)."""
    objs = [o for o in bm.hit_objects if not o.is_spinner]
    xy = np.array([(o.x, o.y) for o in objs], dtype=np.float64).reshape(-1, 2)
    return xy, np.array([o.time for o in objs], dtype=np.float64)


def gap_beats(bm: Beatmap, times: np.ndarray) -> np.ndarray:
    """(N,) time from the previous object in beats of the red line in force (the first object: inf)."""
    if len(times) == 0:
        return np.zeros(0)
    beats = np.array([bm.beat_length_at(t) for t in times]) if bm.red_lines() else np.full(len(times), 500.0)
    gaps = np.diff(times, prepend=-np.inf)
    return gaps / np.maximum(beats, 1e-6)


def turn_angles(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(angles in degrees, index of the object each turn is at) between consecutive moves longer than MIN_MOVE_PX."""
    moves = np.diff(xy, axis=0)
    length = np.linalg.norm(moves, axis=1)
    a, b = moves[:-1], moves[1:]
    keep = (length[:-1] > MIN_MOVE_PX) & (length[1:] > MIN_MOVE_PX)
    cos = np.einsum("ij,ij->i", a, b) / np.maximum(length[:-1] * length[1:], 1e-9)
    angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return angles[keep], np.arange(1, len(xy) - 1)[keep]


def angle_histogram(angles: np.ndarray) -> np.ndarray:
    h, _ = np.histogram(angles, bins=np.arange(0.0, 180.0 + TURN_BIN_DEG, TURN_BIN_DEG))
    return h / max(h.sum(), 1)


def near_stacks(xy: np.ndarray, times: np.ndarray) -> float:
    """Near-stacks per object (see the module docstring)."""
    n = len(xy)
    if n == 0:
        return 0.0
    hit = np.zeros(n, dtype=bool)
    lo, hi = NEAR_STACK_BACK
    for back in range(lo, hi + 1):
        if back >= n:
            break
        close = np.linalg.norm(xy[back:] - xy[:-back], axis=1) < NEAR_STACK_PX
        recent = times[back:] - times[:-back] < NEAR_STACK_MS
        hit[back:] |= close & recent
    return float(hit.mean())


def preempt_ms(ar: float) -> float:
    """How long before its time an object appears (osu!'s approach rate formula)."""
    return 1200.0 + 600.0 * (5.0 - ar) / 5.0 if ar < 5.0 else 1200.0 - 750.0 * (ar - 5.0) / 5.0


def overlaps(xy: np.ndarray, times: np.ndarray, *, cs: float, ar: float) -> float:
    """Pairs per object of objects on screen together whose circles overlap but are not stacked (> 3 px apart)."""
    radius = 54.4 - 4.48 * cs
    window = preempt_ms(ar)
    count = 0
    for back in range(1, len(xy)):
        together = times[back:] - times[:-back] < window
        if not together.any():
            break
        d = np.linalg.norm(xy[back:] - xy[:-back], axis=1)
        count += int((together & (d > 3.0) & (d < 2 * radius)).sum())
    return count / max(len(xy), 1)


def random_walk(xy: np.ndarray, seed: int) -> np.ndarray:
    """The map's first position and every move's length, each move turned by a uniformly random angle from the
    last, reflected at the playfield's edges: a move that would leave it has its direction mirrored (x, y or both),
    which keeps its length; one longer than the playfield allows in any mirrored direction is drawn again, up to
    20 times, and clipped at last."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(xy)
    if len(xy) == 0:
        return out
    out[0] = xy[0]
    lengths = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    heading = rng.uniform(0, 2 * np.pi)
    size = np.array(PLAYFIELD, dtype=np.float64)
    for i, step in enumerate(lengths, start=1):
        heading += rng.uniform(-np.pi, np.pi)
        for _ in range(20):
            d = step * np.array([np.cos(heading), np.sin(heading)])
            p = out[i - 1] + d
            for axis in (0, 1):
                if not 0.0 <= p[axis] <= size[axis]:
                    d[axis] = -d[axis]
            p = out[i - 1] + d
            if ((p >= 0.0) & (p <= size)).all():
                heading = float(np.arctan2(d[1], d[0]))
                break
            heading = rng.uniform(0, 2 * np.pi)
        out[i] = np.clip(p, 0.0, size)
    return out


def flow_figures(bm: Beatmap, xy: np.ndarray | None = None) -> dict:
    """A map's flow figures (``xy``: other positions for its objects, e.g. a random walk's)."""
    own_xy, times = positions_and_times(bm)
    xy = own_xy if xy is None else xy
    angles, at = turn_angles(xy)
    gaps = gap_beats(bm, times)
    dist = np.r_[np.nan, np.linalg.norm(np.diff(xy, axis=0), axis=1)]
    by_gap = {}
    for name, (lo, hi) in GAP_CLASSES.items():
        sel = (gaps[at] >= lo) & (gaps[at] < hi)
        dsel = (gaps >= lo) & (gaps < hi) & np.isfinite(dist)
        by_gap[name] = {"angles": angles[sel], "mean_distance": float(np.mean(dist[dsel])) if dsel.any() else None}
    return {"angles": angles, "mean_turn": float(angles.mean()) if len(angles) else None,
            "near_stacks": near_stacks(xy, times), "by_gap": by_gap,
            "overlaps": overlaps(xy, times, cs=bm.circle_size, ar=bm.diff("ApproachRate", 5.0))}


def _tv(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) == 0 or len(b) == 0:
        return None
    return float(0.5 * np.abs(angle_histogram(a) - angle_histogram(b)).sum())


def _compare(fig: dict, human: dict) -> dict:
    return {"turn_tv": _tv(fig["angles"], human["angles"]), "mean_turn": fig["mean_turn"],
            "near_stacks": fig["near_stacks"], "overlaps": fig["overlaps"],
            "turn_tv_by_gap": {k: _tv(v["angles"], human["by_gap"][k]["angles"]) for k, v in fig["by_gap"].items()},
            "mean_distance_by_gap": {k: v["mean_distance"] for k, v in fig["by_gap"].items()}}


def flow_report(generated: Beatmap, human: Beatmap, walks: int = WALKS) -> dict:
    """The generated map's flow figures against the human map's, beside the mean of ``walks`` random-angle walks
    with the human spacing (seeds 0 ..): ``{"generated": ..., "random_walk": ..., "human": ...}``."""
    h_xy, _ = positions_and_times(human)
    g_xy, _ = positions_and_times(generated)
    if len(g_xy) != len(h_xy):
        raise ValueError(f"the maps have {len(g_xy)} and {len(h_xy)} objects: flow compares the same rhythm")
    human_fig, gen_fig = flow_figures(human), flow_figures(human, g_xy)
    walk_figs = [flow_figures(human, random_walk(h_xy, seed)) for seed in range(walks)]
    return {
        "generated": _compare(gen_fig, human_fig), "random_walk": _mean([_compare(w, human_fig) for w in walk_figs]),
        "human": _compare(human_fig, human_fig),
        "turn_histograms": {"generated": angle_histogram(gen_fig["angles"]).tolist(),
                            "random_walk": np.mean([angle_histogram(w["angles"]) for w in walk_figs], 0).tolist(),
                            "human": angle_histogram(human_fig["angles"]).tolist()},
    }


def write_flow_plot(report: dict, path: Path) -> Path:
    """The three turn-angle histograms of :func:`flow_report` as one PNG (temporary name, then rename)."""
    import matplotlib  # lazy: only the report draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from beatforge.fileio import atomic_path

    centres = np.arange(len(report["turn_histograms"]["human"])) * TURN_BIN_DEG + TURN_BIN_DEG / 2
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    for name, style in (("human", "-"), ("generated", "-"), ("random_walk", "--")):
        ax.plot(centres, report["turn_histograms"][name], style, marker="o", ms=3,
                label=f"{name.replace('_', ' ')} (TV {report[name]['turn_tv'] or 0:.2f})")
    ax.set_xlabel("turn angle between consecutive moves (deg; 0 = straight on, 180 = back)")
    ax.set_ylabel("share of turns")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _mean(runs: list[dict]) -> dict:
    def avg(values: list) -> float | None:
        vals = [v for v in values if v is not None]
        return float(np.mean(vals)) if vals else None

    first = runs[0]
    out = {}
    for key, value in first.items():
        if isinstance(value, dict):
            out[key] = {k: avg([r[key][k] for r in runs]) for k in value}
        else:
            out[key] = avg([r[key] for r in runs])
    return out


__all__ = ["GAP_CLASSES", "WALKS", "angle_histogram", "flow_figures", "flow_report", "near_stacks", "overlaps",
           "random_walk", "turn_angles", "write_flow_plot"]
