"""The rhythm model: where in a song notes go, at a requested note density.

A latent diffusion model over 46 ms chart frames learns rhythm slowly from a few dozen charts (its decoded notes
matched human charts at F1 0.29 within 50 ms after 2000 CPU steps). Rhythm is the part of a chart that follows the
audio most closely, and a small dilated convolution network over the log-mel learns it in minutes: this network
outputs one note-onset logit per 11.6 ms frame, conditioned on how many onsets per second the chart should have (a
Beginner chart keeps the strongest beats of the song, an Expert chart nearly every onset). Generation picks the
N strongest peaks of its output (N from the requested star rating) and lets the diffusion model choose columns,
chords and long notes at those times (``beatforge.generation.learned.onset_network`` runs this network,
``beatforge.generation.rules.beat_grid`` picks the times).

Input normalisation is per song (each mel band minus its mean over time, divided by one global spread), so loud and
quiet masters look alike; positive spectral flux is fed beside the mel because onsets are rises in energy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from beatforge.constants import RHYTHM_DENSITY_RANGE as DENSITY_RANGE
from beatforge.constants import RHYTHM_MEL_HOPS_PER_STEP as MEL_HOPS_PER_STEP


@dataclass
class OnsetNetConfig:
    n_mels: int = 128
    channels: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 1, 2, 4, 8)
    kernel: int = 3
    dropout: float = 0.1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> OnsetNetConfig:
        d = dict(d)
        if "dilations" in d:
            d["dilations"] = tuple(int(x) for x in d["dilations"])
        return cls(**d)


def density_code(onsets_per_s: torch.Tensor) -> torch.Tensor:
    """Log-density, centred: the conditioning scalar (B,) -> (B, 1)."""
    lo, hi = DENSITY_RANGE
    d = onsets_per_s.float().clamp(lo, hi)
    return (torch.log(d) - math.log(3.0))[:, None]


class _Block(nn.Module):
    """Dilated residual conv block with FiLM from the density code."""

    def __init__(self, ch: int, dilation: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(ch, ch, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation)
        self.norm = nn.GroupNorm(8, ch)
        self.film = nn.Linear(32, 2 * ch)
        self.mix = nn.Conv1d(ch, ch, 1)
        self.drop = nn.Dropout(dropout)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.conv(x))
        g, b = self.film(c)[:, :, None].chunk(2, dim=1)
        h = torch.nn.functional.gelu(h * (1 + g) + b)
        return x + self.mix(self.drop(h))


class OnsetNet(nn.Module):
    """(B, n_mels, T mel hops) log-mel + (B,) onsets per second -> (B, T // 2) onset logits."""

    def __init__(self, cfg: OnsetNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or OnsetNetConfig()
        c = self.cfg
        self.inp = nn.Conv1d(2 * c.n_mels, c.channels, 3, padding=1)
        self.cond = nn.Sequential(nn.Linear(1, 32), nn.GELU(), nn.Linear(32, 32), nn.GELU())
        self.blocks = nn.ModuleList(_Block(c.channels, d, c.kernel, c.dropout) for d in c.dilations)
        self.out = nn.Conv1d(c.channels, 1, 1)

    @staticmethod
    def normalise(mel: torch.Tensor) -> torch.Tensor:
        mel = mel.float()
        mel = mel - mel.mean(dim=-1, keepdim=True)
        return mel / mel.std(dim=(1, 2), keepdim=True).clamp_min(1e-3)

    def trunk(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T) log-mel -> (B, channels, T // 2) features before the density enters: what one song
        shares across densities."""
        t = mel.shape[-1] // MEL_HOPS_PER_STEP * MEL_HOPS_PER_STEP
        m = self.normalise(mel[..., :t])
        # torch.diff(m, prepend=m[..., :1]) written as a shifted difference (the same numbers): ONNX has no diff
        flux = torch.relu(m - torch.cat([m[..., :1], m[..., :-1]], dim=-1))
        x = torch.cat([m, flux], dim=1)
        x = torch.nn.functional.avg_pool1d(x, MEL_HOPS_PER_STEP)
        return self.inp(x)

    def head(self, h: torch.Tensor, onsets_per_s: torch.Tensor) -> torch.Tensor:
        """:meth:`trunk`'s features (B or 1, C, T') at densities (B,) -> (B, T') onset logits."""
        if h.shape[0] == 1 and len(onsets_per_s) > 1:
            h = h.expand(len(onsets_per_s), -1, -1)
        c = self.cond(density_code(onsets_per_s))
        for blk in self.blocks:
            h = blk(h, c)
        return self.out(h)[:, 0]

    def forward(self, mel: torch.Tensor, onsets_per_s: torch.Tensor) -> torch.Tensor:
        """Onset logits; a batch-1 ``mel`` with B densities is one song at B densities (its trunk runs once)."""
        return self.head(self.trunk(mel), onsets_per_s)


__all__ = ["OnsetNet", "OnsetNetConfig", "density_code"]
