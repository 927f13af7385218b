"""A synthetic song library: click tracks and the osu!mania charts whose notes are exactly those clicks.

Everything here is made by this module (numpy noise and sine pings, beatforge's own .osu writer), not by a person
or a game: the charts say so in their metadata (Creator "beatforge synthetic", Tags "synthetic"). It exists so the
test suite, and CI without ``../shared/data``, can build a real dataset with ``beatforge dataset build`` and train
on it. The audio and the charts agree to the millisecond, which makes alignment checks (rate augmentation, window
cutting) exact: every note start is the onset of a ping, whose pitch rises with the note's column.

Layout written under ``root``::

    root/00 beatforge synthetic - Synthetic Song 01/
        audio.wav
        beatforge synthetic - Synthetic Song 01 (beatforge synthetic) [4K synthetic].osu
        ... one .osu per key count
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf

from beatforge.charts.chart import ChartMeta, ManiaChart, TimingPoint
from beatforge.constants import SAMPLE_RATE
from beatforge.fileio import atomic_write_text
from beatforge.formats.osu import mania_to_beatmap, write_osu

ARTIST = "beatforge synthetic"
CREATOR = "beatforge synthetic"
LEAD_IN_MS = 1000.0
TAIL_MS = 1500.0
# Notes are placed on lanes u in [0, 1); a chart of K keys puts lane u in column floor(u * K), so every key count
# shares one rhythm (and one audio) and the ping pitch rises with the column whatever K is.
_STREAM_4K = (0, 2, 1, 3, 2, 0, 3, 1)
_SECTIONS = ("stream", "jumps", "lns", "jumpstream")


def _lane_stream(step: int) -> float:
    c = _STREAM_4K[step % len(_STREAM_4K)]
    return (c + 0.25 + 0.5 * ((step // len(_STREAM_4K)) % 2)) / 4.0


def _lane_chord(c: int) -> float:
    return (c + 0.5) / 4.0


def _rhythm(rng: np.random.Generator, bpm: float, seconds: float) -> list[tuple[float, float, float]]:
    """(start ms, end ms or NaN, lane) of every note, sections of 8 beats in a song-specific order."""
    beat = 60000.0 / bpm
    end_ms = seconds * 1000.0 - TAIL_MS
    order = list(rng.permutation(len(_SECTIONS)))
    notes: list[tuple[float, float, float]] = []
    sec = 0
    b0 = 0.0
    while LEAD_IN_MS + b0 * beat < end_ms:
        kind = _SECTIONS[order[sec % len(order)]]
        if kind == "stream":  # 1/4 singles walking across the lanes
            for i in range(32):
                notes.append((b0 + i / 4, math.nan, _lane_stream(i)))
        elif kind == "jumps":  # 1/2 two-note chords
            for i in range(16):
                a = int(rng.integers(4))
                c = (a + 1 + int(rng.integers(3))) % 4
                notes += [(b0 + i / 2, math.nan, _lane_chord(a)), (b0 + i / 2, math.nan, _lane_chord(c))]
        elif kind == "lns":  # long notes of 3/4 beat, two lanes far apart taking turns every 1/2 beat
            for i in range(16):
                lane = _lane_chord(0 if i % 2 == 0 else 2) if (i // 4) % 2 == 0 else _lane_chord(1 if i % 2 else 3)
                length = min(0.75, 7.75 - i / 2)  # the last ones end before the next section starts
                notes.append((b0 + i / 2, b0 + i / 2 + length, lane))
        else:  # jumpstream: 1/4 stream with a chord note on every beat
            for i in range(32):
                u = _lane_stream(i)
                notes.append((b0 + i / 4, math.nan, u))
                if i % 4 == 0:
                    notes.append((b0 + i / 4, math.nan, (u + 0.5) % 1.0))
        b0 += 8.0
        sec += 1
    out = []
    for start_b, end_b, lane in notes:
        start = round(LEAD_IN_MS + start_b * beat)  # whole ms, as the .osu writer stores them
        if start >= end_ms:
            continue
        end = math.nan if math.isnan(end_b) else float(round(LEAD_IN_MS + end_b * beat))
        out.append((float(start), end, lane))
    return out


def _render(notes: list[tuple[float, float, float]], seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A click track: a 4 ms noise burst plus a decaying sine ping at each note start, over a quiet hum."""
    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    y = 0.03 * np.sin(2 * np.pi * 110.0 * t) + 0.004 * rng.standard_normal(n)
    ping_len = int(0.09 * SAMPLE_RATE)
    tp = np.arange(ping_len) / SAMPLE_RATE
    env = np.exp(-tp / 0.025)
    burst_len = int(0.004 * SAMPLE_RATE)
    for start, _end, lane in notes:
        i = int(round(start / 1000.0 * SAMPLE_RATE))
        if i >= n:
            continue
        freq = 300.0 * 2.0 ** (2.5 * lane)  # 300 Hz (left) to ~1.6 kHz (right)
        ping = 0.35 * env * np.sin(2 * np.pi * freq * tp)
        ping[:burst_len] += 0.3 * rng.uniform(-1.0, 1.0, burst_len)
        m = min(ping_len, n - i)
        y[i : i + m] += ping[:m]
    return (0.9 * y / np.max(np.abs(y))).astype(np.float32)


