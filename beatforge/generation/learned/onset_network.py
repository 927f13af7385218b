"""The rhythm (onset) network at inference: a song's log-mel in, one note-onset probability per 11.6 ms frame out,
at each of a range of note densities. Which of those frames become notes is decided by rules
(:mod:`beatforge.generation.rules.peaks`, :mod:`beatforge.generation.rules.beat_grid`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from beatforge.checkpoints import load_rhythm_model
from beatforge.constants import RHYTHM_DENSITY_RANGE, RHYTHM_MEL_HOPS_PER_STEP
from beatforge.models.onset_net import OnsetNet

DEFAULT_RHYTHM_MODEL = Path(__file__).resolve().parents[3] / "models" / "rhythm"
# The densities (onsets per second) the network is run at once per song; other densities are interpolated
DENSITY_GRID = np.geomspace(0.5, 14.0, 10)


@torch.no_grad()
def onset_activation(net: OnsetNet, mel: np.ndarray, densities: np.ndarray | list[float]) -> np.ndarray:
    """(len(densities), T') onset probabilities, one row per conditioning density (onsets per second), one
    column per 11.6 ms frame of the song."""
    d = torch.as_tensor(np.asarray(densities, dtype=np.float32))
    t = mel.shape[1] // RHYTHM_MEL_HOPS_PER_STEP * RHYTHM_MEL_HOPS_PER_STEP
    m = torch.from_numpy(np.ascontiguousarray(mel[:, :t], dtype=np.float32))[None]
    # The network normalises per item, so one song is run once per density with the same mel (shared memory).
    logits = net(m.expand(len(d), -1, -1), d)
    return torch.sigmoid(logits).numpy()


def activation_at(acts: np.ndarray, density: float, grid: np.ndarray = DENSITY_GRID) -> np.ndarray:
    """Interpolate (in log density) between the activations computed on ``grid``."""
    x = np.log(np.clip(density, *RHYTHM_DENSITY_RANGE))
    lg = np.log(grid)
    if x <= lg[0]:
        return acts[0]
    if x >= lg[-1]:
        return acts[-1]
    j = int(np.searchsorted(lg, x)) - 1
    w = (x - lg[j]) / (lg[j + 1] - lg[j])
    return (1 - w) * acts[j] + w * acts[j + 1]


def load_default_rhythm(path: str | Path | None = None) -> OnsetNet:
    """The rhythm model at ``path`` (default: the shipped ``models/rhythm``)."""
    return load_rhythm_model(path or DEFAULT_RHYTHM_MODEL)


__all__ = ["DEFAULT_RHYTHM_MODEL", "DENSITY_GRID", "onset_activation", "activation_at", "load_default_rhythm"]
