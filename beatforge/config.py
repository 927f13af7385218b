"""Training configs: typed dataclasses, loaded from YAML files merged left to right, then ``a.b=value`` overrides.

A config is data. It never names a Python class to import (Mug Diffusion's ``target: ldm.models...`` broke when
that package was deleted); ``model.kind`` picks one of a fixed set of systems. Keys mirror Mug Diffusion's where
they mean the same thing (``base_learning_rate``, ``batch_size``, ``ckpt_path``, ``unet_config``,
``first_stage_config``, ``wave_stage_config``, ``cond_stage_config``, ``kl_weight``, ``mirror_p``, ``rate``, ...).

Validation is OmegaConf's structured mode: an unknown key or a value of the wrong type fails on load with the
key's full name; :func:`validate` then checks ranges and the relations between sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from beatforge.constants import MAX_KEYS
from beatforge.errors import BeatforgeError, message_of


class ConfigError(BeatforgeError):
    """A config that cannot be used: unknown key, bad value, or a file that does not exist."""


# ==================================================================================== model parts
@dataclass
class DDConfig:
    """The chart VAE's shape (Mug Diffusion's ``ddconfig``). ``x_channels`` is 4 x MAX_KEYS: every key count is
    padded to 10 columns and the key count is a condition (one model for all key counts)."""

    x_channels: int = 4 * MAX_KEYS
    middle_channels: int = 32
    z_channels: int = 16
    channel_mult: list[int] = field(default_factory=lambda: [1, 2, 4])  # len-1 downsamples: 4x in time
    num_res_blocks: int = 1
    num_groups: int = 8
    key_embed_dim: int = 32
    dropout: float = 0.0


@dataclass
class FirstStageConfig:
    """The chart VAE: its shape, its loss weights, and the weights to start from."""

    ckpt_path: str | None = None
    ddconfig: DDConfig = field(default_factory=DDConfig)
    kl_weight: float = 1e-6
    weight_start_offset: float = 0.5
    weight_holding: float = 0.5
    weight_end_offset: float = 0.2
    label_smoothing: float = 0.001
    # Latent scale: z is multiplied by it before diffusion. 0 = measure 1/std(z) on the first training batch (the
    # LDM recipe); the value is stored with the model.
    scale_factor: float = 0.0


@dataclass
class UNetConfig:
    """The 1D denoiser over the latent (Mug Diffusion's ``unet_config``)."""

    in_channels: int = 16
    out_channels: int = 16
    model_channels: int = 128
    channel_mult: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    num_res_blocks: int = 2
    attention_resolutions: list[int] = field(default_factory=lambda: [8, 4, 2])  # downsample factors with attention
    num_heads: int = 8
    context_dim: int = 128
    dropout: float = 0.0
    audio_channels: list[int] = field(default_factory=lambda: [256, 512, 512, 512])  # one per level
    use_checkpoint: bool = False


@dataclass
class WaveStageConfig:
    """The audio encoder over the log-mel spectrogram (Mug Diffusion's ``wave_stage_config``). It downsamples the
    mel frames (8 per chart frame, 32 per latent step) to the latent's time axis and hands one map per UNet level."""

    n_freq: int = 128
    middle_channels: int = 128
    channel_mult: list[int] = field(default_factory=lambda: [1, 1, 1, 2, 2, 2, 4, 4, 4])
    num_res_blocks: int = 2
    num_groups: int = 32
    num_heads: int = 8
    attention_levels: list[int] = field(default_factory=lambda: [6, 7, 8])  # levels with self-attention
    dropout: float = 0.0
    use_checkpoint: bool = False


@dataclass
class CondStageConfig:
    """The prompt-feature embedder (Mug Diffusion's ``cond_stage_config``)."""

    path_to_yaml: str = "configs/mug/mania_beatmap_features.yaml"
    embed_dim: int = 128


@dataclass
class ModelParams:
    ckpt_path: str | None = None  # weights to start from (a model file); -r is the usual way
    timesteps: int = 1000
    linear_start: float = 1e-4
    linear_end: float = 0.02
    parameterization: str = "eps"  # eps | v
    loss_type: str = "smooth_l1"  # smooth_l1 | l2 | l1
    cond_drop_p: float = 0.1  # probability that a training example sees the null prompt (all features missing)
    monitor: str = "val/loss"
    warmup_steps: int = 0
    weight_decay: float = 0.01
    ema_decay: float = 0.0  # 0 = no EMA
    unet_config: UNetConfig = field(default_factory=UNetConfig)
    first_stage_config: FirstStageConfig = field(default_factory=FirstStageConfig)
    wave_stage_config: WaveStageConfig = field(default_factory=WaveStageConfig)
    cond_stage_config: CondStageConfig = field(default_factory=CondStageConfig)


@dataclass
class ModelConfig:
    kind: str = "latent_diffusion"  # autoencoder | latent_diffusion
    base_learning_rate: float = 1e-5
    # Mug Diffusion multiplied the LR by batch size x GPUs x accumulation (--scale_lr, on by default); here the
    # LR is what the config says unless this is true.
    scale_lr: bool = False
    params: ModelParams = field(default_factory=ModelParams)


# ==================================================================================== data
@dataclass
class AugmentConfig:
    mirror_p: float = 0.5  # reverse the columns
    shuffle_p: float = 0.1  # permute the columns at random (Mug's random_p)
    rate_p: float = 0.2  # change playback rate of audio and chart together
    rate: list[float] = field(default_factory=lambda: [0.9, 1.1])
    feature_dropout_p: float = 0.5  # each prompt feature independently set to "unspecified"


@dataclass
class DataConfig:
    dataset: list[str] = field(default_factory=lambda: ["datasets/mania"])  # built with `beatforge dataset build`
    batch_size: int = 48
    num_workers: int = 4
    window_frames: int = 4096  # chart frames per training example (4096 x 46.44 ms = 190 s)
    with_audio: bool = True  # the VAE trains without audio, on charts with or without it
    keys: list[int] | None = None  # keep only these key counts
    max_val_charts: int | None = None
    train_augment: AugmentConfig = field(default_factory=AugmentConfig)


# ==================================================================================== training
@dataclass
class TrainerConfig:
    max_steps: int = -1
    max_epochs: int | None = None
    val_check_interval: int | float = 1.0  # steps (int) or share of an epoch (float)
    check_val_every_n_epoch: int | None = 1
    log_every_n_steps: int = 50
    precision: str = "32-true"
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = 1.0
    limit_val_batches: int | float = 1.0
    benchmark: bool = False


@dataclass
class CheckpointConfig:
    every_n_train_steps: int = 5000
    save_top_k: int = 3
    save_last: bool = True


@dataclass
class LightningConfig:
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    # Every N validation runs, generate a chart for a validation song and log its rhythm F1 (0 = never).
    generate_every_n_val: int = 5
    generate_steps: int = 20


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    lightning: LightningConfig = field(default_factory=LightningConfig)
    seed: int = 23
    name: str = ""  # run name; default: the stem of the first -b config


# ==================================================================================== loading
MODEL_KINDS = ("autoencoder", "latent_diffusion")


def load_config(paths: list[str | Path], overrides: list[str] | None = None) -> Config:
    """Merge YAML files left to right onto the defaults, then ``a.b=value`` overrides; validate.

    Raises:
        ConfigError: a missing file, bad YAML, an unknown key (named in full), or a bad value.
    """
    from omegaconf import OmegaConf  # lazy: the CLI imports this module to build its parser; omegaconf costs ~0.1 s
    from omegaconf.errors import OmegaConfBaseException

    base = OmegaConf.structured(Config)
    try:
        for p in paths:
            path = Path(p)
            if not path.is_file():
                raise ConfigError(f"config {path}: no such file")
            loaded = OmegaConf.load(path)
            base = OmegaConf.merge(base, loaded)
        if overrides:
            base = OmegaConf.merge(base, OmegaConf.from_dotlist(list(overrides)))
        cfg: Config = OmegaConf.to_object(base)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config: {_omega_message(exc)}") from None
    except (ValueError, TypeError) as exc:  # YAML syntax errors surface as these
        raise ConfigError(f"config: {exc}") from None
    except (yaml.YAMLError, RecursionError) as exc:  # bad YAML, a python/object tag, a billion laughs, deep nesting
        raise ConfigError(f"config: not a readable YAML config ({message_of(exc)})") from None
    if not cfg.name and paths:
        cfg.name = Path(paths[0]).stem
    validate(cfg)
    return cfg


def _omega_message(exc: Exception) -> str:
    key = getattr(exc, "full_key", None)
    msg = str(exc).splitlines()[0]
    if "not in" in msg or "Key '" in msg:
        return f"unknown key '{key}'" if key else msg
    return f"bad value for '{key}': {msg}" if key else msg


def validate(cfg: Config) -> None:
    """Ranges and cross-section rules OmegaConf's types cannot express."""

    def need(ok: bool, key: str, why: str) -> None:
        if not ok:
            raise ConfigError(f"config: bad value for '{key}': {why}")

    m, p = cfg.model, cfg.model.params
    need(m.kind in MODEL_KINDS, "model.kind", f"must be one of {', '.join(MODEL_KINDS)}, got '{m.kind}'")
    need(m.base_learning_rate > 0, "model.base_learning_rate", "must be positive")
    need(p.parameterization in ("eps", "v"), "model.params.parameterization", "must be eps or v")
    need(p.loss_type in ("smooth_l1", "l2", "l1"), "model.params.loss_type", "must be smooth_l1, l2 or l1")
    need(0 < p.linear_start < p.linear_end < 1, "model.params.linear_start", "need 0 < linear_start < linear_end < 1")
    need(p.timesteps >= 10, "model.params.timesteps", "must be at least 10")
    need(0 <= p.cond_drop_p < 1, "model.params.cond_drop_p", "must be in [0, 1)")
    dd = p.first_stage_config.ddconfig
    need(
        dd.x_channels == 4 * MAX_KEYS,
        "model.params.first_stage_config.ddconfig.x_channels",
        f"must be {4 * MAX_KEYS} (4 channels x {MAX_KEYS} padded columns)",
    )
    need(len(dd.channel_mult) >= 1, "model.params.first_stage_config.ddconfig.channel_mult", "needs a level")
    need(
        dd.middle_channels % dd.num_groups == 0,
        "model.params.first_stage_config.ddconfig.num_groups",
        "must divide middle_channels",
    )
    u = p.unet_config
    need(
        u.in_channels == dd.z_channels,
        "model.params.unet_config.in_channels",
        f"must equal the VAE's z_channels ({dd.z_channels})",
    )
    need(
        len(u.audio_channels) == len(u.channel_mult),
        "model.params.unet_config.audio_channels",
        "needs one entry per channel_mult level",
    )
    need(u.model_channels % u.num_heads == 0, "model.params.unet_config.num_heads", "must divide model_channels")
    w = p.wave_stage_config
    need(
        w.middle_channels % w.num_groups == 0,
        "model.params.wave_stage_config.num_groups",
        "must divide middle_channels",
    )
    d = cfg.data
    need(d.batch_size >= 1, "data.batch_size", "must be at least 1")
    need(d.num_workers >= 0, "data.num_workers", "must be >= 0")
    stride = latent_stride(cfg)
    need(
        d.window_frames % (stride * 2 ** (len(u.channel_mult) - 1)) == 0,
        "data.window_frames",
        f"must be a multiple of {stride * 2 ** (len(u.channel_mult) - 1)} (VAE x UNet downsampling)",
    )
    if d.keys is not None:
        need(all(1 <= k <= MAX_KEYS for k in d.keys), "data.keys", f"key counts must be 1-{MAX_KEYS}")
    a = d.train_augment
    for name in ("mirror_p", "shuffle_p", "rate_p", "feature_dropout_p"):
        need(0 <= getattr(a, name) <= 1, f"data.train_augment.{name}", "must be a probability in [0, 1]")
    need(
        len(a.rate) == 2 and 0.25 <= a.rate[0] <= a.rate[1] <= 4,
        "data.train_augment.rate",
        "must be [low, high] with 0.25 <= low <= high <= 4",
    )
    need(cfg.lightning.checkpoint.every_n_train_steps >= 1, "lightning.checkpoint.every_n_train_steps", "must be >= 1")


def latent_stride(cfg: Config) -> int:
    """Chart frames per latent step: 2 ** (number of VAE downsamples)."""
    return 2 ** (len(cfg.model.params.first_stage_config.ddconfig.channel_mult) - 1)


def to_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested dict (for YAML/JSON files and checkpoints)."""
    from omegaconf import OmegaConf  # lazy: the CLI imports this module to build its parser; omegaconf costs ~0.1 s

    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]


def to_yaml(cfg: Config) -> str:
    from omegaconf import OmegaConf  # lazy: the CLI imports this module to build its parser; omegaconf costs ~0.1 s

    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def from_dict(data: dict[str, Any]) -> Config:
    """A Config from a dict (e.g. stored in a model file), validated the same way."""
    from omegaconf import OmegaConf  # lazy: the CLI imports this module to build its parser; omegaconf costs ~0.1 s
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg: Config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.create(data)))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config: {_omega_message(exc)}") from None
    validate(cfg)
    return cfg
