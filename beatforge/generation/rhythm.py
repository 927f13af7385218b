"""Note times from the rhythm model: onset activations at several densities, and the N strongest peaks.

Peak picking is vectorised numpy: local maxima of the activation over +-``min_sep`` frames, the N highest kept,
each refined to a sub-frame time by a parabola through the peak and its two neighbours (frames are 11.6 ms; the
parabola brings the typical error under 3 ms on click tracks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from beatforge.models.onset_net import DENSITY_RANGE, MEL_HOPS_PER_STEP, OnsetNet
from beatforge.training.rhythm import STEP_MS

DEFAULT_RHYTHM_MODEL = Path(__file__).resolve().parents[2] / "models" / "rhythm"
DENSITY_GRID = np.geomspace(0.5, 14.0, 10)


@torch.no_grad()
def onset_activation(net: OnsetNet, mel: np.ndarray, densities: np.ndarray | list[float]) -> np.ndarray:
    """(len(densities), T') onset probabilities, one row per conditioning density (onsets per second), one
    column per 11.6 ms frame of the song."""
    d = torch.as_tensor(np.asarray(densities, dtype=np.float32))
    t = mel.shape[1] // MEL_HOPS_PER_STEP * MEL_HOPS_PER_STEP
    m = torch.from_numpy(np.ascontiguousarray(mel[:, :t], dtype=np.float32))[None]
    # The network normalises per item, so one song is run once per density with the same mel (shared memory).
    logits = net(m.expand(len(d), -1, -1), d)
    return torch.sigmoid(logits).numpy()


def activation_at(acts: np.ndarray, density: float, grid: np.ndarray = DENSITY_GRID) -> np.ndarray:
    """Interpolate (in log density) between the activations computed on ``grid``."""
    x = np.log(np.clip(density, *DENSITY_RANGE))
    lg = np.log(grid)
    if x <= lg[0]:
        return acts[0]
    if x >= lg[-1]:
        return acts[-1]
    j = int(np.searchsorted(lg, x)) - 1
    w = (x - lg[j]) / (lg[j + 1] - lg[j])
    return (1 - w) * acts[j] + w * acts[j + 1]


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
        w = max(int(window_s * 1000 / frame_ms), 1)
        local = np.convolve(act, np.ones(w) / w, mode="same")
        idx = np.clip((times / frame_ms).astype(np.int64), 0, len(act) - 1)
        score = heights / np.maximum(local[idx], 1e-3) ** evenness
        times = times[np.argsort(-score, kind="stable")]
    if prefer is not None and len(times):
        times = times[np.argsort(~prefer(times), kind="stable")]  # preferred first, strength order kept within
    return np.sort(times[: max(int(n), 0)])


def load_default_rhythm(path: str | Path | None = None) -> OnsetNet:
    from beatforge.training.rhythm import load_rhythm_model

    return load_rhythm_model(path or DEFAULT_RHYTHM_MODEL)


__all__ = ["DEFAULT_RHYTHM_MODEL", "DENSITY_GRID", "onset_activation", "activation_at", "peak_candidates",
           "pick_onsets", "load_default_rhythm"]
