"""Columns, chords and long notes at given note times, read from a sampled chart tensor.

The rhythm model says *when* notes go; the latent diffusion model's decoded frames (``(4K, W)`` logits in
:mod:`beatforge.charts.mania_tensor`'s layout, sampled for the song with the prompt and classifier-free guidance)
say *which columns*, *how many at once* and *how long*. For each note time:

* chord sizes: the notes-per-onset ratio of human charts at the requested star rating and key count
  (:func:`typical_chord_ratio`, shifted by the prompt's chord bias) sets how many notes there are in all; they go to
  the times whose frame has the largest sum of start probabilities (the model's own chords);
* columns = the highest start probabilities over the frame and its neighbours, shifted by the prompt's repeat
  bias towards (jacks) or away from (streams) the columns the previous time most likely used;
* a long note where the holding channel is on in the frames after the start; it ends where that run ends, cut
  before the column's next note. With a requested LN ratio, the notes with the highest holding probability become
  long notes instead, so the ratio is met exactly.

All vectorised over notes (top-k by sorting, runs by reverse cumulative minimum).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from beatforge.charts.chart import ManiaChart, TimingPoint
from beatforge.constants import FRAME_MS


@dataclass(frozen=True)
class PatternBias:
    """How a prompt's "more"/"less" skillset flags shift the assignment (0 = as the model says).

    ``chord``: added to the expected chord size; ``repeat``: added to the log-score of the previous time's
    likely columns (positive makes jacks, negative makes rolls and streams); ``trill``: the same for the columns of
    the time before that (ABAB trills); ``evenness``: how evenly notes spread over the song
    (:func:`beatforge.generation.rules.peaks.pick_onsets`).
    """

    chord: float = 0.0
    repeat: float = 0.0
    trill: float = 0.0
    evenness: float = 0.0

    @classmethod
    def from_patterns(cls, patterns: dict[str, str] | None, keys: int) -> PatternBias:
        """``{"jumpstream": "more", "jackspeed": "less"}`` -> a bias. Effects per skillset (more; less is the
        opposite): stream: single notes, no repeats; jumpstream: two-note chords; handstream: three-note chords;
        chordjack: bigger chords that repeat; jackspeed: repeats; technical: trills (ABAB) instead of plain
        alternation; stamina: notes spread evenly over the song instead of gathered in its loud parts."""
        effects = {  # chord, repeat, trill, evenness
            "stream": (-0.6, -1.5, 0.0, 0.0),
            "jumpstream": (1.2, -2.0, 0.0, 0.0),
            "handstream": (2.0 * min(1.0, keys / 4), -2.0, 0.0, 0.0),
            "chordjack": (1.2, 2.0, 0.0, 0.0),
            "jackspeed": (0.0, 3.0, 0.0, 0.0),
            "technical": (0.0, -1.0, 2.0, 0.0),
            "stamina": (0.0, 0.0, 0.0, 0.8),
        }
        total = np.zeros(4)
        for name, way in (patterns or {}).items():
            total += {"more": 1.0, "less": -1.0}[way] * np.asarray(effects[name])
        return cls(*map(float, total))


def typical_chord_ratio(star_rating: float, keys: int) -> float:
    """Notes per distinct onset time in human charts: 1.0 up to ~1.5 stars, rising ~0.12 per star at 4K and faster
    with more keys (fitted by eye to the 70 charts of ../shared/data: 1.0 at SR <= 1.5, 1.1-1.35 at 2-3,
    1.4-1.6 at 4.5-6 in 4K, 1.5-2.3 at 4.5-6.2 in 7K)."""
    return float(1.0 + 0.12 * max(star_rating - 1.2, 0.0) * np.sqrt(keys / 4.0))


def chord_sizes(strength: np.ndarray, total: int, keys: int) -> np.ndarray:
    """Integer sizes in [1, keys] summing to ~``total``: size = 1 + floor(lam * strength), ``lam`` found by
    bisection (vectorised), so the times the model itself made chords get them first."""
    n = len(strength)
    total = int(np.clip(total, n, n * keys))
    lo, hi = 0.0, 64.0
    for _ in range(40):
        lam = (lo + hi) / 2
        if np.clip(1 + np.floor(lam * strength), 1, keys).sum() < total:
            lo = lam
        else:
            hi = lam
    return np.clip(1 + np.floor(hi * strength), 1, keys).astype(np.int64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def _hold_run_end(hold: np.ndarray) -> np.ndarray:
    """(K, W) bool -> (K, W) int: for each frame f, the last frame of the run of held frames starting at f+1
    (f itself when frame f+1 is not held)."""
    k, w = hold.shape
    idx = np.broadcast_to(np.arange(w), (k, w))
    # first not-held frame at or after g, by a reverse cumulative minimum
    not_held = np.where(hold, w, idx)
    first_free = np.minimum.accumulate(not_held[:, ::-1], axis=1)[:, ::-1]
    nxt = np.concatenate([first_free[:, 1:], np.full((k, 1), w)], axis=1)  # first free frame after f
    return nxt - 1


def assign_notes(
    onsets_ms: np.ndarray,
    frames: np.ndarray,
    keys: int,
    *,
    bias: PatternBias = PatternBias(),
    chord_ratio: float | None = None,
    ln_ratio: float | None = None,
    min_ln_ms: float = 60.0,
    release_ms: float = 40.0,
    timing: list[TimingPoint] | None = None,
) -> ManiaChart:
    """A chart with a note (or chord) at each time of ``onsets_ms``, columns and long notes from ``frames``.

    Args:
        onsets_ms: sorted note times.
        frames: (4*keys, W) logits of a decoded latent (one column per FRAME_MS frame).
        chord_ratio: notes per onset time (e.g. :func:`typical_chord_ratio`), before the prompt's chord bias;
            None = the rounded sum of start probabilities at each time.
        ln_ratio: the share of notes to make long notes; None = where the model holds.
        min_ln_ms: long notes shorter than this become taps.
        release_ms: a long note ends at least this long before its column's next note.
    """
    t = np.asarray(onsets_ms, dtype=np.float64)
    n, w = len(t), frames.shape[1]
    if n == 0:
        return ManiaChart(keys, np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), list(timing or []))
    k = keys
    p_start = _sigmoid(frames[:k])  # (K, W)
    hold = frames[2 * k:3 * k] > 0
    p_hold = _sigmoid(frames[2 * k:3 * k])
    end_off = np.clip(frames[3 * k:4 * k], 0.0, 1.0)
    f = np.clip((t / FRAME_MS).astype(np.int64), 0, w - 1)
    own = p_start[:, f].T  # (N, K)
    near = np.maximum(own, np.maximum(p_start[:, np.clip(f - 1, 0, w - 1)], p_start[:, np.clip(f + 1, 0, w - 1)]).T)
    if chord_ratio is None:
        size = np.clip(np.round(own.sum(axis=1) + bias.chord), 1, k).astype(np.int64)
    else:
        ratio = float(np.clip(chord_ratio + 0.35 * bias.chord, 1.0, k))
        strength = own.sum(axis=1) + 1e-3 * np.cos(np.arange(n) * 0.7)  # tie-break, deterministic
        if bias.evenness:
            # chords where notes are sparse (evenness > 0) or dense (< 0): the density of hits over the song
            rate = np.searchsorted(t, t + 4000.0) - np.searchsorted(t, t - 4000.0)
            strength = strength * (rate / rate.mean()) ** (-2.0 * bias.evenness)
        size = chord_sizes(np.maximum(strength, 0.0), int(round(ratio * n)), k)
    base = np.log(near + 1e-4)
    # tiny deterministic tie-break that varies along the song, so equal scores do not always pick column 0
    base = base + 1e-6 * np.sin(np.arange(n)[:, None] * 1.7 + np.arange(k)[None, :] * 2.3)
    take = np.arange(k)[None, :] < size[:, None]
    order = np.argsort(-base, axis=1, kind="stable")
    if (bias.repeat or bias.trill) and n > 2:
        # Repeats (jacks) and trills depend on the columns actually chosen a time or two before: instead of a
        # sequential walk, re-choose all times against the previous pass's choice a few times (vectorised).
        for _ in range(3):
            chosen = np.zeros((n, k))
            np.put_along_axis(chosen, order, take.astype(np.float64), axis=1)
            prev = np.vstack([np.zeros((1, k)), chosen[:-1]])
            prev2 = np.vstack([np.zeros((2, k)), chosen[:-2]])
            order = np.argsort(-(base + bias.repeat * prev + bias.trill * prev2 * (1 - prev)), axis=1, kind="stable")
    rows = np.repeat(np.arange(n), k)[take.reshape(-1)]
    cols = order.reshape(-1)[take.reshape(-1)]
    starts = t[rows]
    fr = f[rows]
    # long notes
    run_end = _hold_run_end(hold)[cols, fr]
    model_end = (run_end + end_off[cols, run_end]) * FRAME_MS
    hold_p = p_hold[cols, np.clip(fr + 1, 0, w - 1)]
    if ln_ratio is None:
        is_ln = run_end > fr
    else:
        n_ln = int(round(np.clip(ln_ratio, 0.0, 1.0) * len(rows)))
        is_ln = np.zeros(len(rows), dtype=bool)
        if n_ln:
            is_ln[np.argsort(-hold_p, kind="stable")[:n_ln]] = True
    # a long note the model did not hold (forced by the ratio) lasts until the column's next note, at most 2 beats
    beat = (timing[0].beat_length if timing else 500.0)
    ends = np.where(run_end > fr, model_end, starts + 2 * beat)
    srt = np.lexsort((starts, cols))
    nxt = np.full(len(rows), np.inf)
    same = cols[srt][1:] == cols[srt][:-1]
    nxt_sorted = np.where(same, starts[srt][1:], np.inf)
    nxt[srt[:-1]] = nxt_sorted
    ends = np.minimum(ends, nxt - release_ms)
    is_ln &= (ends - starts) >= min_ln_ms
    ends = np.where(is_ln, ends, np.nan)
    o = np.lexsort((cols, starts))
    return ManiaChart(keys, starts[o], ends[o], cols[o], list(timing or []))


__all__ = ["PatternBias", "assign_notes", "chord_sizes", "typical_chord_ratio"]
