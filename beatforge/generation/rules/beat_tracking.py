"""Tempo estimation and dynamic-programming beat tracking on an onset-strength envelope, hand-written with numpy:
librosa 0.11's ``feature.tempo`` and ``beat.beat_track`` (Ellis 2007), for the parameters timing estimation uses.

Why hand-written: importing librosa costs ~6 s of every ``beatforge generate`` run on a 2-core CPU (numba loads some
30 compiled functions, and scipy.signal comes with it), several times what the whole timing estimation computes.
These functions follow librosa's source operation for operation, in the same precision and order, so they reproduce
its results to floating-point tolerance (bit for bit where tested): the same tempo and the same beat frames on click
tracks and real songs (tests/generation/rules/test_beat_tracking.py compares them with librosa itself). The onset
envelope they read is :func:`beatforge.audio.onset_strength` (librosa's ``onset.onset_strength``, likewise).

* :func:`tempo`: the autocorrelation tempogram (Hann-windowed ``ac_size`` seconds of envelope around each frame,
  autocorrelated by FFT, each frame scaled to its maximum), averaged over the song, weighted by a log-normal prior
  around ``start_bpm`` (``std_bpm`` octaves), lags above ``max_tempo`` excluded; the tempo of the best lag.
* :func:`beat_track`: the envelope divided by its standard deviation, smoothed by a Gaussian of a beat's width
  (librosa's same-mode loop, which leaves out the first frame), then the dynamic program: each frame's best
  predecessor half a beat to two beats back, scored by its cumulative score less ``tightness`` times the squared log
  of the interval's ratio to the beat. librosa loops over frames in numba; here a block of half a beat of frames
  (which cannot be each other's predecessors) is done at once, vectorised over block x predecessors (~20 ms for a
  3-minute song). The last beat is the last local maximum of the cumulative score above half their median; the path
  is followed back, and leading and trailing beats whose local score is at most half the RMS of the smoothed beat
  scores are dropped.
"""

from __future__ import annotations

import math

import numpy as np

from beatforge.audio import hann_window

__all__ = ["beat_track", "frames_to_time", "tempo", "tempo_frequencies"]


# ------------------------------------------------------------------------------------------------ tempo
_TEMPOGRAM_BLOCK = 256  # frames per FFT block: 256 x 720 float64 values, ~1.5 MB


def _next_fast_len_real(n: int) -> int:
    """The smallest 5-smooth number (2^a 3^b 5^c) >= n: scipy.fft.next_fast_len(n, real=True)."""
    best = None
    p5 = 1
    while p5 < 2 * n:
        p35 = p5
        while p35 < 2 * n:
            m = p35
            while m < n:
                m *= 2
            best = m if best is None else min(best, m)
            p35 *= 3
        p5 *= 5
    return int(best)


def tempo_frequencies(n_bins: int, *, sr: float, hop_length: int) -> np.ndarray:
    """The tempo (BPM) of each autocorrelation lag 0..n_bins-1 (lag 0: inf), as librosa's ``tempo_frequencies``."""
    bpms = np.zeros(int(n_bins), dtype=np.float64)
    bpms[0] = np.inf
    bpms[1:] = 60.0 * sr / (hop_length * np.arange(1.0, n_bins))
    return bpms


def _tempogram(env: np.ndarray, win_length: int) -> np.ndarray:
    """librosa's ``feature.tempogram(onset_envelope=env, win_length=win_length)`` (Hann window, centred, inf-norm):
    shape (win_length, len(env)), C order like librosa's (the mean over frames then adds in librosa's order).

    Computed frame by frame along contiguous memory, in blocks of frames that stay in cache (~4x faster than
    librosa's transforms along the lag axis): each transform's numbers are the same either way.
    """
    n = env.shape[-1]
    half = win_length // 2
    padded = np.pad(env, [(half, half)], mode="linear_ramp", end_values=[0, 0])
    framed = np.lib.stride_tricks.sliding_window_view(padded, win_length)[:n]  # (frame, lag): librosa's frame().T
    window = hann_window(win_length)
    n_pad = _next_fast_len_real(2 * win_length - 1)  # librosa.autocorrelate: |FFT|^2, inverse FFT, first lags
    tg = np.empty((n, win_length), dtype=np.float64)
    for start in range(0, n, _TEMPOGRAM_BLOCK):
        spec = np.fft.rfft(framed[start : start + _TEMPOGRAM_BLOCK] * window, n=n_pad, axis=-1)
        ac = np.fft.irfft(spec.real**2 + spec.imag**2, n=n_pad, axis=-1)[:, :win_length]
        if not np.all(np.isfinite(ac)):
            raise ValueError("the onset envelope is not finite")
        # librosa.util.normalize(norm=np.inf): each frame divided by its largest magnitude (tiny ones left as they are)
        length = np.max(np.abs(ac), axis=-1, keepdims=True)
        length[length < np.finfo(ac.dtype).tiny] = 1.0
        tg[start : start + _TEMPOGRAM_BLOCK] = ac / length
    return np.ascontiguousarray(tg.T)


