"""The osu!mania latent denoiser: audio encoder + prompt embedder + 1D UNet, as the one object a sampler calls.

Sampling calls the network once per step (twice the batch with classifier-free guidance), but the audio does
not change between steps, so :meth:`ManiaDenoiser.encode_audio` runs once per chart and its maps are passed to
every :meth:`ManiaDenoiser.forward`. Training calls both every step, so the audio encoder learns end to end.

Sizes are data: :data:`PRESETS` maps a name to the three config sections, and the YAML files under
``configs/mug/`` hold the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from beatforge.config import CondStageConfig, UNetConfig, WaveStageConfig
from beatforge.models.audio_encoder import MEL_HOPS_PER_STEP, AudioEncoder
from beatforge.models.feature_embedder import FeatureEmbedder
from beatforge.models.unet1d import UNet1D


class ManiaDenoiser(nn.Module):
    """eps (or v) prediction for the chart latent given the diffusion step, the prompt and the audio.

    Shapes: latent z (B, 16, L) with L a multiple of 2**(len(unet channel_mult) - 1); mel (B, n_freq, L * 64);
    prompt ids (B, F) int64; t (B,) int64.
    """

    def __init__(self, unet_cfg: UNetConfig, wave_cfg: WaveStageConfig, cond_cfg: CondStageConfig, vocab_size: int,
                 n_features: int, *, mel_hops_per_step: int = MEL_HOPS_PER_STEP) -> None:
        super().__init__()
        if cond_cfg.embed_dim != unet_cfg.context_dim:
            raise ValueError(f"cond_stage_config.embed_dim ({cond_cfg.embed_dim}) must equal "
                             f"unet_config.context_dim ({unet_cfg.context_dim})")
        self.mel_hops_per_step = mel_hops_per_step
        self.latent_multiple = 2 ** (len(unet_cfg.channel_mult) - 1)
        self.embedder = FeatureEmbedder(vocab_size, cond_cfg.embed_dim, n_features)
        self.audio_encoder = AudioEncoder(wave_cfg, list(unet_cfg.audio_channels), mel_hops_per_step=mel_hops_per_step)
        self.unet = UNet1D(unet_cfg)

    def encode_audio(self, mel: Tensor) -> list[Tensor]:
        """mel (B, n_freq, L * 64) -> one map per UNet level, [(B, A_0, L), (B, A_1, L/2), ...].

        A batch of 1 may be reused for a larger latent batch (the UNet broadcasts it), so a CFG sampler can
        encode the song once and double only the latent and the prompt.
        """
        return self.audio_encoder(mel)

    def forward(self, z_t: Tensor, t: Tensor, tokens: Tensor, audio_maps: list[Tensor]) -> Tensor:
        """z_t (B, C, L), t (B,), tokens (B, F), audio_maps from :meth:`encode_audio` -> (B, C, L)."""
        return self.unet(z_t, t, self.embedder(tokens), audio_maps)

    def param_counts(self) -> dict[str, int]:
        """Parameters per part (unet, audio, embedder) and in total."""
        parts = {"unet": self.unet, "audio": self.audio_encoder, "embedder": self.embedder}
        out = {k: sum(p.numel() for p in m.parameters()) for k, m in parts.items()}
        out["total"] = sum(out.values())
        return out


# ==================================================================================== presets
Sections = tuple[UNetConfig, WaveStageConfig, CondStageConfig]


def mug() -> Sections:
    """Mug Diffusion's sizes (GPU training): about 140 M parameters (Mug's 156 M less its S4 layers)."""
    return UNetConfig(), WaveStageConfig(), CondStageConfig()


def small() -> Sections:
    """About 3.3 M parameters (a 13 MB safetensors file): trains on a 2-core CPU within an hour, and 30 CFG steps
    on a 3-minute song take a few seconds there. Attention only at the coarsest level and the middle, where it is
    cheap in time; the audio encoder keeps two dilated blocks per level, since timing comes from the audio."""
    unet = UNetConfig(model_channels=48, channel_mult=[1, 2, 2, 2], num_res_blocks=1, attention_resolutions=[8],
                      num_heads=4, context_dim=64, audio_channels=[32, 48, 48, 48])
    wave = WaveStageConfig(middle_channels=32, channel_mult=[1, 1, 1, 1, 2, 2, 2, 2, 2], num_res_blocks=2,
                           num_groups=8, num_heads=4, attention_levels=[7, 8])
    return unet, wave, CondStageConfig(embed_dim=64)


def tiny() -> Sections:
    """About 0.18 M parameters: a few dozen CPU training steps in seconds (smoke tests, pipeline checks)."""
    unet = UNetConfig(model_channels=12, channel_mult=[1, 2, 2, 2], num_res_blocks=1, attention_resolutions=[8],
                      num_heads=2, context_dim=16, audio_channels=[8, 8, 8, 8])
    wave = WaveStageConfig(middle_channels=8, channel_mult=[1] * 9, num_res_blocks=1, num_groups=4, num_heads=2,
                           attention_levels=[8])
    return unet, wave, CondStageConfig(embed_dim=16)


PRESETS: dict[str, Callable[[], Sections]] = {"mug": mug, "small": small, "tiny": tiny}


def build_preset(name: str, vocab_size: int, n_features: int) -> ManiaDenoiser:
    """A fresh denoiser of a named size (see :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown denoiser preset '{name}' (known: {', '.join(PRESETS)})")
    return ManiaDenoiser(*PRESETS[name](), vocab_size, n_features)
