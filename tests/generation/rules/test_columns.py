"""Note assignment from chart frames: columns, chords and long notes read from a decoded chart tensor."""

from __future__ import annotations

import numpy as np

from beatforge.charts.mania_tensor import encode
from beatforge.constants import FRAME_MS
from beatforge.generation.rules.columns import PatternBias, assign_notes


def _frames_of(starts, ends, columns, keys, n_frames) -> np.ndarray:
    from beatforge.charts.chart import ManiaChart

    chart = ManiaChart(keys, np.asarray(starts, float), np.asarray(ends, float), np.asarray(columns))
    x = encode(chart, n_frames=n_frames).astype(np.float32)
    for blk in (0, 2):  # is_start and is_holding as logits (1 -> +6, 0 -> -6); offsets stay in [0, 1]
        x[blk * keys:(blk + 1) * keys] = x[blk * keys:(blk + 1) * keys] * 12.0 - 6.0
    return x


def test_assign_reads_columns_chords_and_long_notes_from_frames() -> None:
    keys = 4
    starts = [100.0, 100.0, 600.0, 1100.0]
    ends = [np.nan, np.nan, 1000.0, np.nan]
    cols = [0, 2, 1, 3]
    frames = _frames_of(starts, ends, cols, keys, 40)
    chart = assign_notes(np.array([105.0, 610.0, 1090.0]), frames, keys, min_ln_ms=60)
    assert chart.n_notes == 4
    assert set(chart.columns[chart.starts == 105.0].tolist()) == {0, 2}
    ln = np.flatnonzero(np.isfinite(chart.ends))
    assert chart.columns[ln].tolist() == [1] and abs(chart.ends[ln[0]] - 1000.0) < FRAME_MS
    assert chart.columns[chart.starts == 1090.0].tolist() == [3]


def test_ln_ratio_is_met_and_biases_move_chords_and_jacks() -> None:
    rng = np.random.default_rng(1)
    keys, w = 4, 400
    frames = rng.normal(-1.5, 1.0, (4 * keys, w)).astype(np.float32)
    onsets = np.sort(rng.choice(np.arange(50, w - 5) * FRAME_MS, 200, replace=False))
    base = assign_notes(onsets, frames, keys, ln_ratio=0.0)
    half = assign_notes(onsets, frames, keys, ln_ratio=0.5, min_ln_ms=1.0, release_ms=1.0)
    assert np.isnan(base.ends).all()
    assert abs(np.isfinite(half.ends).mean() - 0.5) < 0.1
    chords = assign_notes(onsets, frames, keys, bias=PatternBias.from_patterns({"handstream": "more"}, keys))
    assert chords.n_notes > base.n_notes
    singles = assign_notes(onsets, frames, keys, bias=PatternBias.from_patterns({"stream": "more"}, keys))
    assert singles.n_notes <= base.n_notes

    def repeats(c) -> float:
        first = np.r_[True, np.diff(c.starts) > 1]
        grp = np.cumsum(first) - 1
        sets = [set(c.columns[grp == g].tolist()) for g in range(grp.max() + 1)]
        return np.mean([len(a & b) > 0 for a, b in zip(sets, sets[1:])])

    jacks = assign_notes(onsets, frames, keys, bias=PatternBias.from_patterns({"jackspeed": "more"}, keys))
    nojacks = assign_notes(onsets, frames, keys, bias=PatternBias.from_patterns({"jackspeed": "less"}, keys))
    assert repeats(jacks) > repeats(base) > repeats(nojacks)
