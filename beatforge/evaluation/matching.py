"""One-to-one note matching and the F1 scores built on it.

Matching rule: a predicted time ``p`` and a reference time ``r`` may pair when ``|p - r| <= tol_ms``; each
reference and each prediction pairs at most once; the number of pairs is maximal.

Why a greedy two-pointer is optimal here. Sort both lists and walk them: if the current prediction and reference
are within the tolerance, pair them and advance both; otherwise advance whichever is earlier (it is more than
``tol_ms`` before the other one, hence before every remaining element of the other list, so it can never pair).
Claim: some maximum matching contains the greedy pair (p, r) of two earliest remaining elements. Take a maximum
matching M of the remaining elements. If it pairs p with r, done. If it pairs p with r' and r with p' (so
r' >= r, p' >= p), swap to (p, r), (p', r'): |p' - r'| <= tol because
``r' - tol <= p <= p'`` (p was within tol of r') and ``p' - tol <= r <= r'`` (r was within tol of p'), so the
swap keeps M's size. If only one of p, r is paired in M, re-pair it with the other (same size); if neither,
adding (p, r) would make M larger, which is impossible. By induction on the remaining elements the greedy count is
the maximum. (This is the "convex bipartite graph" case: each prediction's partners form a contiguous run of the
sorted references, and the runs' ends move monotonically; symmetric tolerances make that so.)

Speed. The walk is split into independent pieces first: after merging both sorted lists, a gap larger than
``tol_ms`` between neighbours cannot be bridged by any pair, so each run of neighbours closer than that is a
separate problem. Runs with at most one prediction or one reference are solved in closed form with numpy (the
common case: charts rarely have two notes of one column within a tolerance); only the rest go through the Python
walk. ``mir_eval.util.match_events`` solves the same problem with Hopcroft-Karp over a dense N x M distance
matrix, which is exact but much slower and quadratic in memory.
"""

from __future__ import annotations

import numpy as np

from beatforge.charts.chart import ManiaChart

__all__ = ["CHORD_MS", "f1_scores", "match_pairs", "match_times", "note_f1", "onset_times", "rhythm_f1"]

# Starts closer than this are one onset for rhythm_f1 (a chord written with a 1 ms slip is still a chord).
CHORD_MS = 1.0


def _as_times(a: np.ndarray) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError("note times must be finite")
    return arr


