"""The generation core runs the shipped model end to end: audio features in, decoded charts out, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from beatforge.audio import log_mel
from beatforge.errors import BeatforgeError
from beatforge.generation.learned.chart_diffusion import load_mania_model, sample_charts


@pytest.fixture(scope="module")
def model():
    return load_mania_model()


def _clicks(seconds: float = 12.0, sr: int = 22050) -> np.ndarray:
    y = 0.01 * np.sin(2 * np.pi * 110 * np.arange(int(seconds * sr)) / sr)
    for t in np.arange(0.5, seconds, 0.35):  # a click every 350 ms
        i = int(t * sr)
        y[i : i + 200] += np.exp(-np.arange(200) / 30.0) * np.random.default_rng(int(t * 100)).standard_normal(200)
    return y.astype(np.float32)


def test_shipped_model_samples_charts(model) -> None:
    y = _clicks()
    mel = log_mel(y)
    kwargs = dict(keys=4, steps=4, guidance=2.0, seed=3, audio_seconds=len(y) / 22050)
    a, frames = sample_charts(model, mel, [{"sr": 2.0}, {"sr": 5.0}], **kwargs)
    b, _ = sample_charts(model, mel, [{"sr": 2.0}, {"sr": 5.0}], **kwargs)
    assert len(a) == 2 and all(c.keys == 4 for c in a)
    assert len(frames) == 2 and frames[0].shape[0] == 4 * 4  # (4 channels x keys, frames) per chart
    assert all(c.n_notes == 0 or c.last_ms <= 12000.0 for c in a)
    np.testing.assert_array_equal(a[0].starts, b[0].starts)  # a fixed seed gives the same chart


def test_key_count_the_model_lacks(model) -> None:
    with pytest.raises(BeatforgeError, match="trained for"):
        sample_charts(model, np.zeros((128, 640), dtype=np.float32), [{}], keys=9, steps=2)
