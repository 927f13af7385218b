"""Where a note may go, and what each place sounds like: the candidates a note selector chooses from.

Candidates are the 1/4 lines of the song's beat grid and the onsets the pretrained onset network hears off those
lines (more than 25 ms from any). Each gets a fixed vector of hand-written features: the pretrained onset and beat
activations there and around it, its metrical place (whole, half or quarter beat, off the grid, beat of the bar
from the downbeat activation),
and the loudness of the moment and of its section. Which candidates become notes at a requested density is learned
(:mod:`beatforge.generation.learned.note_selector`); nothing here is fitted to charts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from beatforge.charts.chart import TimingPoint
from beatforge.constants import SAMPLE_RATE
from beatforge.generation.learned.pretrained_audio import FRAME_MS, Activations
from beatforge.generation.rules.beat_grid import distance_to_nearest, grid_lines
from beatforge.generation.rules.peaks import peak_candidates

# The song-level features, in column order (the selector's model file records them and is checked against them)
SONG_FEATURES: tuple[str, ...] = (
    "onset", "onset_at", "onset_vs_2s", "onset_vs_8s", "onset_rank", "beat", "downbeat",
    "whole", "half", "quarter", "off_grid", "bar_1", "bar_2", "bar_3", "bar_4",
    "loudness", "loudness_8s", "loudness_30s",
    "onset_prev_beat", "onset_prev_half", "onset_prev_quarter", "onset_next_quarter", "onset_next_half",
    "onset_next_beat",
)
# The request's features, appended per requested density
REQUEST_FEATURES: tuple[str, ...] = ("log_notes_per_beat", "log_beat_length")
FEATURES: tuple[str, ...] = SONG_FEATURES + REQUEST_FEATURES
OFF_GRID_MS = 25.0  # an onset this far from every 1/4 line is a candidate of its own
MATCH_WINDOW_MS = 30.0  # activations are read as the highest within this of a candidate


@dataclass(frozen=True)
class Candidates:
    """A song's candidate note times (ms) and their song-level features (N, len(SONG_FEATURES))."""

    times: np.ndarray
    features: np.ndarray
    beat_ms: float

    def with_request(self, notes_per_beat: float) -> np.ndarray:
        """The full feature matrix (N, len(FEATURES)) for a chart of ``notes_per_beat`` distinct times a beat."""
        req = np.array([np.log(max(notes_per_beat, 1e-3)), np.log(self.beat_ms / 500.0)], dtype=np.float32)
        return np.concatenate([self.features, np.broadcast_to(req, (len(self.times), 2))], axis=1)


def _moving_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean over ``n`` frames centred on each frame (cumulative sums: O(T))."""
    n = max(int(n), 1)
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    lo = np.clip(np.arange(len(x)) - n // 2, 0, len(x))
    hi = np.clip(np.arange(len(x)) + n - n // 2, 0, len(x))
    return (c[hi] - c[lo]) / np.maximum(hi - lo, 1)


def loudness_db(y: np.ndarray, n_frames: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """RMS level in dB per activation frame (10 ms), relative to the song's median frame."""
    hop = sr * FRAME_MS / 1000.0
    starts = np.clip((np.arange(n_frames) * hop).astype(np.int64), 0, max(len(y) - 1, 0))
    sq = np.concatenate([[0.0], np.cumsum(np.asarray(y, dtype=np.float64) ** 2)])
    win = int(2 * hop)
    ends = np.clip(starts + win, 0, len(y))
    rms = np.sqrt((sq[ends] - sq[starts]) / np.maximum(ends - starts, 1) + 1e-12)
    db = 20.0 * np.log10(rms + 1e-6)
    return db - np.median(db)


def candidates(acts: Activations, y: np.ndarray, timing: list[TimingPoint], audio_ms: float, *,
               sr: int = SAMPLE_RATE) -> Candidates:
    """The candidates of a song with this timing (grid lines of every timing point, plus off-grid onsets)."""
    n = len(acts.onset)
    lines, beats = grid_lines(timing, 0.0, audio_ms - 1.0, 4)
    peaks, _ = peak_candidates(acts.onset, min_sep=3, frame_ms=FRAME_MS, end_ms=audio_ms - 1.0)
    if len(lines):
        peaks = peaks[distance_to_nearest(peaks, lines) > OFF_GRID_MS]
    times = np.concatenate([lines, peaks])
    pos = np.concatenate([beats, np.full(len(peaks), np.nan)])
    order = np.argsort(times, kind="stable")
    times, pos = times[order], pos[order]
    beat_ms = float(timing[0].beat_length)
    idx = np.clip(np.round(times / FRAME_MS).astype(np.int64), 0, n - 1)

    onset = acts.at("onset", times, MATCH_WINDOW_MS)
    onset_at = acts.onset[idx]
    mean2 = _moving_mean(acts.onset, 2000 / FRAME_MS)[idx]
    mean8 = _moving_mean(acts.onset, 8000 / FRAME_MS)[idx]
    rank = np.argsort(np.argsort(onset, kind="stable"), kind="stable") / max(len(onset) - 1, 1)
    whole = np.isclose(pos, np.round(pos))
    half = np.isclose(2 * pos, np.round(2 * pos)) & ~whole
    off_grid = np.isnan(pos)
    quarter = ~off_grid & ~whole & ~half
    # beat of the bar: the phase (of four) whose whole beats carry the most downbeat activation is the first
    k = np.where(whole, np.round(np.nan_to_num(pos)).astype(np.int64) % 4, -1)
    downbeat = acts.at("downbeat", times, MATCH_WINDOW_MS)
    first = int(np.argmax([downbeat[k == p].sum() for p in range(4)]))
    bar = np.where(whole, (k - first) % 4, -1)
    db = loudness_db(y, n, sr)
    context = [acts.at("onset", times + d * beat_ms, MATCH_WINDOW_MS) for d in (-1, -0.5, -0.25, 0.25, 0.5, 1)]
    cols = [onset, onset_at, onset / (mean2 + 1e-3) / 10, onset / (mean8 + 1e-3) / 10, rank,
            acts.at("beat", times, MATCH_WINDOW_MS), downbeat, whole, half, quarter, off_grid,
            *(bar == b for b in range(4)),
            db[idx] / 20, _moving_mean(db, 8000 / FRAME_MS)[idx] / 20, _moving_mean(db, 30000 / FRAME_MS)[idx] / 20,
            *context]
    feats = np.stack([np.asarray(c, dtype=np.float32) for c in cols], axis=1)
    return Candidates(times, feats, beat_ms)


__all__ = ["FEATURES", "REQUEST_FEATURES", "SONG_FEATURES", "Candidates", "candidates", "loudness_db"]
