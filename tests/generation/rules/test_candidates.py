"""Candidates and their features: grid lines of every timing point, off-grid onsets, metrical flags, loudness."""

from __future__ import annotations

import numpy as np

from beatforge.charts.chart import TimingPoint
from beatforge.generation.learned.pretrained_audio import Activations
from beatforge.generation.rules.candidates import FEATURES, SONG_FEATURES, candidates, loudness_db


def _acts(seconds: float, onsets_ms: list[float], beats_ms: list[float]) -> Activations:
    n = int(seconds * 100)
    t = np.arange(n) * 10.0
    on = sum(np.exp(-0.5 * ((t - o) / 10.0) ** 2) for o in onsets_ms) * 0.9
    bt = sum(np.exp(-0.5 * ((t - b) / 15.0) ** 2) for b in beats_ms) * 0.8
    return Activations(np.asarray(on, np.float32), np.asarray(bt, np.float32), np.asarray(bt, np.float32))


def test_grid_lines_and_off_grid_onsets_with_their_features() -> None:
    beat = 500.0
    acts = _acts(10.0, [1000.0, 1500.0, 2130.0], list(np.arange(0, 10000, beat)))
    y = np.random.default_rng(0).normal(0, 0.01, 10 * 22050).astype(np.float32)
    c = candidates(acts, y, [TimingPoint(0.0, beat)], 10000.0)
    assert c.features.shape == (len(c.times), len(SONG_FEATURES)) and np.all(np.diff(c.times) > 0)
    col = {name: c.features[:, i] for i, name in enumerate(SONG_FEATURES)}
    off = c.times[col["off_grid"] == 1]
    assert np.allclose(off, [2130.0], atol=10.0)  # 2130 is 5 ms from no line (the 1/4 lines are 125 ms apart)
    on_grid = col["off_grid"] == 0
    assert np.allclose((c.times[on_grid] / 125.0) % 1, 0)  # the 1/4 lines
    whole = col["whole"] == 1
    assert np.allclose((c.times[whole] / beat) % 1, 0) and col["half"][c.times == 250.0] == 1
    strongest = c.times[np.argsort(-col["onset"])[:3]]
    assert {1000.0, 1500.0} <= set(np.round(strongest)) and np.any(np.abs(strongest - 2130.0) <= 5.0)
    assert np.all(col["beat"][whole] > col["beat"][col["quarter"] == 1].max())
    full = c.with_request(1.5)
    assert full.shape == (len(c.times), len(FEATURES)) and np.allclose(full[:, -2], np.log(1.5))


def test_beat_of_the_bar_follows_the_downbeat_activation() -> None:
    beat = 500.0
    beats = list(np.arange(0, 20000, beat))
    acts = _acts(20.0, beats, beats)
    t = np.arange(len(acts.onset)) * 10.0
    down = sum(np.exp(-0.5 * ((t - b) / 15.0) ** 2) for b in beats[1::4])  # bars start on the second beat
    acts = Activations(acts.onset, acts.beat, np.asarray(down, np.float32))
    y = np.random.default_rng(0).normal(0, 0.01, 20 * 22050).astype(np.float32)
    c = candidates(acts, y, [TimingPoint(0.0, beat)], 20000.0)
    col = {name: c.features[:, i] for i, name in enumerate(SONG_FEATURES)}
    assert np.allclose(c.times[col["bar_1"] == 1] % (4 * beat), beat)
    assert np.allclose(c.times[col["bar_3"] == 1] % (4 * beat), 3 * beat)


def test_loudness_is_relative_to_the_song() -> None:
    y = np.r_[np.full(22050, 0.01), np.full(22050, 0.1)].astype(np.float32)
    db = loudness_db(y, 200)
    assert abs(db[150] - db[50] - 20.0) < 1.0
