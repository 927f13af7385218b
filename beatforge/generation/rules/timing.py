"""Song timing from audio (one BPM + offset: an osu! red line) and snapping note times to a beat grid.

Estimation (:func:`estimate_timing`), for songs of constant tempo:

1. The onset-strength envelope (spectral flux of a log-mel spectrogram; 512-sample window, hop 128 = 5.8 ms):
   librosa's ``onset.onset_strength``, written with numpy (:func:`beatforge.audio.onset_strength`).
2. A first tempo from librosa's tempogram and dynamic-programming beat tracker (hand-written with numpy in
   :mod:`beatforge.generation.rules.beat_tracking`, the same numbers without librosa's seconds of import), refined
   by a least-squares line through the tracked beat times (each beat numbered by rounding its distance from the
   first one in periods, so a skipped or doubled beat does not bend the line).
3. A fine search around that tempo by *epoch folding*: the envelope is folded at each candidate period and
   the candidate whose folded profile has the sharpest peak wins. Over a whole song a 0.01 % tempo error
   drifts by tens of ms, so the folded peak is a far sharper tempo meter than a tempogram bin.
4. The offset is the phase of that peak, then tempo and phase are refined together by a weighted
   least-squares line through the strongest onset peak near each grid beat. The offset is reported in
   ``[0, beat_length)``: the first beat line at or after 0 ms. No downbeat (bar) detection is made, and a
   grid lined up with off-beats (half a beat out) is not corrected.

Octave choice: beat trackers confuse a tempo with its double and half. Mappers chart most songs between
about 120 and 200 BPM, so the estimate is moved by octaves (x2 / x0.5) to the one nearest that band (distance
measured in log-tempo; a tempo inside the band is kept). A 95 BPM song therefore comes out as 190 BPM: the
grid is the same one with twice the lines, which is what a mania chart of it would use anyway.

Snapping (:func:`snap_times`, :func:`snap_chart`) moves each time to the nearest grid line of the coarsest
beat division within a tolerance, coarse divisions first (1, 2, 4, 3, 6, 8, 12, 16, as Mug Diffusion does),
vectorised over notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from beatforge.audio import onset_strength
from beatforge.charts.chart import ManiaChart, TimingPoint
from beatforge.constants import ONSET_HOP, SAMPLE_RATE
from beatforge.errors import BeatforgeError
from beatforge.formats.loader import load_chart
from beatforge.generation.rules.beat_tracking import beat_track, frames_to_time, tempo
from beatforge.generation.rules.peaks import strong_peaks

__all__ = ["DIVISOR_ORDER", "align_to_onsets", "beat_aligned_timing", "estimate_timing", "fold_bpm",
           "phase_from_beats", "snap_chart", "snap_times", "song_timing"]

# Coarse first: a time within tolerance of a 1/2 line is a 1/2 note even if a 1/16 line is nearer.
DIVISOR_ORDER: tuple[int, ...] = (1, 2, 4, 3, 6, 8, 12, 16)

PREFERRED_BPM = (120.0, 200.0)
_PHASE_BINS = 96  # folded-profile resolution: a 180 BPM beat -> 3.5 ms bins
_START_BPM = float(np.sqrt(PREFERRED_BPM[0] * PREFERRED_BPM[1]))  # librosa tempo prior centred on the band


# ------------------------------------------------------------------------------------------ helpers
def fold_bpm(bpm: float, bpm_range: tuple[float, float] = (60.0, 300.0), preferred=PREFERRED_BPM) -> float:
    """``bpm`` moved by octaves to the one nearest (in log-tempo) the ``preferred`` band, within ``bpm_range``."""
    lo, hi = bpm_range
    candidates = [bpm * 2.0**k for k in range(-4, 5)]
    inside = [c for c in candidates if lo <= c <= hi] or [bpm]

    def distance(c: float) -> float:
        if preferred[0] <= c <= preferred[1]:
            return 0.0
        return min(abs(np.log2(c / preferred[0])), abs(np.log2(c / preferred[1])))

    return min(inside, key=lambda c: (distance(c), abs(np.log2(c / bpm))))


def _onset_envelope(y: np.ndarray, sr: int) -> np.ndarray:
    # A short window: the flux of a 2048-sample (93 ms) frame peaks 20-40 ms after a real note's start,
    # one of 512 samples (23 ms) about 10 ms after (measured on ../shared/data, benchmarks/timing_accuracy.py).
    env = np.asarray(onset_strength(y, sr=sr), dtype=np.float64)
    env -= np.median(env)
    return np.clip(env, 0.0, None)


def _line_fit_period(beat_times: np.ndarray, period: float) -> float:
    """Least-squares beat period through beat times numbered by rounding to ``period`` (robust to skips)."""
    if len(beat_times) < 8:
        return period
    for _ in range(2):  # renumber once with the refined period
        idx = np.round((beat_times - beat_times[0]) / period)
        if np.ptp(idx) < 4:
            return period
        slope, _ = np.polyfit(idx, beat_times, 1)
        if not np.isfinite(slope) or slope <= 0:
            return period
        period = float(slope)
    return period


def _fold_scores(env: np.ndarray, frame_s: float, periods: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate period (s): peak sharpness of the folded envelope, and the phase (s) of the peak."""
    t = np.arange(len(env)) * frame_s
    w = env
    scores = np.empty(len(periods))
    phases = np.empty(len(periods))
    total = w.sum() or 1.0
    kernel = np.array([0.25, 0.5, 1.0, 0.5, 0.25])
    for i, p in enumerate(periods):  # a loop over a few hundred candidates; each step is vectorised
        ph = (t / p) % 1.0
        bins = np.minimum((ph * _PHASE_BINS).astype(np.int64), _PHASE_BINS - 1)
        hist = np.bincount(bins, weights=w, minlength=_PHASE_BINS)
        # circular smoothing so a peak split across two bins still counts
        padded = np.concatenate([hist[-2:], hist, hist[:2]])
        smooth = np.convolve(padded, kernel, mode="valid")
        k = int(np.argmax(smooth))
        scores[i] = smooth[k] / total
        # sub-bin phase: weighted centroid of the folded envelope around the peak bin
        lo, hi = (k - 1.5) / _PHASE_BINS, (k + 2.5) / _PHASE_BINS  # bin k covers [k, k+1)
        d = ((ph - lo) % 1.0) < (hi - lo)
        if w[d].sum() > 0:
            rel = ((ph[d] - lo) % 1.0) + lo
            phases[i] = (np.sum(rel * w[d]) / w[d].sum()) % 1.0 * p
        else:
            phases[i] = (k + 0.5) / _PHASE_BINS * p
    return scores, phases


