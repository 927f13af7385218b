"""Peak picking on the rhythm network's activation: the N strongest, sub-frame times, preferences."""

from __future__ import annotations

import numpy as np

from beatforge.constants import RHYTHM_STEP_MS as STEP_MS
from beatforge.generation.rules.peaks import peak_candidates, pick_onsets, strong_peaks


def test_peak_picking_finds_the_n_strongest_with_subframe_times() -> None:
    act = np.zeros(400)
    true = np.array([50.3, 120.0, 200.7, 310.2])
    heights = np.array([0.9, 0.5, 0.8, 0.3])
    for t, h in zip(true, heights):
        idx = np.arange(400)
        act = np.maximum(act, h * np.exp(-0.5 * ((idx - t) / 1.2) ** 2))
    times, hs = peak_candidates(act)
    assert len(times) == 4 and np.allclose(np.sort(hs)[::-1], hs)
    got = pick_onsets(act, 3)
    assert np.allclose(got / STEP_MS, [50.3, 120.0, 200.7], atol=0.15)  # the weakest left out
    assert len(pick_onsets(act, 0)) == 0 and len(pick_onsets(act, 99)) == 4



def test_preferred_times_come_first_and_strong_peaks_are_the_top_half() -> None:
    act = np.zeros(400)
    for t, h in zip([50.0, 120.0, 200.0, 310.0], [0.9, 0.5, 0.8, 0.3]):
        act = np.maximum(act, h * np.exp(-0.5 * ((np.arange(400) - t) / 1.2) ** 2))
    got = pick_onsets(act, 2, prefer=lambda t: np.abs(t / STEP_MS - 310.0) < 1.0)
    assert np.allclose(np.sort(got) / STEP_MS, [50.0, 310.0], atol=0.15)  # the preferred one, then the strongest
    times, heights = strong_peaks(np.stack([act, act, act]), 400 * STEP_MS)
    assert len(times) == 4 and heights[0] == heights.max()  # at least 8 kept: all four
