"""The beat-grid rules: grid lines over timing points, line picking, the density plan, the grid-fit check, and the
snap divisions a chart of a given density uses."""

from __future__ import annotations

import numpy as np
import pytest

from beatforge.charts.chart import TimingPoint
from beatforge.constants import RHYTHM_STEP_MS as STEP_MS
from beatforge.generation.rules.beat_grid import (
    SNAP_DIVISORS,
    GridPlan,
    finest_division,
    grid_fits,
    grid_lines,
    grid_onsets,
    grid_plan,
    min_sep_frames,
    on_lines,
)


def _clicks(times_ms: np.ndarray, heights: np.ndarray, n_frames: int) -> np.ndarray:
    idx = np.arange(n_frames)[:, None]
    return (heights * np.exp(-0.5 * ((idx - times_ms / STEP_MS) / 1.0) ** 2)).max(axis=1)


def test_grid_lines_follow_every_timing_point() -> None:
    timing = [TimingPoint(100.0, 500.0), TimingPoint(2100.0, 400.0)]
    times, beats = grid_lines(timing, 0.0, 3000.0, 2)
    # before the first point its grid runs backwards: lines at 100 - 250 k down to 0 ms, none below
    assert np.isclose(times.min(), 100.0) and not np.any(times < 0)
    first = times[times < 2100.0]
    assert np.allclose(np.diff(first), 250.0) and np.isclose(first[0], 100.0) and beats[0] == 0.0
    second = times[times >= 2100.0]
    assert np.isclose(second[0], 2100.0) and np.allclose(np.diff(second), 200.0) and second[-1] <= 3000.0


def test_grid_onsets_take_the_bar_pulse_first_then_whole_beats_then_the_strongest() -> None:
    beat = 500.0
    timing = [TimingPoint(0.0, beat)]
    k = np.arange(40)
    # every beat sounds; the third beat of each bar (k % 4 == 2) is not the loudest, but is steady
    heights = np.where(k % 4 == 2, 0.6, np.where(k % 4 == 0, 0.5, 0.4))
    heights[[5, 9]] = 0.95  # two loud syncopated hits
    act = _clicks(k * beat, heights, int(40 * beat / STEP_MS) + 10)
    once_a_bar = grid_onsets(act, 10, timing, GridPlan(sub=2, period=4, level_bonus=1.0))
    assert np.allclose(once_a_bar, (np.arange(10) * 4 + 2) * beat)
    # told more notes than the pulse has, the other whole beats come next (never a half beat while one is left)
    more = grid_onsets(act, 30, timing, GridPlan(sub=2, period=4, level_bonus=1.0))
    assert len(more) == 30 and np.allclose(more / beat, np.round(more / beat))
    # by strength alone (a dense chart), the loud hits are taken first
    assert set(np.round(grid_onsets(act, 2, timing, GridPlan(sub=4)) / beat).astype(int)) == {5, 9}
    assert len(grid_onsets(act, 0, timing, GridPlan(sub=2))) == 0


def test_grid_plan_and_fit() -> None:
    # notes per beat at 120 BPM = density / 2: 0.25 -> a bar pulse, 0.6 -> every other beat, 1.0 -> every beat
    assert grid_plan(0.5, 500.0).period == 4 and grid_plan(1.2, 500.0).period == 2
    assert grid_plan(2.0, 500.0).period == 1 and grid_plan(3.0, 500.0).sub == 2
    assert grid_plan(6.0, 500.0).sub == 4 and grid_plan(10.0, 500.0) is None
    # the whole beats' lead shrinks continuously between 1.1 and 1.6 notes a beat (no jump in star rating)
    leads = [grid_plan(2 * pb, 500.0).level_bonus for pb in (1.1, 1.3, 1.5, 1.6, 2.0)]
    assert leads[0] == pytest.approx(1.0) and leads[-2] == pytest.approx(0.3) and leads == sorted(leads, reverse=True)
    beat = 400.0
    onsets = np.sort(np.r_[np.arange(0, 60000, beat), np.arange(0, 60000, beat) + beat / 2])
    act = _clicks(onsets, np.ones(len(onsets)), int(60000 / STEP_MS))[None].repeat(3, axis=0)
    assert grid_fits(act, [TimingPoint(0.0, beat)], 60000.0)
    assert not grid_fits(act, [TimingPoint(0.0, beat * 1.01)], 60000.0)  # a BPM 1 % off drifts off the lines


def test_finest_division_and_its_snaps_grow_with_density() -> None:
    beat = 500.0  # 120 BPM: notes per beat = density / 2
    divs = [finest_division(d, beat) for d in (1.0, 3.0, 5.0, 9.0, 14.0)]
    assert divs == [1, 2, 4, 8, 16]
    for div in divs:  # every chart may use the coarser lines; only dense ones the fine lines
        assert {1, 2, 4} <= set(SNAP_DIVISORS[div])
    assert 16 not in SNAP_DIVISORS[8] and 16 in SNAP_DIVISORS[16] and 3 not in SNAP_DIVISORS[1]


def test_on_lines_and_min_separation() -> None:
    prefer = on_lines([TimingPoint(100.0, 400.0)], 1)
    assert list(prefer(np.array([100.0, 500.0, 540.0, 300.0]))) == [True, True, True, False]  # 15 % = 60 ms
    assert min_sep_frames(1, 400.0) == int(0.85 * 400.0 / STEP_MS) and min_sep_frames(16, 300.0) == 3
