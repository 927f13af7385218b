"""madmom's pretrained onset and beat networks through the shim, on a short synthetic click track; activations are
cached per song content and read back without running the networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from beatforge.generation.learned import pretrained_audio
from beatforge.generation.learned.pretrained_audio import FPS, song_activations


@pytest.fixture(scope="module")
def clicks(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """SYNTHETIC: 8 s, a click every 500 ms from 0.5 s, over a quiet hum."""
    sr = 22050
    t = np.arange(8 * sr) / sr
    y = 0.01 * np.sin(2 * np.pi * 110 * t)
    at = np.arange(0.5, 7.6, 0.5)
    for s in at:
        i = int(s * sr)
        y[i:i + 300] += 0.8 * np.exp(-np.arange(300) / 40.0) * np.sin(2 * np.pi * 2000 * np.arange(300) / sr)
    path = tmp_path_factory.mktemp("clicks") / "clicks.wav"
    sf.write(path, y.astype(np.float32), sr)
    return path, at * 1000.0


def test_onsets_and_beats_of_a_click_track(clicks, tmp_path: Path, monkeypatch) -> None:
    path, at = clicks
    acts = song_activations(path, cache=tmp_path)
    assert len(acts.onset) == len(acts.beat) == len(acts.downbeat) and abs(len(acts.onset) - 8 * FPS) <= 2
    assert np.all((acts.downbeat >= 0) & (acts.downbeat <= 1))
    peaks = np.flatnonzero((acts.onset[1:-1] > 0.5) & (acts.onset[1:-1] >= acts.onset[:-2])
                           & (acts.onset[1:-1] >= acts.onset[2:])) + 1
    assert len(peaks) == len(at) and np.max(np.abs(peaks * 10.0 - at)) <= 20.0
    on_clicks = acts.at("beat", at[2:-2], 30.0)
    between = acts.at("beat", at[2:-2] + 250.0, 30.0)
    assert np.mean(on_clicks) > 2 * np.mean(between)

    def fail(_y):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(pretrained_audio, "compute_activations", fail)
    again = song_activations(path, cache=tmp_path)
    np.testing.assert_array_equal(again.onset, acts.onset)
    np.testing.assert_array_equal(again.beat, acts.beat)
    np.testing.assert_array_equal(again.downbeat, acts.downbeat)