def match_pairs(pred: np.ndarray, ref: np.ndarray, tol_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """A maximum one-to-one matching of ``pred`` to ``ref`` times within ``tol_ms`` (inclusive).

    Args:
        pred, ref: (N,), (M,) times in ms, any order.
        tol_ms: the largest allowed ``|p - r|``.

    Returns:
        (pred_idx, ref_idx): int64 arrays of equal length, indices into the inputs of the matched pairs.
    """
    if not tol_ms >= 0:
        raise ValueError(f"tol_ms must be >= 0, got {tol_ms}")
    p, r = _as_times(pred), _as_times(ref)
    empty = np.zeros(0, dtype=np.int64)
    if len(p) == 0 or len(r) == 0:
        return empty, empty
    # Merge: (N+M,) times, and which list each came from (its index into the concatenation).
    both = np.concatenate([p, r])
    order = np.argsort(both, kind="stable")
    times = both[order]
    is_ref = order >= len(p)
    run = np.cumsum(np.r_[True, np.diff(times) > tol_ms]) - 1  # (N+M,) run id; runs never share a pair
    n_runs = int(run[-1]) + 1
    n_ref = np.bincount(run, weights=is_ref, minlength=n_runs).astype(np.int64)
    n_all = np.bincount(run, minlength=n_runs)
    n_pred = n_all - n_ref

    # Closed form: a run of exactly one prediction and one reference is a pair (neighbours within tol).
    pair_run = (n_pred == 1) & (n_ref == 1)
    in_pair = pair_run[run]
    idx = order[in_pair].reshape(-1, 2)  # (n_pair_runs, 2): the two members of each such run, in time order
    first_is_ref = idx[:, 0] >= len(p)
    p_idx = [np.where(first_is_ref, idx[:, 1], idx[:, 0])]
    r_idx = [np.where(first_is_ref, idx[:, 0], idx[:, 1]) - len(p)]

    # Every other run with both kinds in it: one greedy walk over all of them together (a walk never pairs across
    # a gap wider than tol_ms, so walking the runs one after another is the same as walking each alone).
    hard = ((n_pred >= 1) & (n_ref >= 1) & ~pair_run)[run]
    if hard.any():
        members = order[hard]  # (H,) in time order
        pi, ri = _greedy(p, r, members[members < len(p)], members[members >= len(p)] - len(p), tol_ms)
        p_idx.append(pi)
        r_idx.append(ri)
    return np.concatenate(p_idx).astype(np.int64), np.concatenate(r_idx).astype(np.int64)


def _greedy(p: np.ndarray, r: np.ndarray, pi: np.ndarray, ri: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """The two-pointer walk over ``p[pi]`` and ``r[ri]`` (each already in time order); matched indices."""
    pt, rt = p[pi].tolist(), r[ri].tolist()
    out_p: list[int] = []
    out_r: list[int] = []
    i = j = 0
    while i < len(pt) and j < len(rt):
        if abs(pt[i] - rt[j]) <= tol:
            out_p.append(i)
            out_r.append(j)
            i += 1
            j += 1
        elif pt[i] < rt[j]:
            i += 1
        else:
            j += 1
    return pi[np.asarray(out_p, dtype=np.int64)], ri[np.asarray(out_r, dtype=np.int64)]


def match_times(pred: np.ndarray, ref: np.ndarray, tol_ms: float) -> int:
    """Number of pairs in a maximum one-to-one matching of ``pred`` to ``ref`` times within ``tol_ms`` (ms)."""
    return len(match_pairs(pred, ref, tol_ms)[0])


def _prf(n_match: int, n_pred: int, n_ref: int) -> dict[str, float]:
    if n_pred == 0 and n_ref == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    precision = n_match / n_pred if n_pred else 0.0
    recall = n_match / n_ref if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def f1_scores(pred_times: np.ndarray, ref_times: np.ndarray, tol_ms: float) -> dict[str, float]:
    """Precision, recall and F1 of ``pred_times`` against ``ref_times`` (ms), matched one-to-one within
    ``tol_ms``. Two empty lists agree perfectly (1.0); one empty list against a non-empty one scores 0."""
    n_pred, n_ref = len(_as_times(pred_times)), len(_as_times(ref_times))
    return _prf(match_times(pred_times, ref_times, tol_ms), n_pred, n_ref)


def note_f1(pred: ManiaChart, ref: ManiaChart, tol_ms: float = 5.0) -> dict[str, float]:
    """Note-level scores of a chart against a reference of the same key count.

    A predicted note matches a reference note of the same column whose start is within ``tol_ms``. ``precision``,
    ``recall`` and ``f1`` count matched starts over all columns; ``ln_precision``, ``ln_recall`` and ``ln_f1``
    count only the matched pairs that also agree on their kind: both taps, or both long notes with ends within
    ``tol_ms``.
    """
    if pred.keys != ref.keys:
        raise ValueError(f"cannot compare a {pred.keys}K chart with a {ref.keys}K reference")
    n_match = n_agree = 0
    for col in range(ref.keys):
        pi = np.flatnonzero(pred.columns == col)
        ri = np.flatnonzero(ref.columns == col)
        mp, mr = match_pairs(pred.starts[pi], ref.starts[ri], tol_ms)
        n_match += len(mp)
        pe, re_ = pred.ends[pi[mp]], ref.ends[ri[mr]]
        both_tap = np.isnan(pe) & np.isnan(re_)
        with np.errstate(invalid="ignore"):
            both_ln = np.abs(pe - re_) <= tol_ms  # False whenever either is NaN
        n_agree += int((both_tap | both_ln).sum())
    out = _prf(n_match, pred.n_notes, ref.n_notes)
    ln = _prf(n_agree, pred.n_notes, ref.n_notes)
    out.update({"ln_precision": ln["precision"], "ln_recall": ln["recall"], "ln_f1": ln["f1"]})
    return out


def onset_times(chart: ManiaChart, *, chord_ms: float = CHORD_MS) -> np.ndarray:
    """Distinct onset times (ms), sorted: starts closer than ``chord_ms`` to the previous one are one onset
    (chains merge into their first start)."""
    t = np.sort(chart.starts)
    if len(t) == 0:
        return t
    return t[np.r_[True, np.diff(t) > chord_ms]]


def rhythm_f1(pred: ManiaChart, ref: ManiaChart, tol_ms: float) -> dict[str, float]:
    """Column-agnostic rhythm scores: :func:`f1_scores` over :func:`onset_times` (chords collapsed), so a chart
    that places the right rhythm in other columns (or another key count) still scores."""
    return f1_scores(onset_times(pred), onset_times(ref), tol_ms)
