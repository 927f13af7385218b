"""The 1D UNet that predicts the noise in the chart latent (Mug Diffusion's UNetModel, without S4 layers).

Conditioning enters three ways:

- the diffusion step, as a scale-shift on every ResBlock;
- the audio, as one encoder map per level concatenated on the channel axis before the level's first block, in
  the encoder half and again in the decoder half (Mug's AudioConcatBlock): the note timing has to follow the
  audio at every resolution, so it is fed where the features are made rather than once at the input;
- the prompt features, as cross-attention context in the transformer blocks.

Levels follow ``channel_mult``; level i runs at L / 2**i, and a transformer follows each ResBlock of a level
whose downsample factor 2**i is in ``attention_resolutions`` (and the middle block).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from beatforge.config import UNetConfig
from beatforge.models.layers import (
    AttentionBlock1D,
    Downsample1D,
    ResBlock1D,
    Upsample1D,
    group_norm,
    timestep_embedding,
    zero_module,
)


class UNetLevel(nn.Module):
    """One level of either half: ResBlocks, each followed by a transformer when the level has attention.

    The encoder half hands back the output of every block (the skips); the decoder half takes one skip per block.
    """

    def __init__(self, in_channels: list[int], out_channels: int, *, cfg: UNetConfig, emb_dim: int,
                 attention: bool) -> None:
        super().__init__()
        self.res = nn.ModuleList(
            ResBlock1D(c, out_channels, emb_dim=emb_dim, dropout=cfg.dropout, use_checkpoint=cfg.use_checkpoint)
            for c in in_channels)
        self.attn = nn.ModuleList(
            AttentionBlock1D(out_channels, cfg.num_heads, context_dim=cfg.context_dim, dropout=cfg.dropout,
                             use_checkpoint=cfg.use_checkpoint)
            for _ in in_channels) if attention else None

    def forward(self, h: Tensor, emb: Tensor, context: Tensor, skips: list[Tensor] | None = None,
                audio: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        """h (B, C, L); emb (B, E); context (B, F, D); skips: popped from the end (decoder); audio (B, A, L)
        joins the first block's input. Returns h (B, out, L) and each block's output."""
        outs = []
        for i, res in enumerate(self.res):
            parts = [h]
            if skips is not None:
                parts.append(skips.pop())
            if i == 0 and audio is not None:
                parts.append(audio)
            h = res(torch.cat(parts, dim=1) if len(parts) > 1 else h, emb)  # (B, out, L)
            if self.attn is not None:
                h = self.attn[i](h, context)
            outs.append(h)
        return h, outs


class UNet1D(nn.Module):
    """x (B, in_channels, L), t (B,), context (B, F, context_dim), audio maps [(B, audio_channels[i], L/2**i)]
    -> (B, out_channels, L). L must be a multiple of 2**(len(channel_mult) - 1)."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        n = len(cfg.channel_mult)
        if len(cfg.audio_channels) != n:
            raise ValueError(f"unet audio_channels has {len(cfg.audio_channels)} entries; need one per level ({n})")
        mc = cfg.model_channels
        self.model_channels = mc
        self.n_levels = n
        emb_dim = 4 * mc
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv1d(cfg.in_channels, mc, 3, padding=1)

        # Encoder: skip widths are recorded in order, the decoder consumes them in reverse (as in LDM).
        skip_ch = [mc]
        ch = mc
        self.down, self.enc = nn.ModuleList(), nn.ModuleList()
        for i, mult in enumerate(cfg.channel_mult):
            self.down.append(Downsample1D(ch) if i > 0 else nn.Identity())
            if i > 0:
                skip_ch.append(ch)
            out = mc * mult
            ins = [ch + cfg.audio_channels[i]] + [out] * (cfg.num_res_blocks - 1)
            self.enc.append(UNetLevel(ins, out, cfg=cfg, emb_dim=emb_dim, attention=2**i in cfg.attention_resolutions))
            skip_ch += [out] * cfg.num_res_blocks
            ch = out

        self.mid1 = ResBlock1D(ch, ch, emb_dim=emb_dim, dropout=cfg.dropout, use_checkpoint=cfg.use_checkpoint)
        self.mid_attn = AttentionBlock1D(ch, cfg.num_heads, context_dim=cfg.context_dim, dropout=cfg.dropout,
                                         use_checkpoint=cfg.use_checkpoint)
        self.mid2 = ResBlock1D(ch, ch, emb_dim=emb_dim, dropout=cfg.dropout, use_checkpoint=cfg.use_checkpoint)

        # Decoder, coarsest level first; num_res_blocks + 1 blocks per level (the extra one eats the skip that
        # came from the conv_in / downsample outputs).
        self.dec, self.up = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(n)):
            out = mc * cfg.channel_mult[i]
            ins = []
            for j in range(cfg.num_res_blocks + 1):
                ins.append((ch if j == 0 else out) + skip_ch.pop() + (cfg.audio_channels[i] if j == 0 else 0))
            self.dec.append(UNetLevel(ins, out, cfg=cfg, emb_dim=emb_dim, attention=2**i in cfg.attention_resolutions))
            self.up.append(Upsample1D(out) if i > 0 else nn.Identity())
            ch = out

        self.out = nn.Sequential(group_norm(ch), nn.SiLU(), zero_module(nn.Conv1d(ch, cfg.out_channels, 3, padding=1)))

    def forward(self, x: Tensor, t: Tensor, context: Tensor, audio: list[Tensor]) -> Tensor:
        B, _, L = x.shape
        self._check(x, audio)
        # Audio encoded once for a batch of 1 serves a classifier-free-guidance batch (cond + uncond).
        audio = [a.expand(B, -1, -1) if a.shape[0] == 1 and B > 1 else a for a in audio]
        emb = self.time_embed(timestep_embedding(t, self.model_channels).to(x.dtype))  # (B, E)

        h = self.conv_in(x)  # (B, mc, L)
        skips = [h]
        for i, (down, level) in enumerate(zip(self.down, self.enc)):
            if i > 0:
                h = down(h)  # (B, C, L / 2**i)
                skips.append(h)
            h, outs = level(h, emb, context, audio=audio[i])
            skips += outs

        h = self.mid2(self.mid_attn(self.mid1(h, emb), context), emb)  # (B, C, L / 2**(n-1))

        for k, (level, up) in enumerate(zip(self.dec, self.up)):
            i = self.n_levels - 1 - k
            h, _ = level(h, emb, context, skips=skips, audio=audio[i])
            h = up(h)  # (B, C, L / 2**(i-1))
        return self.out(h)  # (B, out_channels, L)

    def _check(self, x: Tensor, audio: list[Tensor]) -> None:
        L = x.shape[-1]
        stride = 2 ** (self.n_levels - 1)
        if L % stride:
            raise ValueError(f"latent length {L} is not a multiple of {stride} (2 ** (UNet levels - 1))")
        if len(audio) != self.n_levels:
            raise ValueError(f"the UNet needs {self.n_levels} audio maps (one per level), got {len(audio)}")
        for i, a in enumerate(audio):
            if a.shape[-1] != L >> i:
                raise ValueError(f"audio map {i} has length {a.shape[-1]}, expected {L >> i} (latent {L} / {2**i})")