def tempo(onset_envelope: np.ndarray, *, sr: float, hop_length: int, start_bpm: float = 120.0,
          std_bpm: float = 1.0, ac_size: float = 8.0, max_tempo: float = 320.0) -> float:
    """The global tempo (BPM) of a 1-D onset envelope: librosa's ``feature.tempo(onset_envelope=..., sr=sr,
    hop_length=hop_length, start_bpm=start_bpm)`` (with its defaults ``std_bpm``, ``ac_size``, ``max_tempo``, mean
    aggregation, no explicit prior)."""
    env = np.asarray(onset_envelope)
    if env.ndim != 1:
        raise ValueError(f"tempo needs a 1-D onset envelope, got shape {env.shape}")
    if start_bpm <= 0:
        raise ValueError("start_bpm must be strictly positive")
    win_length = int(np.floor(int(ac_size * sr) // hop_length))  # librosa.time_to_frames(ac_size)
    tg = np.mean(_tempogram(env, win_length), axis=-1, keepdims=True)
    bpms = tempo_frequencies(win_length, sr=sr, hop_length=hop_length)
    logprior = -0.5 * ((np.log2(bpms) - np.log2(start_bpm)) / std_bpm) ** 2
    max_idx = int(np.argmax(bpms < max_tempo))
    logprior[:max_idx] = -np.inf
    best = np.argmax(np.log1p(1e6 * tg) + logprior[:, None], axis=-2)
    return float(np.take(bpms, best)[0])


# ------------------------------------------------------------------------------------------------ beats
def _local_score(env: np.ndarray, frames_per_beat: float) -> np.ndarray:
    """librosa's ``__beat_local_score`` (static tempo): the envelope, normalised by its standard deviation, convolved
    with a Gaussian window of +-one beat, summed in librosa's order (ascending window index, from 0.0). librosa's
    loop bounds leave the envelope's first frame out of every sum; so does this."""
    onsets = env / (env.std(ddof=1, axis=-1, keepdims=True) + np.finfo(env.dtype).tiny)
    fpb = float(frames_per_beat)
    # the window with libm's exp, as numba computes it (numpy's own exp may differ in the last bit)
    window = np.array([math.exp(-0.5 * (x * 32.0 / fpb) ** 2) for x in np.arange(-fpb, fpb + 1).tolist()])
    k_len = len(window)
    half = k_len // 2
    n = len(onsets)
    # localscore[i] = sum over k of window[k] * onsets[i + half - k] for 1 <= i + half - k <= n - 1
    padded = np.zeros(n + k_len, dtype=onsets.dtype)
    padded[half : half + n] = onsets
    padded[half] = 0.0  # the first frame, left out
    score = np.zeros(n, dtype=onsets.dtype)
    for k in range(k_len):  # adding exact zeros where librosa's loop skips leaves every sum unchanged
        start = 2 * half - k
        score += window[k] * padded[start : start + n]
    return score


def _beat_track_dp(localscore: np.ndarray, frames_per_beat: float, tightness: float) -> tuple[np.ndarray, np.ndarray]:
    """librosa's ``__beat_track_dp``: (backlink, cumscore). Frame i's predecessor is searched from ``i -
    round(fpb / 2)`` back to ``i - 2 fpb`` (the nearest wins ties, as librosa's strict ``>`` in that order does);
    frames before the first whose local score reaches 1 % of the maximum get no backlink."""
    n = len(localscore)
    fpb = float(frames_per_beat)
    near = int(np.round(fpb / 2))
    far = int(2 * fpb)
    if near < 1:
        raise ValueError(f"a beat of {fpb:g} frames is too short to track")
    tight = float(np.float32(tightness))  # librosa passes tightness as float32
    gaps = np.arange(near, far + 1)  # predecessor distances, nearest first
    # the penalty with libm's log, as numba computes it
    log_fpb = math.log(fpb)
    penalty = np.array([tight * (math.log(g) - log_fpb) ** 2 for g in gaps.tolist()])
    cumscore = np.empty(n, dtype=np.float64)
    best_loc = np.full(n, -1, dtype=np.int64)
    # row r: cumscore[r + far - gaps], the predecessors of frame r + far, nearest first (a view: it sees the writes)
    history = np.lib.stride_tricks.sliding_window_view(cumscore, len(gaps))[:, ::-1] if n >= len(gaps) else None
    for start in range(0, n, near):  # no frame of a block is another's predecessor: the block is one step
        stop = min(start + near, n)
        if start >= far and history is not None:  # every predecessor exists
            scores = history[start - far : stop - far] - penalty
            j = np.argmax(scores, axis=1)
            cumscore[start:stop] = localscore[start:stop] + scores[np.arange(stop - start), j]
            best_loc[start:stop] = np.arange(start, stop) - gaps[j]
            continue
        rows = np.arange(start, stop)
        loc = rows[:, None] - gaps[None, :]
        valid = loc >= 0
        scores = np.where(valid, cumscore[np.maximum(loc, 0)] - penalty[None, :], -np.inf)
        j = np.argmax(scores, axis=1)
        best = scores[np.arange(len(rows)), j]
        found = best > -np.inf
        cumscore[rows] = np.where(found, localscore[rows] + best, localscore[rows])
        best_loc[rows] = np.where(found, loc[np.arange(len(rows)), j], -1)
    above = np.flatnonzero(~(localscore < 0.01 * localscore.max()))
    best_loc[: int(above[0]) if len(above) else n] = -1  # before the first beat: no backlink
    return best_loc, cumscore


def _local_max(x: np.ndarray) -> np.ndarray:
    """librosa.util.localmax on a 1-D array: x[i] > x[i-1] and x[i] >= x[i+1]; never the first, and the last when it
    exceeds the one before."""
    out = np.zeros(len(x), dtype=bool)
    if len(x) >= 3:
        out[1:-1] = (x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])
    if len(x) >= 2:
        out[-1] = x[-1] > x[-2]
    return out


def _last_beat(cumscore: np.ndarray) -> int:
    """librosa's ``__last_beat``: the last local maximum of the cumulative score at or above half their median (the
    last frame where none is)."""
    peaks = _local_max(cumscore)
    if not peaks.any():
        return len(cumscore) - 1
    threshold = 0.5 * np.median(cumscore[peaks])  # librosa's masked-array median: the same number
    return int(np.flatnonzero(peaks & (cumscore >= threshold))[-1])


def _trim_beats(localscore: np.ndarray, beats: np.ndarray, trim: bool) -> np.ndarray:
    """librosa's ``__trim_beats``: frames from either end whose local score is at most the threshold (half the RMS of
    the beats' local scores smoothed by a 5-point Hann window; 0 without ``trim``) lose their beat."""
    out = beats.copy()
    w = np.hanning(5)
    smooth = np.convolve(localscore[beats], w)[len(w) // 2 : len(localscore) + len(w) // 2]
    if trim:
        sq = smooth**2
        threshold = 0.5 * ((np.cumsum(sq)[-1] / len(sq)) ** 0.5)  # numba's mean: a running sum, in order
    else:
        threshold = 0.0
    n = len(localscore)
    i = 0
    while i < n and localscore[i] <= threshold:
        out[i] = False
        i += 1
    i = n - 1
    while i >= 0 and localscore[i] <= threshold:
        out[i] = False
        i -= 1
    return out


def beat_track(onset_envelope: np.ndarray, *, sr: float, hop_length: int, bpm: float, tightness: float = 100.0,
               trim: bool = True) -> np.ndarray:
    """Beat frame indices (int64, ascending) of a 1-D onset envelope at a given tempo: librosa's
    ``beat.beat_track(onset_envelope=..., sr=sr, hop_length=hop_length, bpm=bpm)`` (units "frames"; see
    :func:`frames_to_time`). An all-zero envelope has no beats."""
    env = np.asarray(onset_envelope)
    if env.ndim != 1:
        raise ValueError(f"beat_track needs a 1-D onset envelope, got shape {env.shape}")
    if not env.any():
        return np.zeros(0, dtype=np.int64)
    if not bpm > 0:
        raise ValueError(f"bpm={bpm} must be strictly positive")
    if tightness <= 0:
        raise ValueError("tightness must be strictly positive")
    frames_per_beat = float(np.round(float(sr) / hop_length * 60.0 / np.float64(bpm)))
    localscore = _local_score(env, frames_per_beat)
    backlink, cumscore = _beat_track_dp(localscore, frames_per_beat, tightness)
    beats = np.zeros(len(env), dtype=bool)
    n = _last_beat(cumscore)
    while n >= 0:  # the path back from the last beat: one step per beat, a few hundred
        beats[n] = True
        n = int(backlink[n])
    return np.flatnonzero(_trim_beats(localscore, beats, trim))


def frames_to_time(frames: np.ndarray, *, sr: float, hop_length: int) -> np.ndarray:
    """Seconds of frame indices: librosa's ``frames_to_time`` (``frames * hop_length / sr``)."""
    return (np.asanyarray(frames) * hop_length) / float(sr)