def _refine_by_peaks(env: np.ndarray, frame_s: float, period: float, phase: float) -> tuple[float, float]:
    """Period and phase (s) from a weighted line through the strongest onset peak near each grid beat.

    The fold search leaves the tempo a few 0.01 % off on a short song, which moves the grid's start by
    several ms; a line through the peaks pins both ends. Peaks are sought within +-10 % of a beat of each
    line (vectorised over beats), placed to a fraction of a frame by parabolic interpolation, and weighted by
    strength; beats without a clear peak (below half the median peak) are left out.
    """
    n = len(env)
    half = max(int(round(0.1 * period / frame_s)), 1)
    k = np.arange(int(np.floor((n * frame_s - phase) / period)) + 1)
    centre = np.round((phase + k * period) / frame_s).astype(np.int64)
    ok = (centre - half >= 1) & (centre + half < n - 1)
    k, centre = k[ok], centre[ok]
    if len(k) < 8:
        return period, phase
    idx = centre[:, None] + np.arange(-half, half + 1)[None, :]
    win = env[idx]
    j = np.argmax(win, axis=1)
    peak = idx[np.arange(len(idx)), j]
    strength = env[peak]
    keep = strength > 0.5 * np.median(strength)
    if keep.sum() < 8:
        return period, phase
    a, b, c = env[peak - 1], env[peak], env[peak + 1]
    den = a - 2 * b + c
    frac = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)
    t = (peak + np.clip(frac, -0.5, 0.5)) * frame_s
    slope, icpt = np.polyfit(k[keep], t[keep], 1, w=np.sqrt(strength[keep]))
    if not np.isfinite(slope) or abs(slope / period - 1.0) > 0.01:
        return period, phase
    return float(slope), float(icpt) % float(slope)


