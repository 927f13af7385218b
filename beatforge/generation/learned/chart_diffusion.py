"""The osu!mania latent diffusion model at inference (Mug Diffusion's design): a song's log-mel and one prompt per
chart in, decoded chart tensors out, all sampled in one batch with classifier-free guidance.

The decoded frames give the columns, chords and long notes; which times become notes, the timing, snapping and
playability are rules (:mod:`beatforge.generation.rules`).

The networks run on torch (:class:`ManiaModel`, any device) or, on the CPU, on ONNX Runtime
(:class:`~beatforge.generation.learned.onnx_models.OnnxChartDiffusion`, which never imports torch);
:func:`sample_charts` takes either. The initial noise is numpy's, from the seed, on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from beatforge.charts.chart import ChartMeta, ManiaChart
from beatforge.charts.mania_tensor import decode, unpad_keys
from beatforge.config import latent_stride
from beatforge.constants import FRAME_MS, MEL_HOPS_PER_FRAME
from beatforge.errors import BeatforgeError
from beatforge.features import FeatureTable
from beatforge.generation.learned.onnx_models import OnnxChartDiffusion

if TYPE_CHECKING:
    from beatforge.models.latent_diffusion import LatentDiffusion

DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "models" / "mania"


@dataclass
class ManiaModel:
    """A loaded latent diffusion model (torch) and what it was trained for."""

    system: LatentDiffusion  # in eval mode
    features: FeatureTable
    keys: list[int]
    path: str

    @property
    def mel_multiple(self) -> int:
        """Mel hops the song is padded to a multiple of (one latent step of the UNet's deepest level)."""
        levels = len(self.system.cfg.model.params.unet_config.channel_mult)
        return MEL_HOPS_PER_FRAME * latent_stride(self.system.cfg) * 2 ** (levels - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.system.cfg.model.params.unet_config.in_channels)

    @property
    def latent_hops(self) -> int:
        """Mel hops per latent step."""
        return MEL_HOPS_PER_FRAME * latent_stride(self.system.cfg)


def initial_noise(seed: int | None, shape: tuple[int, ...]) -> np.ndarray:
    """The sampler's starting noise for ``seed`` (numpy's PCG64: the same on every device and backend)."""
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def load_mania_model(path: str | Path | None = None) -> ManiaModel:
    """Load a latent diffusion model file (default: the shipped ``models/mania``) into torch."""
    from beatforge.checkpoints import load_model_file, load_weights  # lazy: torch
    from beatforge.models.latent_diffusion import LatentDiffusion

    mf = load_model_file(path or DEFAULT_MODEL)
    if mf.kind != "latent_diffusion":
        raise BeatforgeError(f"{mf.path}: a {mf.kind} model, not an osu!mania generation model")
    table = mf.meta.get("feature_table")
    if not table:
        raise BeatforgeError(f"{mf.path}: the model file carries no feature table")
    system = LatentDiffusion(mf.config, table)
    load_weights(system.first_stage, mf.state_dict, prefix="first_stage.", source=mf.path)
    load_weights(system.denoiser, mf.state_dict, prefix="denoiser.", source=mf.path)
    system.scale_factor.fill_(float(mf.state_dict["scale_factor"]))
    system.eval()
    return ManiaModel(system, FeatureTable.from_list(table), [int(k) for k in mf.meta.get("keys", [])], mf.path)


def _padded_mel(mel: np.ndarray, multiple: int) -> np.ndarray:
    """(128, T) -> (1, 128, T') zero-padded so T' is a whole number of latent steps of the UNet's multiple."""
    t = mel.shape[1]
    t_pad = int(np.ceil(t / multiple) * multiple)
    out = np.zeros((mel.shape[0], t_pad), dtype=np.float32)
    out[:, :t] = mel
    return out[None]


def _sample_torch(model: ManiaModel, mel: np.ndarray, tokens: np.ndarray, keys: int, noise: np.ndarray, *,
                  steps: int, guidance: float, sampler: str, progress) -> np.ndarray:  # noqa: ANN001
    import torch  # lazy: the ONNX path never imports it

    system = model.system
    device = system.scale_factor.device  # the model's device (--device): inputs go there, results come back
    b = len(tokens)
    torch.set_flush_denormal(True)
    with torch.no_grad():
        mel_t = torch.from_numpy(mel).to(device)
        tokens_t = torch.from_numpy(tokens).to(device)
        z = system.sample_latents(mel_t.expand(b, -1, -1), tokens_t, steps=steps, cfg_scale=guidance,
                                  sampler=sampler, progress=progress, noise=torch.from_numpy(noise))
        out = system.decode_latent(z, torch.full((b,), keys, dtype=torch.long, device=device))
    return out.float().cpu().numpy()


def sample_charts(
    model: ManiaModel | OnnxChartDiffusion,
    mel: np.ndarray,
    prompts: list[dict[str, Any]],
    *,
    keys: int,
    steps: int = 20,
    guidance: float = 5.0,
    seed: int | None = None,
    sampler: str = "dpm++",
    audio_seconds: float | None = None,
    progress=None,
) -> tuple[list[ManiaChart], list[np.ndarray]]:
    """One chart per prompt, sampled in one batch, and each chart's decoded (4*keys, W) logits (for
    :mod:`beatforge.generation.rules.columns`).

    Args:
        model: from :func:`load_mania_model` (torch) or
            :func:`~beatforge.generation.learned.onnx_models.load_onnx_mania` (ONNX Runtime, CPU).
        mel: (128, T) log-mel of the song (``beatforge.audio.log_mel``).
        prompts: feature values per chart (names of the model's feature table; missing = unspecified).
        keys: key count; must be one the model was trained for.
        audio_seconds: notes after the audio's end are dropped.
    """
    if model.keys and keys not in model.keys:
        raise BeatforgeError(f"the model was trained for {model.keys} keys, not {keys}")
    padded = _padded_mel(mel, model.mel_multiple)
    tokens = np.stack([model.features.encode({**p, "keys": keys}) for p in prompts])
    b = len(prompts)
    noise = initial_noise(seed, (b, model.latent_channels, padded.shape[-1] // model.latent_hops))
    if isinstance(model, OnnxChartDiffusion):
        if sampler != "dpm++":
            raise BeatforgeError(f"sampler {sampler!r} runs on torch only: set BEATFORGE_ONNX=0")
        out = model.sample(padded, tokens, keys, noise, steps=steps, guidance=guidance, progress=progress)
    else:
        out = _sample_torch(model, padded, tokens, keys, noise, steps=steps, guidance=guidance, sampler=sampler,
                            progress=progress)
    end_ms = (audio_seconds if audio_seconds is not None else mel.shape[1] * FRAME_MS / MEL_HOPS_PER_FRAME / 1000)
    charts = []
    for i in range(b):
        chart = decode(out[i], keys=keys, from_logits=True, meta=ChartMeta(source_game="beatforge"))
        keep = chart.starts < end_ms * 1000.0
        ends = np.where(chart.ends <= end_ms * 1000.0, chart.ends, end_ms * 1000.0)
        charts.append(ManiaChart(keys, chart.starts[keep], ends[keep], chart.columns[keep], meta=chart.meta))
    frames = [np.asarray(unpad_keys(out[i], keys), dtype=np.float32) for i in range(b)]
    return charts, frames


__all__ = ["ManiaModel", "initial_noise", "load_mania_model", "sample_charts"]