def make_synthetic_library(
    root: Path, *, n_songs: int = 6, keys: tuple[int, ...] = (4, 7), seconds: float = 24.0, seed: int = 0
) -> Path:
    """Write ``n_songs`` synthetic song folders under ``root`` (see the module docstring) and return ``root``.

    Each song has its own title (so the dataset split by song can hold some out), a BPM in 100-200, sections of
    streams, jumps, long notes and jumpstream in a song-specific order, a WAV click track at 22050 Hz, and one
    osu!mania chart per key count in ``keys``, all with the same note times. Deterministic for a seed.
    """
    if seconds * 1000.0 < LEAD_IN_MS + TAIL_MS + 2000.0:
        raise ValueError(f"seconds must leave room for notes (at least {(LEAD_IN_MS + TAIL_MS) / 1000 + 2:g})")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n_songs):
        rng = np.random.default_rng([seed, i])
        bpm = float(round(rng.uniform(100.0, 200.0)))
        title = f"Synthetic Song {i + 1:02d}"
        folder = root / f"{i:02d} {ARTIST} - {title}"
        folder.mkdir(exist_ok=True)
        notes = _rhythm(rng, bpm, seconds)
        sf.write(folder / "audio.wav", _render(notes, seconds, rng), SAMPLE_RATE, subtype="PCM_16")
        starts = np.array([s for s, _, _ in notes])
        ends = np.array([e for _, e, _ in notes])
        lanes = np.array([u for _, _, u in notes])
        for k in keys:
            cols = np.minimum(np.floor(lanes * k), k - 1).astype(np.int64)
            # A chord whose lanes share a column on few keys keeps one note (same time, same column).
            _, first = np.unique(np.stack([starts, cols.astype(np.float64)], axis=1), axis=0, return_index=True)
            keep = np.sort(first)
            meta = ChartMeta(
                title=title,
                artist=ARTIST,
                creator=CREATOR,
                version=f"{k}K synthetic",
                source_game="synthetic",
                tags="beatforge",
                od=8.0,
                hp=8.0,
            )
            chart = ManiaChart(
                k, starts[keep], ends[keep], cols[keep], [TimingPoint(LEAD_IN_MS, 60000.0 / bpm, 4)], meta
            )
            text = write_osu(mania_to_beatmap(chart, audio_filename="audio.wav"))
            atomic_write_text(folder / f"{ARTIST} - {title} ({CREATOR}) [{k}K synthetic].osu", text)
    return root


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Write a synthetic song library (click tracks + osu!mania charts).")
    ap.add_argument("out", type=Path)
    ap.add_argument("--songs", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=24.0)
    ap.add_argument("--seed", type=int, default=0)
    ns = ap.parse_args()
    print(make_synthetic_library(ns.out, n_songs=ns.songs, seconds=ns.seconds, seed=ns.seed))
