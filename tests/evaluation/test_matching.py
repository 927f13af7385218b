"""One-to-one note matching: hand-made cases, F1 edge cases, and the greedy matcher against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from beatforge.charts import mania_tensor
from beatforge.charts.chart import ManiaChart
from beatforge.evaluation.matching import (
    f1_scores,
    match_pairs,
    match_times,
    note_f1,
    onset_times,
    rhythm_f1,
)

NAN = np.nan


def chart(keys: int, notes: list[tuple[float, float, int]]) -> ManiaChart:
    """A chart from (start ms, end ms or NaN, column) triples."""
    arr = np.array(notes, dtype=np.float64).reshape(-1, 3)
    return ManiaChart(keys=keys, starts=arr[:, 0], ends=arr[:, 1], columns=arr[:, 2].astype(np.int64))


def brute_force(pred: np.ndarray, ref: np.ndarray, tol: float) -> int:
    """Maximum matching size by the Hungarian method on a 0/1 "within tolerance" matrix."""
    if len(pred) == 0 or len(ref) == 0:
        return 0
    ok = np.abs(pred[:, None] - ref[None, :]) <= tol
    rows, cols = linear_sum_assignment(-ok.astype(np.float64))
    return int(ok[rows, cols].sum())


# ==================================================================================== match_times
def test_pred_between_two_refs_matches_one() -> None:
    assert match_times(np.array([5.0]), np.array([0.0, 10.0]), 5.0) == 1
    assert match_times(np.array([0.0, 10.0]), np.array([5.0]), 5.0) == 1


def test_greedy_takes_the_earlier_ref_so_the_later_pred_still_matches() -> None:
    # pred 4 could take ref 0 or ref 8; pred 12 only ref 8. A nearest-first matcher would pair 4-8 and lose one.
    assert match_times(np.array([4.0, 12.0]), np.array([0.0, 8.0]), 5.0) == 2


def test_tolerance_is_inclusive() -> None:
    ref = np.array([100.0])
    assert match_times(np.array([105.0]), ref, 5.0) == 1
    assert match_times(np.array([95.0]), ref, 5.0) == 1
    assert match_times(np.array([105.25]), ref, 5.0) == 0
    assert match_times(np.array([100.0]), ref, 0.0) == 1


def test_unsorted_input_and_pair_indices() -> None:
    pred = np.array([300.0, 100.0, 201.0])
    ref = np.array([200.0, 99.0, 500.0])
    pi, ri = match_pairs(pred, ref, 3.0)
    pairs = sorted(zip(pi.tolist(), ri.tolist()))
    assert pairs == [(1, 1), (2, 0)]


def test_empty_inputs() -> None:
    empty = np.zeros(0)
    assert match_times(empty, np.array([1.0]), 5.0) == 0
    assert match_times(np.array([1.0]), empty, 5.0) == 0
    assert f1_scores(empty, empty, 5.0) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert f1_scores(empty, np.array([1.0]), 5.0)["f1"] == 0.0
    assert f1_scores(np.array([1.0]), empty, 5.0)["f1"] == 0.0


def test_bad_tolerance_and_times() -> None:
    with pytest.raises(ValueError, match="tol_ms"):
        match_times(np.array([1.0]), np.array([1.0]), -1.0)
    with pytest.raises(ValueError, match="finite"):
        match_times(np.array([np.nan]), np.array([1.0]), 1.0)


def test_f1_values() -> None:
    s = f1_scores(np.array([0.0, 50.0, 100.0, 400.0]), np.array([1.0, 99.0]), 5.0)
    assert s["precision"] == pytest.approx(0.5)
    assert s["recall"] == pytest.approx(1.0)
    assert s["f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", range(6))
def test_greedy_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n, m = rng.integers(0, 12, size=2)
        span = float(rng.choice([20.0, 60.0, 300.0]))  # dense to sparse: many long runs, then mostly pairs
        if rng.random() < 0.5:  # integer times: ties and exact tolerance edges
            pred, ref = rng.integers(0, int(span), n).astype(float), rng.integers(0, int(span), m).astype(float)
        else:
            pred, ref = rng.uniform(0, span, n), rng.uniform(0, span, m)
        tol = float(rng.choice([0.0, 2.0, 5.0, 10.0]))
        pi, ri = match_pairs(pred, ref, tol)
        assert len(pi) == brute_force(pred, ref, tol)
        assert len(set(pi.tolist())) == len(pi) and len(set(ri.tolist())) == len(ri)  # one-to-one
        assert np.all(np.abs(pred[pi] - ref[ri]) <= tol)


# ==================================================================================== note_f1
def test_note_f1_matches_only_within_a_column() -> None:
    ref = chart(4, [(100, NAN, 0), (200, NAN, 1)])
    same = chart(4, [(101, NAN, 0), (199, NAN, 1)])
    moved = chart(4, [(100, NAN, 2), (200, NAN, 3)])
    assert note_f1(same, ref)["f1"] == 1.0
    assert note_f1(moved, ref)["f1"] == 0.0
    assert rhythm_f1(moved, ref, 5.0)["f1"] == 1.0  # rhythm ignores columns


def test_note_f1_long_note_agreement() -> None:
    ref = chart(4, [(100, 400, 0), (200, NAN, 1), (300, 600, 2), (500, 700, 3)])
    pred = chart(4, [(100, 403, 0), (200, NAN, 1), (300, NAN, 2), (500, 720, 3)])
    s = note_f1(pred, ref, tol_ms=5.0)
    assert s["f1"] == 1.0  # every start matches
    # LN/LN with close ends, tap/tap agree; LN vs tap and LN ends 20 ms apart do not.
    assert s["ln_precision"] == pytest.approx(0.5)
    assert s["ln_recall"] == pytest.approx(0.5)
    assert s["ln_f1"] == pytest.approx(0.5)


def test_note_f1_empty_and_key_mismatch() -> None:
    assert note_f1(chart(4, []), chart(4, []))["f1"] == 1.0
    assert note_f1(chart(4, []), chart(4, [(1, NAN, 0)]))["f1"] == 0.0
    with pytest.raises(ValueError, match="4K"):
        note_f1(chart(7, []), chart(4, []))


def test_note_f1_tensor_round_trip_is_perfect() -> None:
    rng = np.random.default_rng(3)
    notes = []
    for col in range(7):
        t = rng.uniform(0, 50)
        for _ in range(20):
            end = t + rng.uniform(60, 300) if rng.random() < 0.3 else NAN
            notes.append((t, end, col))
            t = (t if np.isnan(end) else end) + rng.uniform(60, 200)
    ref = chart(7, notes)
    back = mania_tensor.decode(mania_tensor.encode(ref), keys=7)
    s = note_f1(back, ref, tol_ms=1.0)
    assert s["f1"] == 1.0 and s["ln_f1"] == 1.0


# ==================================================================================== rhythm_f1
def test_chords_collapse() -> None:
    ref = chart(4, [(100, NAN, 0), (100, NAN, 1), (100.5, NAN, 2), (300, NAN, 0)])
    assert onset_times(ref).tolist() == [100.0, 300.0]
    pred = chart(7, [(102, NAN, 5), (299, NAN, 6)])
    assert rhythm_f1(pred, ref, 20.0) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    # Starts 1.5 ms apart are two onsets.
    assert len(onset_times(chart(4, [(100, NAN, 0), (101.5, NAN, 1)]))) == 2


def test_rhythm_f1_tolerances() -> None:
    ref = chart(4, [(1000, NAN, 0), (2000, NAN, 0)])
    pred = chart(4, [(1030, NAN, 0), (2060, NAN, 0)])
    assert rhythm_f1(pred, ref, 20.0)["f1"] == 0.0
    assert rhythm_f1(pred, ref, 50.0)["f1"] == pytest.approx(2 * 0.5 * 0.5 / 1.0)
