"""Building blocks shared by the audio encoder and the latent UNet: 1D tensors laid out as (B, C, L).

Two things Mug Diffusion had are left out on purpose:

- **S4 layers.** Mug put a unidirectional S4 layer after most UNet blocks (11 M of its 102 M UNet parameters).
  S4 needs a custom kernel package that is not kept up to date for current torch releases, and what it adds,
  long-range context along time, is already provided here by self-attention at the coarse UNet levels and by
  the audio encoder, whose deepest maps see about 64 latent steps per position.
- **The softmax-output rescaling.** Mug multiplied the attention weights by a learned per-distance factor after
  the softmax; that cannot go through ``scaled_dot_product_attention`` (which never exposes the weights), so
  only the additive relative-position bias is kept, and only in self-attention: prompt tokens have no position
  along the song, so a distance between a latent step and a feature token means nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

# Relative positions further apart than this share one learned bias (Mug's clamp: +-64 steps at each level).
REL_POS_MAX = 64


# ==================================================================================== helpers
def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of diffusion steps (DDPM / transformer style).

    Args:
        t: (B,) integer or float timesteps.
        dim: embedding width.

    Returns:
        (B, dim) float32: cosines of the lower half of the frequencies, then sines.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, 2*half)
    if dim % 2:
        emb = F.pad(emb, (0, 1))  # (B, dim)
    return emb


def group_norm(channels: int, max_groups: int = 32, min_group_size: int = 4) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= ``max_groups`` that divides ``channels`` and keeps at least
    ``min_group_size`` channels per group (where ``channels`` allows it).

    Level widths such as 384 or 48 are not all multiples of 32, and a size preset should not have to pick its
    channel counts around the norm layer; small presets would otherwise normalise each channel on its own.
    """
    limit = max(1, min(max_groups, channels // min_group_size))
    groups = max(g for g in range(1, limit + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels, eps=1e-6)


def zero_module(module: nn.Module) -> nn.Module:
    """Zero a module's parameters, so a residual branch ending in it starts as the identity."""
    for p in module.parameters():
        p.detach().zero_()
    return module


def maybe_checkpoint(fn: Callable[..., Tensor], *args: Tensor | None, enabled: bool) -> Tensor:
    """Run ``fn(*args)``, recomputing its activations in backward when ``enabled`` and gradients are on.

    Trades about a third more compute for not storing the activations inside the block; with no grad
    (sampling) there is nothing to save, so it runs plainly.
    """
    if enabled and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


class Downsample1D(nn.Module):
    """Halve the time axis with a stride-2 conv: (B, C, L) -> (B, C, L/2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample1D(nn.Module):
    """Double the time axis: nearest-neighbour then a conv (no checkerboard of a transposed conv)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))  # (B, C, 2L)


# ==================================================================================== blocks
class ResBlock1D(nn.Module):
    """Two convs with a residual path; optional scale-shift conditioning on an embedding (the timestep).

    The second conv is zero-initialised, so a fresh block is its skip path: a deep stack starts well-conditioned.
    ``dilations`` widen the receptive field of the audio encoder without extra parameters.
    """

    def __init__(self, in_channels: int, out_channels: int, *, emb_dim: int | None = None, dropout: float = 0.0,
                 dilations: tuple[int, int] = (1, 1), max_groups: int = 32, use_checkpoint: bool = False) -> None:
        super().__init__()
        d1, d2 = dilations
        self.use_checkpoint = use_checkpoint
        self.norm1 = group_norm(in_channels, max_groups)
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, padding=d1, dilation=d1)
        self.emb_proj = nn.Linear(emb_dim, 2 * out_channels) if emb_dim else None
        self.norm2 = group_norm(out_channels, max_groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_module(nn.Conv1d(out_channels, out_channels, 3, padding=d2, dilation=d2))
        self.skip = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        """x (B, C_in, L), emb (B, emb_dim) or None -> (B, C_out, L)."""
        return maybe_checkpoint(self._forward, x, emb, enabled=self.use_checkpoint)

    def _forward(self, x: Tensor, emb: Tensor | None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, C_out, L)
        h = self.norm2(h)
        if self.emb_proj is not None:
            scale, shift = self.emb_proj(F.silu(emb))[:, :, None].chunk(2, dim=1)  # (B, C_out, 1) each
            h = h * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class RelativePositionBias(nn.Module):
    """A learned additive attention bias per head and clamped distance (T5 / Mug style, without buckets).

    Costs (2 * max_distance + 1) * heads parameters and one (H, L, L) gather per call: cheap next to the
    attention itself at the levels where attention runs. Zero at init, so it starts neutral.
    """

    def __init__(self, heads: int, max_distance: int = REL_POS_MAX) -> None:
        super().__init__()
        self.max_distance = max_distance
        self.table = nn.Parameter(torch.zeros(2 * max_distance + 1, heads))

    def forward(self, length: int) -> Tensor:
        pos = torch.arange(length, device=self.table.device)
        rel = (pos[None, :] - pos[:, None]).clamp(-self.max_distance, self.max_distance) + self.max_distance  # (L, L)
        return self.table[rel].permute(2, 0, 1)  # (H, L, L)


class Attention(nn.Module):
    """Multi-head attention over (B, L, C) through ``scaled_dot_product_attention`` (fused kernels, no L x L
    weights kept for backward on GPU). Cross-attention when ``context_dim`` is given."""

    def __init__(self, dim: int, heads: int, *, context_dim: int | None = None, dropout: float = 0.0,
                 rel_pos: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads = heads
        kv_dim = context_dim or dim
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(kv_dim, dim, bias=False)
        self.to_v = nn.Linear(kv_dim, dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout))
        self.rel_bias = RelativePositionBias(heads) if rel_pos and context_dim is None else None

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """x (B, L, C), context (B, S, C_ctx) or None (self-attention) -> (B, L, C)."""
        B, L, C = x.shape
        ctx = x if context is None else context
        S = ctx.shape[1]
        q = self.to_q(x).view(B, L, self.heads, -1).transpose(1, 2)  # (B, H, L, Dh)
        k = self.to_k(ctx).view(B, S, self.heads, -1).transpose(1, 2)  # (B, H, S, Dh)
        v = self.to_v(ctx).view(B, S, self.heads, -1).transpose(1, 2)  # (B, H, S, Dh)
        bias = self.rel_bias(L).to(q.dtype) if self.rel_bias is not None else None  # (H, L, L)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (B, H, L, Dh)
        return self.to_out(out.transpose(1, 2).reshape(B, L, C))  # (B, L, C)


class GEGLU(nn.Module):
    """Gated feed-forward (Shazeer 2020): GELU-gated linear unit, then back to ``dim``."""

    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, 2 * mult * dim)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(mult * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        a, gate = self.proj(x).chunk(2, dim=-1)  # (B, L, mult*dim) each
        return self.out(a * F.gelu(gate))


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: self-attention, cross-attention to the context (when given), GEGLU feed-forward."""

    def __init__(self, dim: int, heads: int, *, context_dim: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, dropout=dropout, rel_pos=True)
        self.norm2 = nn.LayerNorm(dim) if context_dim else None
        self.attn2 = Attention(dim, heads, context_dim=context_dim, dropout=dropout) if context_dim else None
        self.norm3 = nn.LayerNorm(dim)
        self.ff = GEGLU(dim, dropout=dropout)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """x (B, L, C), context (B, S, C_ctx) -> (B, L, C)."""
        x = x + self.attn1(self.norm1(x))
        if self.attn2 is not None:
            x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class AttentionBlock1D(nn.Module):
    """A transformer over the time axis of a (B, C, L) map, as a residual branch (Mug's ContextualTransformer).

    GroupNorm and a 1x1 conv in, one :class:`TransformerBlock`, a zero-initialised 1x1 conv out: a new block is
    the identity, so inserting attention does not disturb a network at init. Without ``context_dim`` it is
    self-attention only (the audio encoder).
    """

    def __init__(self, channels: int, heads: int, *, context_dim: int | None = None, dropout: float = 0.0,
                 max_groups: int = 32, use_checkpoint: bool = False) -> None:
        super().__init__()
        self.use_checkpoint = use_checkpoint
        self.norm = group_norm(channels, max_groups)
        self.proj_in = nn.Conv1d(channels, channels, 1)
        self.block = TransformerBlock(channels, heads, context_dim=context_dim, dropout=dropout)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """x (B, C, L), context (B, S, C_ctx) or None -> (B, C, L)."""
        return maybe_checkpoint(self._forward, x, context, enabled=self.use_checkpoint)

    def _forward(self, x: Tensor, context: Tensor | None) -> Tensor:
        h = self.proj_in(self.norm(x)).transpose(1, 2)  # (B, L, C)
        h = self.block(h, context).transpose(1, 2)  # (B, C, L)
        return x + self.proj_out(h)
