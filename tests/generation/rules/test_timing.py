"""Timing estimation (BPM + offset from audio) and beat-grid snapping."""

from __future__ import annotations

import numpy as np
import pytest

from beatforge.charts.chart import ManiaChart, TimingPoint
from beatforge.generation.rules.timing import align_to_onsets, estimate_timing, fold_bpm, snap_chart, snap_times
from tests.conftest import DATA

SR = 22050


def click_track(bpm: float, first_ms: float, seconds: float, sr: int = SR) -> np.ndarray:
    """Short noise bursts (2 ms decay) on every beat from ``first_ms`` on."""
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    n = int(0.01 * sr)
    burst = np.random.default_rng(0).standard_normal(n) * np.exp(-np.arange(n) / (0.002 * sr)) * 0.5
    t = first_ms / 1000.0
    while t < seconds - 0.05:
        i = int(round(t * sr))
        y[i : i + n] += burst[: len(y) - i].astype(np.float32)
        t += 60.0 / bpm
    return y


def _mod_err(a: float, b: float, period: float) -> float:
    d = (a - b) % period
    return min(d, period - d)


def test_click_track_bpm_and_offset():
    tp = estimate_timing(click_track(150.0, 237.0, 20.0), SR)
    assert abs(tp.bpm - 150.0) / 150.0 < 0.005
    assert 0.0 <= tp.time < tp.beat_length
    assert tp.meter == 4
    assert _mod_err(tp.time, 237.0, tp.beat_length) < 10.0


def test_fold_bpm_prefers_120_200():
    assert fold_bpm(85.0) == pytest.approx(170.0)
    assert fold_bpm(340.0, (60, 400)) == pytest.approx(170.0)
    assert fold_bpm(150.0) == pytest.approx(150.0)
    assert fold_bpm(110.0) == pytest.approx(110.0)  # 110 is nearer 120 than 220 is to 200


def test_snap_jittered_quarter_grid_is_exact():
    tp = TimingPoint(time=237.0, beat_length=400.0)  # 150 BPM
    grid = 237.0 + np.arange(200) * 100.0  # 1/4 lines
    jitter = np.random.default_rng(1).uniform(-5.0, 5.0, len(grid))
    snapped = snap_times(grid + jitter, [tp])
    np.testing.assert_allclose(snapped, grid, atol=1e-9)


def test_triplets_snap_to_thirds_not_quarters():
    tp = TimingPoint(time=0.0, beat_length=600.0)
    thirds = np.array([200.0, 400.0, 800.0, 1000.0])
    got = snap_times(thirds + np.array([4.0, -4.0, 3.0, -3.0]), [tp], tol_ms=10.0)
    np.testing.assert_allclose(got, thirds)
    # the 1/4 lines (150, 450) are 50 ms away: not chosen
    assert not np.any(np.isin(got, [150.0, 450.0, 750.0, 1050.0]))


def test_coarse_divisor_wins_over_nearer_fine_line():
    tp = TimingPoint(time=0.0, beat_length=480.0)
    # 1/16 line at 510 is 2 ms away, the 1/2 line at 480 is 8 ms away: 1/2 wins (coarse first)
    assert snap_times(np.array([488.0]), [tp])[0] == pytest.approx(480.0)


def test_far_time_and_nan_stay():
    tp = TimingPoint(time=0.0, beat_length=500.0)
    t = np.array([1015.6, np.nan, 2000.0])
    got = snap_times(t, [tp], divisors=(1, 2, 4), tol_ms=10.0)
    assert got[0] == pytest.approx(1015.6)
    assert np.isnan(got[1])
    assert got[2] == pytest.approx(2000.0)


def test_bpm_change_uses_timing_point_in_force():
    tps = [TimingPoint(0.0, 500.0), TimingPoint(10_010.0, 300.0)]  # 120 BPM, then 200 BPM off the old grid
    before = np.array([1003.0, 9497.0])
    after = np.array([10_010.0 + 300.0 + 4.0, 10_010.0 + 3 * 75.0 - 3.0])
    got = snap_times(np.concatenate([before, after]), tps, divisors=(1, 2, 4))
    np.testing.assert_allclose(got, [1000.0, 9500.0, 10_310.0, 10_235.0])
    # just before the change: the new section's first line counts
    assert snap_times(np.array([10_006.0]), tps, divisors=(1,))[0] == pytest.approx(10_010.0)


def test_snap_chart_starts_and_long_note_ends():
    tp = TimingPoint(0.0, 400.0)
    chart = ManiaChart(
        4,
        np.array([3.0, 98.0, 402.0, 401.0]),
        np.array([np.nan, 297.0, np.nan, np.nan]),
        np.array([0, 1, 2, 2]),
        [tp],
    )
    out = snap_chart(chart)
    np.testing.assert_allclose(out.starts, [0.0, 100.0, 400.0])  # the two column-2 notes merged
    assert out.ends[1] == pytest.approx(300.0)
    assert np.isnan(out.ends[0]) and np.isnan(out.ends[2])
    assert out.timing == [tp]


def test_stepmania_song_bpm():
    folder = DATA / "songs" / "stepmania" / "MechaTribe Assault"
    if not folder.is_dir():
        pytest.skip(f"real data absent: {folder} (the shared data folder sits beside the checkout)")
    from beatforge.audio import load_audio

    ogg = next(folder.glob("*.ogg"))
    tp = estimate_timing(load_audio(ogg), SR)
    assert abs(tp.bpm - 180.0) / 180.0 < 0.01


def test_align_to_onsets_recovers_the_phase() -> None:
    beat = 400.0
    rng = np.random.default_rng(0)
    onsets = 137.0 + beat * np.arange(100) + rng.normal(0, 3, 100)  # on beats
    onsets = np.sort(np.r_[onsets, 137.0 + beat * (np.arange(100) + 0.5)])  # and half beats, weaker
    w = np.r_[np.ones(100), 0.3 * np.ones(100)][np.argsort(np.r_[np.arange(100), np.arange(100) + 0.5])]
    tp = align_to_onsets(TimingPoint(0.0, beat), onsets, w)
    assert abs(((tp.time - 137.0 + beat / 2) % beat) - beat / 2) < 3.0


def test_the_beat_activation_sets_the_whole_beat() -> None:
    from beatforge.generation.rules.timing import phase_from_beats

    beat = 400.0
    t = np.arange(3000) * 10.0
    def pulse(at: float) -> np.ndarray:
        return np.exp(-0.5 * (((t - at + beat / 2) % beat - beat / 2) / 12.0) ** 2)

    act = pulse(137.0) + 0.3 * pulse(337.0)  # beats at 137 + 400 k ms, weaker off-beats
    tp = phase_from_beats(TimingPoint(0.0, beat), act, 10.0)
    assert abs(tp.time - 137.0) <= 1.5 and tp.beat_length == beat
