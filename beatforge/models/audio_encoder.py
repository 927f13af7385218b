"""Multi-scale 1D conv encoder over the log-mel spectrogram (Mug Diffusion's MelspectrogramScaleEncoder1D).

The mel has 64 hops per latent step (8 per chart frame x the VAE's 8x), so the encoder halves the time axis
six times to reach the latent's resolution, then once more per further UNet level. The UNet concatenates one
map per level, so the last ``len(out_channels)`` levels are handed out, at lengths L, L/2, L/4, ...

It runs once per generated chart (see :meth:`beatforge.models.denoiser.ManiaDenoiser.encode_audio`): its cost
does not scale with the number of sampling steps, which is why most of its depth sits at fine time scales.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from beatforge.config import WaveStageConfig
from beatforge.constants import MEL_HOPS_PER_FRAME
from beatforge.models.layers import AttentionBlock1D, Downsample1D, ResBlock1D

# Chart frames per latent step: the chart VAE's time compression (DDConfig's 4 levels, 3 downsamples).
VAE_TIME_STRIDE = 4  # the chart VAE's default (configs: first_stage_config.ddconfig.channel_mult)
MEL_HOPS_PER_STEP = MEL_HOPS_PER_FRAME * VAE_TIME_STRIDE  # 32


class AudioEncoder(nn.Module):
    """(B, n_freq, L * 64) log-mel -> [(B, out_channels[0], L), (B, out_channels[1], L/2), ...].

    Levels: a conv in, then ``len(channel_mult)`` levels of ``num_res_blocks`` dilated ResBlocks (dilations
    1,2 then 4,8 ...: each block sees about 4x further than the last), a stride-2 downsample at the start of
    every level after the first, and a self-attention block after each ResBlock at ``attention_levels``.
    Each returned map passes a 1x1 conv to the width the UNet asked for.
    """

    def __init__(self, cfg: WaveStageConfig, out_channels: list[int], *,
                 mel_hops_per_step: int = MEL_HOPS_PER_STEP) -> None:
        super().__init__()
        n_levels = len(cfg.channel_mult)
        n_down = n_levels - 1
        steps_down = int(round(math.log2(mel_hops_per_step)))
        if 2**steps_down != mel_hops_per_step:
            raise ValueError(f"mel hops per latent step must be a power of 2, got {mel_hops_per_step}")
        if not out_channels:
            raise ValueError("the audio encoder needs at least one output map (one per UNet level)")
        need = steps_down + len(out_channels) - 1
        if n_down != need:
            raise ValueError(
                f"wave_stage_config.channel_mult has {n_levels} levels ({n_down} downsamples); with "
                f"{mel_hops_per_step} mel hops per latent step and {len(out_channels)} UNet levels it needs "
                f"{need} downsamples, i.e. {need + 1} levels")
        bad = [lv for lv in cfg.attention_levels if not 0 <= lv < n_levels]
        if bad:
            raise ValueError(f"wave_stage_config.attention_levels {bad} outside 0..{n_levels - 1}")
        self.n_out = len(out_channels)

        ch = cfg.middle_channels
        self.conv_in = nn.Conv1d(cfg.n_freq, ch, 3, padding=1)
        self.levels = nn.ModuleList()
        level_channels = []
        for level, mult in enumerate(cfg.channel_mult):
            out_ch = cfg.middle_channels * mult
            blocks: list[nn.Module] = [Downsample1D(ch)] if level > 0 else []
            for j in range(cfg.num_res_blocks):
                blocks.append(ResBlock1D(ch, out_ch, dropout=cfg.dropout, dilations=(4**j, 2 * 4**j),
                                         max_groups=cfg.num_groups, use_checkpoint=cfg.use_checkpoint))
                ch = out_ch
                if level in cfg.attention_levels:
                    blocks.append(AttentionBlock1D(ch, cfg.num_heads, dropout=cfg.dropout, max_groups=cfg.num_groups,
                                                   use_checkpoint=cfg.use_checkpoint))
            self.levels.append(nn.Sequential(*blocks))
            level_channels.append(ch)
        self.out_proj = nn.ModuleList(
            nn.Conv1d(c_in, c_out, 1) for c_in, c_out in zip(level_channels[-self.n_out:], out_channels))
        self.total_stride = 2**n_down

    def forward(self, mel: Tensor) -> list[Tensor]:
        """mel (B, n_freq, T) with T a multiple of 2**(levels - 1) -> the last ``len(out_channels)`` level maps."""
        if mel.shape[-1] % self.total_stride:
            raise ValueError(f"mel length {mel.shape[-1]} is not a multiple of {self.total_stride}")
        h = self.conv_in(mel)  # (B, C0, T)
        maps = []
        for level in self.levels:
            h = level(h)  # (B, C_i, T / 2**i)
            maps.append(h)
        return [proj(m) for proj, m in zip(self.out_proj, maps[-self.n_out:])]  # (B, out_i, L / 2**i)
