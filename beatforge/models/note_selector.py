"""The note selector: which candidate times (:mod:`beatforge.generation.rules.candidates`) become notes, for a chart
of a requested density. A small MLP over each candidate's features, the features standardised by the training set's
mean and spread, and a mask of the features it uses (all kept in the module's buffers, so the model file carries
them). One more buffer, ``latency_ms``, is not used by the network: it is how far (ms) the beat grid estimated from
the audio sat after the training charts' own grids (their median), subtracted from a song's estimated phase at
generation, so charts land where the training library's mappers put the beat."""

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x * self.mask - self.mean) / self.std)[:, 0]


__all__ = ["NoteSelectorConfig", "NoteSelectorNet"]
