"""The chart VAE: a 1D convolutional KL-autoencoder over the padded chart tensor (Mug Diffusion's AutoencoderKL).

Input and output are the ``(B, 4*MAX_KEYS, T)`` chart tensor of :mod:`beatforge.charts.mania_tensor`, every key
count padded to ``MAX_KEYS`` columns (:func:`~beatforge.charts.mania_tensor.pad_keys`). The latent is
``(B, z_channels, T / stride)`` with ``stride = 2 ** (len(channel_mult) - 1)`` (8 by default: one latent step per
371.5 ms). One model serves every key count: the key count is a learned embedding that modulates (FiLM) every
residual block of the encoder and the decoder, and the encoder zeroes the padded columns before it reads the
tensor, so whatever lies there cannot leak into the latent.

The decoder's output is in "chart space": the is_start and is_holding blocks are logits (what the loss and
``mania_tensor.decode(..., from_logits=True)`` read), the two offset blocks have been through a sigmoid and lie in
[0, 1]. Padded columns come out "off" (logit :data:`PAD_LOGIT`, offset 0) so a decoded tensor is a valid padded
chart tensor as it stands.

Architecture (Mug's, with the key condition added): conv in; per level ``num_res_blocks`` GroupNorm+SiLU residual
blocks, then a stride-2 conv (all levels but the last); two middle blocks; GroupNorm, SiLU, conv out to
``2 * z_channels`` (mean, log-variance). The decoder mirrors it with ``num_res_blocks + 1`` blocks per level and
nearest-neighbour x2 + conv upsampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from beatforge.config import DDConfig, FirstStageConfig
from beatforge.constants import MAX_KEYS
from beatforge.models.layers import Downsample1D, Upsample1D

# Logit written into the is_start / is_holding rows of padded columns: sigmoid(-20) ~ 2e-9, "off" by any threshold.
PAD_LOGIT = -20.0

__all__ = ["PAD_LOGIT", "ChartVAE", "Decoder", "DiagonalGaussian", "Encoder", "column_mask"]


# ==================================================================================== helpers
def column_mask(keys: Tensor, width: int = MAX_KEYS) -> Tensor:
    """(B,) int64 key counts -> (B, width) bool, True for the columns a chart of that key count uses."""
    return torch.arange(width, device=keys.device)[None, :] < keys[:, None]


def _channel_mask(keys: Tensor, width: int = MAX_KEYS) -> Tensor:
    """(B,) key counts -> (B, 4*width, 1) float: 1 on the rows of real columns in each of the four blocks."""
    cols = column_mask(keys, width).float()  # (B, W)
    return cols.repeat(1, 4)[:, :, None]  # (B, 4W, 1): block-major, as pad_keys lays the rows out


def _check_keys(keys: Tensor, batch: int) -> None:
    if keys.shape != (batch,):
        raise ValueError(f"keys must have shape ({batch},), one key count per example, got {tuple(keys.shape)}")
    if keys.numel() and (int(keys.min()) < 1 or int(keys.max()) > MAX_KEYS):
        raise ValueError(f"key counts must be 1-{MAX_KEYS}, got {keys.tolist()}")


class DiagonalGaussian:
    """The posterior q(z | x): a diagonal Gaussian over ``(B, z_channels, L)``.

    The log-variance is clamped to [-30, 20] (as in latent-diffusion) so an untrained or diverging encoder cannot
    give exp() an infinite or zero variance.
    """

    def __init__(self, moments: Tensor) -> None:
        # moments: (B, 2*Z, L) -> mean, logvar: (B, Z, L) each
        self.mean, logvar = torch.chunk(moments, 2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """A reparameterised sample (differentiable in mean and std)."""
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise

    def mode(self) -> Tensor:
        return self.mean

    def kl(self) -> Tensor:
        """KL(q || N(0, I)) per example, summed over channels and time: (B,)."""
        return 0.5 * torch.sum(self.mean.pow(2) + self.var - 1.0 - self.logvar, dim=(1, 2))


# ==================================================================================== blocks
class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice with a skip, the second norm FiLM'd by the key embedding.

    The FiLM projection starts at zero, so at initialisation every key count sees the same network and the
    key-specific behaviour is learned as a deviation from it.
    """

    def __init__(self, c_in: int, c_out: int, *, groups: int, key_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(key_dim, 2 * c_out)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, key_emb: Tensor) -> Tensor:
        # x: (B, C_in, T), key_emb: (B, E) -> (B, C_out, T)
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(F.silu(key_emb))[:, :, None].chunk(2, dim=1)  # (B, C_out, 1) each
        h = self.norm2(h) * (1.0 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class Encoder(nn.Module):
    """(B, 4*MAX_KEYS, T) chart tensor + (B,) keys -> (B, 2*z_channels, T/stride) posterior moments."""

    def __init__(self, dd: DDConfig) -> None:
        super().__init__()
        g, e, p = dd.num_groups, dd.key_embed_dim, dd.dropout
        chans = [dd.middle_channels * m for m in dd.channel_mult]
        self.key_embed = nn.Embedding(MAX_KEYS + 1, e)  # indexed by the key count itself; row 0 unused
        self.conv_in = nn.Conv1d(dd.x_channels, dd.middle_channels, 3, padding=1)
        self.blocks = nn.ModuleList()
        self.downs = nn.ModuleList()
        c = dd.middle_channels
        for i, c_out in enumerate(chans):
            for _ in range(dd.num_res_blocks):
                self.blocks.append(ResBlock(c, c_out, groups=g, key_dim=e, dropout=p))
                c = c_out
            self.downs.append(Downsample1D(c) if i < len(chans) - 1 else nn.Identity())
        self.n_per_level = dd.num_res_blocks
        self.mid = nn.ModuleList([ResBlock(c, c, groups=g, key_dim=e, dropout=p) for _ in range(2)])
        self.norm_out = nn.GroupNorm(g, c)
        self.conv_out = nn.Conv1d(c, 2 * dd.z_channels, 3, padding=1)

    def forward(self, x: Tensor, keys: Tensor) -> Tensor:
        emb = self.key_embed(keys)  # (B, E)
        h = self.conv_in(x)
        for level, down in enumerate(self.downs):
            for block in self.blocks[level * self.n_per_level : (level + 1) * self.n_per_level]:
                h = block(h, emb)
            h = down(h)
        for block in self.mid:
            h = block(h, emb)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """(B, z_channels, L) latent + (B,) keys -> (B, 4*MAX_KEYS, L*stride) raw outputs (before the chart head)."""

    def __init__(self, dd: DDConfig) -> None:
        super().__init__()
        g, e, p = dd.num_groups, dd.key_embed_dim, dd.dropout
        chans = [dd.middle_channels * m for m in dd.channel_mult]
        self.key_embed = nn.Embedding(MAX_KEYS + 1, e)
        c = chans[-1]
        self.conv_in = nn.Conv1d(dd.z_channels, c, 3, padding=1)
        self.mid = nn.ModuleList([ResBlock(c, c, groups=g, key_dim=e, dropout=p) for _ in range(2)])
        self.blocks = nn.ModuleList()
        self.ups = nn.ModuleList()
        for i, c_out in reversed(list(enumerate(chans))):
            for _ in range(dd.num_res_blocks + 1):
                self.blocks.append(ResBlock(c, c_out, groups=g, key_dim=e, dropout=p))
                c = c_out
            self.ups.append(Upsample1D(c) if i > 0 else nn.Identity())
        self.n_per_level = dd.num_res_blocks + 1
        self.norm_out = nn.GroupNorm(g, c)
        self.conv_out = nn.Conv1d(c, dd.x_channels, 3, padding=1)

    def forward(self, z: Tensor, keys: Tensor) -> Tensor:
        emb = self.key_embed(keys)  # (B, E)
        h = self.conv_in(z)
        for block in self.mid:
            h = block(h, emb)
        for level, up in enumerate(self.ups):
            for block in self.blocks[level * self.n_per_level : (level + 1) * self.n_per_level]:
                h = block(h, emb)
            h = up(h)
        return self.conv_out(F.silu(self.norm_out(h)))


# ==================================================================================== the model
class ChartVAE(nn.Module):
    """KL-autoencoder over padded chart tensors, conditioned on the key count.

    Args:
        cfg: the first-stage config (its ``ddconfig`` gives the shape; the loss weights are read by
            :func:`beatforge.models.vae_loss.vae_loss`).
    """

    def __init__(self, cfg: FirstStageConfig) -> None:
        super().__init__()
        dd = cfg.ddconfig
        if dd.x_channels != 4 * MAX_KEYS:
            raise ValueError(f"ddconfig.x_channels must be {4 * MAX_KEYS} (4 blocks x {MAX_KEYS} columns)")
        self.x_channels = dd.x_channels
        self.z_channels = dd.z_channels
        self.stride = 2 ** (len(dd.channel_mult) - 1)  # chart frames per latent step
        self.encoder = Encoder(dd)
        self.decoder = Decoder(dd)

    def _check_x(self, x: Tensor, keys: Tensor) -> None:
        if x.ndim != 3 or x.shape[1] != self.x_channels:
            raise ValueError(f"expected a (B, {self.x_channels}, T) padded chart tensor, got {tuple(x.shape)}")
        if x.shape[-1] % self.stride:
            raise ValueError(
                f"T = {x.shape[-1]} frames is not a multiple of the VAE's time stride {self.stride} "
                f"(2 ** (len(channel_mult) - 1)); pad or crop the window"
            )
        _check_keys(keys, x.shape[0])

    def encode(self, x: Tensor, keys: Tensor) -> DiagonalGaussian:
        """(B, 4*MAX_KEYS, T) chart tensor, (B,) int64 keys -> posterior over (B, z_channels, T/stride)."""
        self._check_x(x, keys)
        x = x * _channel_mask(keys, MAX_KEYS).to(x.dtype)  # padded columns never reach the latent
        return DiagonalGaussian(self.encoder(x, keys))

    def decode(self, z: Tensor, keys: Tensor) -> Tensor:
        """(B, z_channels, L) latent, (B,) keys -> (B, 4*MAX_KEYS, L*stride) in chart space.

        Blocks ``[is_start | start_offset | is_holding | end_offset]``: logits, [0, 1], logits, [0, 1]; padded
        columns are "off" (:data:`PAD_LOGIT`, 0).
        """
        if z.ndim != 3 or z.shape[1] != self.z_channels:
            raise ValueError(f"expected a (B, {self.z_channels}, L) latent, got {tuple(z.shape)}")
        _check_keys(keys, z.shape[0])
        raw = self.decoder(z, keys)  # (B, 4W, T)
        b, _, t = raw.shape
        blocks = raw.view(b, 4, MAX_KEYS, t)  # (B, 4, W, T): is_start, start_offset, is_holding, end_offset
        logits = blocks[:, 0::2]  # (B, 2, W, T): is_start, is_holding
        offsets = torch.sigmoid(blocks[:, 1::2])  # (B, 2, W, T): start_offset, end_offset
        live = column_mask(keys, MAX_KEYS)[:, None, :, None]  # (B, 1, W, 1)
        logits = torch.where(live, logits, torch.full_like(logits, PAD_LOGIT))
        offsets = torch.where(live, offsets, torch.zeros_like(offsets))
        out = torch.stack([logits[:, 0], offsets[:, 0], logits[:, 1], offsets[:, 1]], dim=1)  # (B, 4, W, T)
        return out.reshape(b, 4 * MAX_KEYS, t)

    def forward(self, x: Tensor, keys: Tensor, sample_posterior: bool = True) -> tuple[Tensor, DiagonalGaussian]:
        """Reconstruct: (out in chart space (B, 4*MAX_KEYS, T), posterior)."""
        posterior = self.encode(x, keys)
        z = posterior.sample() if sample_posterior else posterior.mode()
        return self.decode(z, keys), posterior
