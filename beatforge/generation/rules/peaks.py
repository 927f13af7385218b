"""Note times as the strongest peaks of the rhythm network's activation (the rule for songs whose onsets do not follow
a beat grid, for streams, and for ``--no-snap``).

Peak picking is vectorised numpy: local maxima of the activation over +-``min_sep`` frames, the N highest kept,
each refined to a sub-frame time by a parabola through the peak and its two neighbours (frames are 11.6 ms; the
parabola brings the typical error under 3 ms on click tracks).
"""

from __future__ import annotations

import numpy as np

from beatforge.constants import RHYTHM_STEP_MS as STEP_MS


def peak_candidates(act: np.ndarray, *, min_sep: int = 3, start_ms: float = 0.0, end_ms: float | None = None,
                    frame_ms: float = STEP_MS) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of ``act`` (strict over +-min_sep frames, first of a plateau), as (times ms, heights), highest
    first. Times are parabola-refined."""
    n = len(act)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    pad = np.pad(act, min_sep, constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * min_sep + 1)
    is_max = (act >= win.max(axis=1)) & (act > 0)
    # plateau: keep the first frame only
    is_max[1:] &= ~(is_max[:-1] & (act[1:] == act[:-1]))
    idx = np.flatnonzero(is_max)
    left = act[np.clip(idx - 1, 0, n - 1)]
    right = act[np.clip(idx + 1, 0, n - 1)]
    mid = act[idx]
    den = left - 2 * mid + right
    frac = np.where(np.abs(den) > 1e-9, 0.5 * (left - right) / np.where(den == 0, 1, den), 0.0)
    times = (idx + np.clip(frac, -0.5, 0.5)) * frame_ms
    keep = times >= start_ms
    if end_ms is not None:
        keep &= times <= end_ms
    times, heights = times[keep], mid[keep]
    order = np.argsort(-heights, kind="stable")
    return times[order], heights[order]


def evened(act: np.ndarray, values: np.ndarray, idx: np.ndarray, evenness: float, window_s: float,
            frame_ms: float) -> np.ndarray:
    """``values`` at frames ``idx`` divided by the mean activation over ``window_s`` around them, to the power
    ``evenness`` (> 0: quiet parts of the song gain, loud parts lose)."""
    w = max(int(window_s * 1000 / frame_ms), 1)
    local = np.convolve(act, np.ones(w) / w, mode="same")
    return values / np.maximum(local[idx], 1e-3) ** evenness


def pick_onsets(act: np.ndarray, n: int, *, evenness: float = 0.0, window_s: float = 8.0, prefer=None,
                **kw) -> np.ndarray:
    """The ``n`` strongest peaks of ``act``, as sorted times (ms).

    ``evenness`` > 0 spreads the notes more evenly over the song (each peak's height is divided by the mean
    activation around it, over ``window_s``, to that power: quiet parts get more notes, loud parts fewer); < 0
    concentrates them in the busy parts. ``prefer``: a function of candidate times -> bool mask; preferred
    candidates are taken first (e.g. those on the beat lines a sparse chart uses), the others only after them.
    """
    times, heights = peak_candidates(act, **kw)
    if evenness and len(times):
        frame_ms = kw.get("frame_ms", STEP_MS)
        idx = np.clip((times / frame_ms).astype(np.int64), 0, len(act) - 1)
        score = evened(act, heights, idx, evenness, window_s, frame_ms)
        times = times[np.argsort(-score, kind="stable")]
    if prefer is not None and len(times):
        times = times[np.argsort(~prefer(times), kind="stable")]  # preferred first, strength order kept within
    return np.sort(times[: max(int(n), 0)])


def strong_peaks(acts: np.ndarray, audio_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """The stronger half (at least 8) of the rhythm model's peaks at a middle density (strong, frequent notes),
    highest first: what the timing's phase is aligned to, and what the grid-fit check measures."""
    times, heights = peak_candidates(acts[len(acts) // 2], start_ms=0.0, end_ms=audio_ms)
    n = max(int(len(times) * 0.5), 8)
    return times[:n], heights[:n]


__all__ = ["peak_candidates", "evened", "pick_onsets", "strong_peaks"]
