"""The note selector: which candidate times (:mod:`beatforge.generation.rules.candidates`) become notes, for a chart
of a requested density. A small MLP over each candidate's features, the features standardised by the training set's
mean and spread, and a mask of the features it uses (all kept in the module's buffers, so the model file carries
them). One more buffer, ``latency_ms``, is not used by the network: it is how far (ms) the beat grid estimated from
the audio sat after the training charts' own grids (their median), subtracted from a song's estimated phase at
generation, so charts land where the training library's mappers put the beat. And ``chord_coef``: how many notes
share a time at a given star rating and key count in the training charts (:meth:`NoteSelectorNet.chord_ratio`), the
split between chords and note times that the star-rating fit needs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class NoteSelectorConfig:
    n_features: int
    hidden: int = 64
    layers: int = 2

    def to_dict(self) -> dict:
        return asdict(self)


# notes per distinct time - 1 = c0 * h + c1 * h * sqrt(keys / 4), h = max(SR - 1.2, 0): the shape of the hand
# formula it replaces (rules.columns.typical_chord_ratio: no chords below ~1.2 stars), its slopes learned
CHORD_TERMS = 2


def chord_terms(star_rating: float, keys: int) -> torch.Tensor:
    h = max(float(star_rating) - 1.2, 0.0)
    return torch.tensor([h, h * (keys / 4.0) ** 0.5])


class NoteSelectorNet(nn.Module):
    """(N, n_features) candidate features -> (N,) logits of "a human mapper puts a note here"."""

    def __init__(self, cfg: NoteSelectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dims = [cfg.n_features] + [cfg.hidden] * cfg.layers
        blocks: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            blocks += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(dims[-1], 1))
        self.register_buffer("mean", torch.zeros(cfg.n_features))
        self.register_buffer("std", torch.ones(cfg.n_features))
        self.register_buffer("mask", torch.ones(cfg.n_features))
        self.register_buffer("latency_ms", torch.zeros(()))
        self.register_buffer("chord_coef", torch.zeros(CHORD_TERMS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x * self.mask - self.mean) / self.std)[:, 0]

    def chord_ratio(self, star_rating: float, keys: int) -> float:
        """Notes per distinct time of a chart at this star rating and key count, as the training charts had them
        (a least-squares fit; a star rating reached with chords rather than with more note times)."""
        extra = float(chord_terms(star_rating, keys) @ self.chord_coef)
        return 1.0 + min(max(extra, 0.0), keys - 1.0)


__all__ = ["CHORD_TERMS", "NoteSelectorConfig", "NoteSelectorNet", "chord_terms"]
