"""The osu!mania latent diffusion model at inference (Mug Diffusion's design): a song's log-mel and one prompt per
chart in, decoded chart tensors out, all sampled in one batch with classifier-free guidance.

The decoded frames give the columns, chords and long notes; which times become notes, the timing, snapping and
playability are rules (:mod:`beatforge.generation.rules`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from beatforge.charts.chart import ChartMeta, ManiaChart
from beatforge.charts.mania_tensor import decode, unpad_keys
from beatforge.checkpoints import load_model_file, load_weights
from beatforge.config import latent_stride
from beatforge.constants import FRAME_MS, MEL_HOPS_PER_FRAME
from beatforge.errors import BeatforgeError
from beatforge.features import FeatureTable
from beatforge.models.latent_diffusion import LatentDiffusion

DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "models" / "mania"


@dataclass
class ManiaModel:
    """A loaded latent diffusion model and what it was trained for."""

    system: LatentDiffusion  # in eval mode
    features: FeatureTable
    keys: list[int]
    path: str


def load_mania_model(path: str | Path | None = None) -> ManiaModel:
    """Load a latent diffusion model file (default: the shipped ``models/mania``)."""
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


def _padded_mel(mel: np.ndarray, multiple: int) -> torch.Tensor:
    """(128, T) -> (1, 128, T') zero-padded so T' is a whole number of latent steps of the UNet's multiple."""
    t = mel.shape[1]
    t_pad = int(np.ceil(t / multiple) * multiple)
    out = np.zeros((mel.shape[0], t_pad), dtype=np.float32)
    out[:, :t] = mel
    return torch.from_numpy(out)[None]


@torch.no_grad()
def sample_charts(
    model: ManiaModel,
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
        model: from :func:`load_mania_model`.
        mel: (128, T) log-mel of the song (``beatforge.audio.log_mel``).
        prompts: feature values per chart (names of the model's feature table; missing = unspecified).
        keys: key count; must be one the model was trained for.
        audio_seconds: notes after the audio's end are dropped.
    """
    if model.keys and keys not in model.keys:
        raise BeatforgeError(f"the model was trained for {model.keys} keys, not {keys}")
    system = model.system
    stride = latent_stride(system.cfg)
    down = 2 ** (len(system.cfg.model.params.unet_config.channel_mult) - 1)
    device = system.scale_factor.device  # the model's device (--device): inputs go there, results come back
    mel_t = _padded_mel(mel, MEL_HOPS_PER_FRAME * stride * down).to(device)
    tokens = torch.from_numpy(np.stack([model.features.encode({**p, "keys": keys}) for p in prompts])).to(device)
    b = len(prompts)
    z = system.sample_latents(mel_t.expand(b, -1, -1), tokens, steps=steps, cfg_scale=guidance, seed=seed,
                              sampler=sampler, progress=progress)
    out = system.decode_latent(z, torch.full((b,), keys, dtype=torch.long, device=device)).float().cpu()
    end_ms = (audio_seconds if audio_seconds is not None else mel.shape[1] * FRAME_MS / MEL_HOPS_PER_FRAME / 1000)
    charts = []
    for i in range(b):
        chart = decode(out[i].float(), keys=keys, from_logits=True, meta=ChartMeta(source_game="beatforge"))
        keep = chart.starts < end_ms * 1000.0
        ends = np.where(chart.ends <= end_ms * 1000.0, chart.ends, end_ms * 1000.0)
        charts.append(ManiaChart(keys, chart.starts[keep], ends[keep], chart.columns[keep], meta=chart.meta))
    frames = [np.asarray(unpad_keys(out[i].float(), keys).numpy(), dtype=np.float32) for i in range(b)]
    return charts, frames


__all__ = ["ManiaModel", "load_mania_model", "sample_charts"]