# ---------------------------------------------------------------------------------------- estimation
def estimate_timing(y: np.ndarray, sr: int = SAMPLE_RATE, *, bpm_range: tuple[float, float] = (60, 300)) -> TimingPoint:
    """The main BPM and offset of a song of (mostly) constant tempo, as an osu! red line.

    Returns ``TimingPoint(time=offset_ms, beat_length=60000 / bpm, meter=4)`` with ``0 <= offset_ms <
    beat_length``: the first beat line at or after the audio's start. The BPM is octave-folded toward
    120-200 (see the module docstring) and kept inside ``bpm_range``.
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    lo, hi = float(bpm_range[0]), float(bpm_range[1])
    if len(y) < sr * 2 or not np.any(y):
        raise ValueError("estimate_timing needs at least 2 s of non-silent audio")
    env = _onset_envelope(y, sr)
    frame_s = ONSET_HOP / sr

    # 1. a first tempo and beat track, librosa's (on a 4x coarser envelope: the tracker's own hop is 512)
    coarse = env[: len(env) // 4 * 4].reshape(-1, 4).max(axis=1)
    tempo0 = tempo(coarse, sr=sr, hop_length=ONSET_HOP * 4, start_bpm=_START_BPM)
    if not np.isfinite(tempo0) or tempo0 <= 0:
        tempo0 = 120.0
    beats = frames_to_time(beat_track(coarse, sr=sr, hop_length=ONSET_HOP * 4, bpm=tempo0), sr=sr,
                           hop_length=ONSET_HOP * 4)
    period = _line_fit_period(np.asarray(beats, dtype=np.float64), 60.0 / tempo0)
    bpm = fold_bpm(60.0 / period, (lo, hi))

    # 2. fine search by folding: +-3 % coarse (0.05 % steps), then +-0.1 % fine (0.002 % steps)
    for span, step in ((0.03, 0.0005), (0.001, 0.00002)):
        cands = bpm * (1.0 + np.arange(-span, span + step / 2, step))
        cands = cands[(cands >= lo) & (cands <= hi)]
        if not len(cands):
            break
        scores, _ = _fold_scores(env, frame_s, 60.0 / cands)
        bpm = float(cands[int(np.argmax(scores))])

    # 3. phase of the folded peak at the final tempo
    beat_s = 60.0 / bpm
    _, phases = _fold_scores(env, frame_s, np.array([beat_s]))
    beat_s, phase_s = _refine_by_peaks(env, frame_s, beat_s, float(phases[0]))
    if lo <= 60.0 / beat_s <= hi:
        beat_s, phase_s = _refine_by_peaks(env, frame_s, beat_s, phase_s)
    beat_ms = beat_s * 1000.0
    offset_ms = float(phase_s * 1000.0) % beat_ms
    return TimingPoint(time=offset_ms, beat_length=beat_ms, meter=4)


# ------------------------------------------------------------------------------------------ snapping
def _ordered_divisors(divisors: Sequence[int]) -> list[int]:
    divs = sorted({int(d) for d in divisors if int(d) > 0})
    known = [d for d in DIVISOR_ORDER if d in divs]
    return known + [d for d in divs if d not in DIVISOR_ORDER]


def snap_times(
    times_ms: np.ndarray,
    timing: Sequence[TimingPoint],
    *,
    divisors: Sequence[int] = (1, 2, 3, 4, 6, 8, 12, 16),
    tol_ms: float = 10.0,
) -> np.ndarray:
    """Each time moved to the nearest line of the coarsest beat division within ``tol_ms``.

    Divisions are tried coarse first (1, 2, 4, 3, 6, 8, 12, 16, whichever of those ``divisors`` names):
    a time takes the first division that has a line within ``tol_ms``, and that division's nearest line.
    The grid is the one of the timing point in force at that time (the first point's grid, extended
    backwards, before it); a timing point's own time also counts as a whole-beat line for the times just
    before it. Times with no line within ``tol_ms`` (and NaN) stay as they are. Vectorised over times.
    """
    times = np.asarray(times_ms, dtype=np.float64)
    shape = times.shape
    t = times.reshape(-1)
    if not len(timing):
        raise ValueError("snap_times needs at least one timing point")
    tps = sorted(timing, key=lambda tp: tp.time)
    starts = np.array([tp.time for tp in tps], dtype=np.float64)
    lengths = np.array([tp.beat_length for tp in tps], dtype=np.float64)
    if np.any(~(lengths > 0)):
        raise ValueError("every timing point needs a positive beat_length")

    finite = np.isfinite(t)
    sec = np.clip(np.searchsorted(starts, np.where(finite, t, 0.0), side="right") - 1, 0, len(tps) - 1)
    origin, bl = starts[sec], lengths[sec]
    beats = (np.where(finite, t, 0.0) - origin) / bl
    # the next timing point's start, for times just before it
    nxt = np.minimum(sec + 1, len(tps) - 1)
    has_next = (sec + 1 < len(tps)) & finite
    next_start = starts[nxt]

    out = t.copy()
    pending = finite.copy()
    for d in _ordered_divisors(divisors):
        if not pending.any():
            break
        cand = origin + np.round(beats * d) / d * bl
        dist = np.abs(cand - t)
        if d == 1:
            dn = np.where(has_next, np.abs(next_start - t), np.inf)
            use_next = dn < dist
            cand = np.where(use_next, next_start, cand)
            dist = np.where(use_next, dn, dist)
        hit = pending & (dist <= tol_ms)
        out[hit] = cand[hit]
        pending &= ~hit
    return out.reshape(shape)


def snap_chart(
    chart: ManiaChart,
    timing: Sequence[TimingPoint] | None = None,
    *,
    divisors: Sequence[int] = (1, 2, 3, 4, 6, 8, 12, 16),
    tol_ms: float = 10.0,
) -> ManiaChart:
    """A copy of ``chart`` with note starts and long-note ends snapped (see :func:`snap_times`).

    ``timing`` defaults to the chart's own; the result carries the timing it was snapped to. A long note whose
    snapped end would not follow its start keeps its unsnapped end; two notes that land on the same time in
    one column become one.
    """
    tps = list(chart.timing if timing is None else timing)
    starts = snap_times(chart.starts, tps, divisors=divisors, tol_ms=tol_ms)
    ends = snap_times(chart.ends, tps, divisors=divisors, tol_ms=tol_ms)
    ends = np.where(ends > starts, ends, chart.ends)
    order = np.lexsort((chart.columns, starts))
    starts, ends, columns = starts[order], ends[order], chart.columns[order]
    keep = np.ones(len(starts), dtype=bool)
    if len(starts) > 1:
        keep[1:] = ~((starts[1:] == starts[:-1]) & (columns[1:] == columns[:-1]))
    return ManiaChart(chart.keys, starts[keep], ends[keep], columns[keep], tps, replace(chart.meta))


def align_to_onsets(
    tp: TimingPoint, onsets_ms: np.ndarray, weights: np.ndarray | None = None, *, sigma_ms: float = 8.0
) -> TimingPoint:
    """The same tempo with its phase moved so that ``onsets_ms`` fall on its 1/4-beat lines, and the strongest of
    them (``weights``) on whole beats.

    The audio-only estimate of :func:`estimate_timing` lands ~40 ms late on average (its onset envelope peaks
    after the attack); note onsets picked by the rhythm model, which was trained on human charts, carry the
    phase human mappers use. Phase candidates are scanned at 1 ms over a quarter beat (vectorised, onsets x
    phases), scored by a Gaussian of each onset's distance to the nearest line.
    """
    t = np.asarray(onsets_ms, dtype=np.float64)
    if len(t) < 8:
        return tp
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=np.float64)
    bl = tp.beat_length
    q = bl / 4.0
    phases = np.arange(0.0, q, 1.0)
    d = np.mod(t[None, :] - phases[:, None], q)
    d = np.minimum(d, q - d)
    ph = float(phases[np.argmax((w * np.exp(-((d / sigma_ms) ** 2))).sum(axis=1))])
    cands = ph + np.arange(4) * q
    d1 = np.mod(t[None, :] - cands[:, None], bl)
    d1 = np.minimum(d1, bl - d1)
    best = float(cands[np.argmax((w * np.exp(-((d1 / sigma_ms) ** 2))).sum(axis=1))])
    return TimingPoint(float(np.mod(best, bl)), bl, tp.meter)


def reference_timing(timing_from) -> list[TimingPoint]:
    """The timing points of the chart ``--timing-from`` names (read once, before any sampling)."""
    ref = load_chart(timing_from)
    if not ref.timing:
        raise BeatforgeError(f"--timing-from {timing_from}: the chart has no timing points")
    return list(ref.timing)


def song_timing(y: np.ndarray, acts: np.ndarray, audio_ms: float, *, bpm: float | None = None,
                offset: float | None = None, reference: list[TimingPoint] | None = None,
                estimate: TimingPoint | None = None) -> list[TimingPoint]:
    """The charts' timing: a reference chart's (:func:`reference_timing`), from ``bpm``/``offset``, or estimated
    from the waveform ``y`` (BPM; ``estimate`` where :func:`estimate_timing` already ran) and phase-aligned to the
    rhythm model's onsets ``acts`` (validated by the request beforehand)."""
    if reference is not None:
        return list(reference)
    if bpm is not None:
        return [TimingPoint(float(offset or 0.0), 60000.0 / bpm, 4)]
    tp = estimate if estimate is not None else estimate_timing(y)
    return [align_to_onsets(tp, *strong_peaks(acts, audio_ms))]


