"""Training windows over osu!standard hit-object sequences, for the DiT (:mod:`beatforge.models.dit`).

osu-diffusion's data point (shared/reference/peers.md 2.2), with two fixes: maps shorter than a window are
padded (and masked out of the loss) instead of silently skipped, and windows are a map-style dataset indexed by
(map, start), so every epoch sees every window once in a shuffled order and any sampler (DDP included) can split
them. Per token:

* ``x``: the position in [-1, 1] of the playfield (2 x / 512 - 1, 2 y / 384 - 1), the diffusion target; the map
  is flipped horizontally and/or vertically with p 0.5 each, per window. osu-diffusion uses [0, 1]: centred
  targets with twice the spread give the denoiser a signal-to-noise ratio the cosine schedule was made for
  (the DDPM image convention), so fewer training steps reach a given spacing fit;
* ``times``: ms, relative to the window's first token plus a random offset in [0, ``time_jitter_ms``) (the model
  must not learn absolute song time);
* ``dist``: pixels to the previous datapoint (the first from the playfield centre): the spacing the remap keeps;
* ``kinds``: the 16 datapoint kinds; ``valid``: False on padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from beatforge.charts.standard_sequence import KIND, TIME, X, Y
from beatforge.constants import PLAYFIELD

CENTRE = (256.0, 192.0)


@dataclass
class StandardMap:
    """One beatmap's sequence ((N, 8), :mod:`beatforge.charts.standard_sequence`) and its style label."""

    seq: np.ndarray
    label: int
    map_id: int | None = None
    name: str = ""


def spacing(seq: np.ndarray) -> np.ndarray:
    """(N,) pixels from each datapoint to the one before it (the first: from the playfield centre)."""
    pos = seq[:, [X, Y]]
    prev = np.vstack([np.array(CENTRE)[None, :], pos[:-1]])
    return np.hypot(*(pos - prev).T)


def token_arrays(seq: np.ndarray) -> dict[str, np.ndarray]:
    """The model's inputs for a whole sequence: positions in [-1, 1], times (ms), spacing (px), kinds."""
    return {
        "x": (2.0 * seq[:, [X, Y]] / np.array(PLAYFIELD) - 1.0).T.astype(np.float32),
        "times": seq[:, TIME].astype(np.float32),
        "dist": spacing(seq).astype(np.float32),
        "kinds": seq[:, KIND].astype(np.int64),
    }


class StandardWindows(torch.utils.data.Dataset):
    """Every window of ``seq_len`` tokens at ``stride`` over the maps (a shorter map is one padded window)."""

    def __init__(self, maps: list[StandardMap], *, seq_len: int = 128, stride: int = 16, flip: bool = True,
                 time_jitter_ms: float = 100_000.0, seed: int = 0) -> None:
        self.maps = [m for m in maps if len(m.seq)]
        self.seq_len, self.stride, self.flip, self.jitter = seq_len, stride, flip, time_jitter_ms
        self.seed = seed
        self.epoch = 0
        self.tokens = [token_arrays(m.seq) for m in self.maps]
        index = []
        for i, m in enumerate(self.maps):
            n = len(m.seq)
            starts = np.arange(0, max(n - seq_len, 0) + 1, stride)
            if n > seq_len and starts[-1] != n - seq_len:
                starts = np.r_[starts, n - seq_len]  # the map's tail is seen too
            index.append(np.stack([np.full(len(starts), i), starts], axis=1))
        self.index = np.concatenate(index) if index else np.zeros((0, 2), dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Augmentations differ per epoch (and stay reproducible): call before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        m, s = (int(v) for v in self.index[i])
        rng = np.random.default_rng((self.seed, self.epoch, i))
        tok = self.tokens[m]
        n = min(self.seq_len, tok["times"].shape[0] - s)
        x = np.zeros((2, self.seq_len), np.float32)
        times = np.zeros(self.seq_len, np.float32)
        dist = np.zeros(self.seq_len, np.float32)
        kinds = np.zeros(self.seq_len, np.int64)
        x[:, :n] = tok["x"][:, s:s + n]
        if self.flip:
            for axis in (0, 1):
                if rng.random() < 0.5:
                    x[axis, :n] = -x[axis, :n]
        t = tok["times"][s:s + n]
        times[:n] = t - t[0] + (rng.random() * self.jitter if self.jitter else 0.0)
        dist[:n] = tok["dist"][s:s + n]
        kinds[:n] = tok["kinds"][s:s + n]
        valid = np.arange(self.seq_len) < n
        return {"x": torch.from_numpy(x), "times": torch.from_numpy(times), "dist": torch.from_numpy(dist),
                "kinds": torch.from_numpy(kinds), "valid": torch.from_numpy(valid),
                "label": torch.tensor(self.maps[m].label, dtype=torch.long)}


__all__ = ["StandardMap", "StandardWindows", "spacing", "token_arrays", "CENTRE"]
