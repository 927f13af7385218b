"""Write examples/synthetic-4k.osu: a synthetic 4K chart (made by this script, not by a person) that
exercises every pattern family the analyser rates, for the README's demo and for tests.

Usage: python scripts/make_example_chart.py [OUT.osu]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from beatforge.charts.chart import ChartMeta, ManiaChart, TimingPoint
from beatforge.fileio import atomic_write_text
from beatforge.formats.osu import mania_to_beatmap, write_osu

BPM = 170.0
BEAT = 60000.0 / BPM


def build() -> ManiaChart:
    starts, ends, cols = [], [], []

    def add(beat: float, col: int, length_beats: float = 0.0) -> None:
        t = 1000.0 + beat * BEAT
        starts.append(t)
        ends.append(t + length_beats * BEAT if length_beats else np.nan)
        cols.append(col)

    stream = [0, 2, 1, 3, 2, 0, 3, 1]
    for i in range(64):  # 16 beats of 1/4 stream
        add(i / 4, stream[i % 8])
    for i in range(32):  # 8 beats of jumpstream: a jump every other 1/4
        b = 16 + i / 4
        add(b, stream[i % 8])
        if i % 2 == 0:
            add(b, (stream[i % 8] + 2) % 4)
    for i in range(16):  # 4 beats of 1/4 jacks on column 1, chords on the beat
        b = 24 + i / 4
        add(b, 1)
        if i % 4 == 0:
            add(b, 3)
    for i in range(8):  # 8 beats of long notes, two columns alternating
        add(28 + i, i % 2 * 2, 0.75)
        add(28 + i + 0.5, 3 - i % 2 * 2)
    meta = ChartMeta(title="Synthetic Patterns", artist="beatforge", creator="beatforge (synthetic)",
                     version="4K Synthetic", source_game="synthetic", tags="synthetic example")
    return ManiaChart(4, np.array(starts), np.array(ends), np.array(cols), [TimingPoint(1000.0, BEAT, 4)], meta)


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[1] / "examples" / "synthetic-4k.osu"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    atomic_write_text(out, write_osu(mania_to_beatmap(build(), audio_filename="")))
    print(f"wrote {out}")