def phase_from_beats(tp: TimingPoint, beat_act: np.ndarray, frame_ms: float) -> TimingPoint:
    """The same tempo with its whole beats where a beat activation (one value per ``frame_ms``) sums highest,
    scanned at 1 ms over one beat (vectorised: phases x beats, linear interpolation between frames).

    Why: the onset-envelope phase of :func:`estimate_timing` is 10-50 ms off and often lands on the off-beat (half a
    beat out on PrincessOfWinter and MechaTribe Assault), which puts a Beginner chart's pulse between the beats. A
    network trained to mark beats finds the whole beat on all twelve songs of ../shared/data/songs, 3-11 ms from the
    chart's grid where the chart follows the audio (benchmarks/rhythm_cv.py prints it per song)."""
    act = np.asarray(beat_act, dtype=np.float64)
    bl = tp.beat_length
    n_beats = int(len(act) * frame_ms / bl)
    if n_beats < 4 or len(act) < 2:
        return tp
    def score(phases: np.ndarray) -> np.ndarray:
        x = (phases[:, None] + bl * np.arange(n_beats)[None, :]) / frame_ms
        i0 = np.clip(np.floor(x).astype(np.int64), 0, len(act) - 2)
        w = np.clip(x - i0, 0.0, 1.0)
        return ((1.0 - w) * act[i0] + w * act[i0 + 1]).sum(axis=1)

    phases = np.arange(0.0, bl, 1.0)
    best = float(phases[int(np.argmax(score(phases)))])
    # between frames the interpolated score is linear, so its maximum sits on a frame: a parabola through the score
    # one frame either side of it places the beat between frames (the activation's peak is smooth)
    left, mid, right = score(np.array([best - frame_ms, best, best + frame_ms]))
    den = left - 2.0 * mid + right
    shift = 0.5 * (left - right) / den * frame_ms if den < 0 else 0.0
    return TimingPoint(float((best + np.clip(shift, -frame_ms, frame_ms)) % bl), bl, tp.meter)


