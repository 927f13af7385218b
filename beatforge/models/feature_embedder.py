"""Prompt features -> cross-attention context for the denoiser (Mug Diffusion's BeatmapFeatureEmbedder).

Ids come from :class:`beatforge.features.FeatureTable`: every feature owns its own slots in one shared table,
with slot 0 meaning "unspecified", so the null prompt used for classifier-free guidance is a learned embedding
per feature rather than a padding row.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FeatureEmbedder(nn.Module):
    """(B, F) token ids -> (B, F, embed_dim): token embedding plus a learned embedding per feature position.

    The position term tells attention which feature a token belongs to even when it is "unspecified"; Mug had
    only the token embedding and relied on the ids being disjoint, which says nothing once a feature is absent.
    """

    def __init__(self, vocab_size: int, embed_dim: int, n_features: int) -> None:
        super().__init__()
        self.n_features = n_features
        self.tokens = nn.Embedding(vocab_size, embed_dim)
        self.positions = nn.Parameter(torch.randn(n_features, embed_dim) * 0.02)

    def forward(self, ids: Tensor) -> Tensor:
        """ids (B, F) int64 -> context (B, F, embed_dim)."""
        if ids.ndim != 2 or ids.shape[1] != self.n_features:
            raise ValueError(f"prompt ids must be (batch, {self.n_features}), got {tuple(ids.shape)}")
        return self.tokens(ids) + self.positions[None]  # (B, F, D)
