"""The rhythm (onset) network at inference: a song's log-mel in, one note-onset probability per 11.6 ms frame out,
at each of a range of note densities. Which of those frames become notes is decided by rules
(:mod:`beatforge.generation.rules.peaks`, :mod:`beatforge.generation.rules.beat_grid`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from beatforge.constants import RHYTHM_DENSITY_RANGE, RHYTHM_MEL_HOPS_PER_STEP
from beatforge.generation.learned.onnx_models import OnnxOnsetNet

if TYPE_CHECKING:
    from beatforge.models.onset_net import OnsetNet

DEFAULT_RHYTHM_MODEL = Path(__file__).resolve().parents[3] / "models" / "rhythm"
# The densities (onsets per second) the network is run at once per song; other densities are interpolated
DENSITY_GRID = np.geomspace(0.5, 14.0, 10)


class OnsetActivations:
    """A song's onset probabilities at each density of a grid, (len(densities), T') like an array, each row computed
    the first time it is read.

    Why lazy: the star-rating search reads the rows next to the densities it tries, a handful of the ten; the rest
    would be a second or more of convolutions on a 2-core CPU for nothing. The density-free input layers run once.
    ``net`` is the torch network or its ONNX Runtime twin (:class:`~.onnx_models.OnnxOnsetNet`).
    """

    def __init__(self, net: OnsetNet | OnnxOnsetNet, mel: np.ndarray, densities: np.ndarray | list[float]) -> None:
        self.net = net
        self.densities = np.asarray(densities, dtype=np.float32)
        t = mel.shape[1] // RHYTHM_MEL_HOPS_PER_STEP * RHYTHM_MEL_HOPS_PER_STEP
        m = np.ascontiguousarray(mel[:, :t], dtype=np.float32)[None]
        if isinstance(net, OnnxOnsetNet):
            self._trunk = net.trunk(m)
        else:
            import torch  # lazy: the ONNX path never imports it

            with torch.no_grad():
                self._trunk = net.trunk(torch.from_numpy(m).to(next(net.parameters()).device))
        self._rows: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.densities)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.densities), int(self._trunk.shape[-1])

    def __getitem__(self, i: int) -> np.ndarray:
        i = range(len(self))[i]  # negative indices; IndexError past the end
        if i not in self._rows:
            if isinstance(self.net, OnnxOnsetNet):
                logits = self.net.head(self._trunk, float(self.densities[i])).astype(np.float64)
                self._rows[i] = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
            else:
                import torch

                d = torch.from_numpy(self.densities[i:i + 1]).to(self._trunk.device)
                with torch.no_grad():
                    self._rows[i] = torch.sigmoid(self.net.head(self._trunk, d))[0].float().cpu().numpy()
        return self._rows[i]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:  # noqa: ANN001 (numpy's protocol)
        out = np.stack([self[i] for i in range(len(self))])
        return out if dtype is None else out.astype(dtype)


def onset_activation(net: OnsetNet | OnnxOnsetNet, mel: np.ndarray, densities: np.ndarray | list[float]) -> np.ndarray:
    """(len(densities), T') onset probabilities, one row per conditioning density (onsets per second), one
    column per 11.6 ms frame of the song."""
    return np.asarray(OnsetActivations(net, mel, densities))


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
    """The rhythm model at ``path`` (default: the shipped ``models/rhythm``) in torch."""
    from beatforge.checkpoints import load_rhythm_model  # lazy: torch

    return load_rhythm_model(path or DEFAULT_RHYTHM_MODEL)


__all__ = ["DEFAULT_RHYTHM_MODEL", "DENSITY_GRID", "OnsetActivations", "onset_activation", "activation_at",
           "load_default_rhythm"]