def beat_aligned_timing(y: np.ndarray, beat_act: np.ndarray, frame_ms: float, *,
                        latency_ms: float = 0.0) -> list[TimingPoint]:
    """The estimated tempo (:func:`estimate_timing`) with its phase from a beat activation
    (:func:`phase_from_beats`), moved ``latency_ms`` earlier (a learned constant: the note selector's
    ``latency_ms``, how far the beat network's beats sat after the training charts' grids)."""
    tp = phase_from_beats(estimate_timing(y), beat_act, frame_ms)
    return [TimingPoint(float((tp.time - latency_ms) % tp.beat_length), tp.beat_length, tp.meter)]


def grid_offset_ms(estimated: TimingPoint, chart_timing: Sequence[TimingPoint]) -> float | None:
    """How far (ms) an estimated grid's lines sit after a chart's own 1/4 lines: the signed distance of its
    phase from the chart's nearest 1/4 line, in (-1/8, 1/8] beat. None where the chart's timing is not one
    tempo within 0.1 % of the estimate (tempo changes, or another tempo octave): no single offset exists."""
    if not chart_timing or len({round(t.beat_length, 3) for t in chart_timing}) > 1:
        return None
    bl = chart_timing[0].beat_length
    if abs(bl / estimated.beat_length - 1.0) > 1e-3:
        return None
    return signed_phase(estimated.time, chart_timing[0].time, bl / 4.0)


def signed_phase(a_ms: float, b_ms: float, period_ms: float) -> float:
    """How far (ms) a grid through ``a_ms`` sits after one through ``b_ms`` of the same ``period_ms``, in
    (-period/2, period/2]."""
    d = (a_ms - b_ms) % period_ms
    return float(d - period_ms if d > period_ms / 2 else d)
