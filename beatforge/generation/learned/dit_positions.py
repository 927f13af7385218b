"""The osu!standard DiT at inference (osu-diffusion's design): a map's hit-object sequence (times, spacing, kinds)
and a style in, new positions for every token out.

The DiT denoises positions for all tokens at once (one sequence, banded attention) through the shared sampler
(:func:`beatforge.diffusion.sampling.sample`: DPM-Solver++ from diffusers, classifier-free guidance towards the
style), with the noise schedule the model was trained with (its ``model.json``'s ``noise_schedule``). What the
positions must satisfy (the map's spacing, slider lengths, the playfield) is rules
(:mod:`beatforge.generation.rules`): the caller passes the spacing projection in as ``project``.

The network runs where its weights are (``--device``: :func:`beatforge.checkpoints.load_dit`'s ``device``); the
noise is drawn from a CPU generator whatever the device, so a seed names the same start everywhere, and the
projection and the result are numpy on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from beatforge.constants import PLAYFIELD
from beatforge.data.standard_dataset import token_arrays
from beatforge.diffusion.sampling import ModelFn, sample
from beatforge.diffusion.schedule import Schedule
from beatforge.models.dit import DiT

# The schedule of a model.json written before train.py recorded its --noise-schedule (osu-diffusion's)
DEFAULT_NOISE_SCHEDULE = "squaredcos_cap_v2"


def dit_schedule(meta: dict) -> Schedule:
    """The schedule a DiT was trained with, from its ``model.json``: train.py's DDPMScheduler (1000 steps of
    ``noise_schedule`` betas, diffusers' default beta range, noise prediction), sampled as diffusers'
    DPM-Solver++ does by default (``linspace`` spacing, 2nd order)."""
    return Schedule(beta_schedule=meta.get("noise_schedule", DEFAULT_NOISE_SCHEDULE), num_train_timesteps=1000,
                    beta_start=0.0001, beta_end=0.02, prediction_type="epsilon", timestep_spacing="linspace",
                    solver_order=2)


def dit_model_fn(model: DiT, window: int | None) -> ModelFn:
    """The DiT as the sampler calls it: (x_t, t, (times, dist, kinds, labels)) -> predicted noise."""

    def model_fn(x: torch.Tensor, t: torch.Tensor, cond: tuple[torch.Tensor, ...]) -> torch.Tensor:
        times, dist, kinds, labels = cond
        return model(x, t, times, dist, kinds, labels, window)

    return model_fn


@torch.no_grad()
def sample_positions(model: DiT, seq: np.ndarray, *, label: int, schedule: Schedule, guidance: float = 1.0,
                     steps: int = 50, seed: int = 0, window: int = 128,
                     project: Callable[[np.ndarray], np.ndarray] | None = None, progress=None) -> np.ndarray:
    """(N, 2) new positions in osu! pixels for the sequence's tokens, as the network leaves them (not clipped).

    Args:
        model, schedule: the DiT and its training schedule (:func:`dit_schedule`).
        seq: the reference map's hit-object sequence (:func:`beatforge.charts.standard_sequence.encode`).
        label: the style's class index (``model.null_label``: no style).
        guidance: classifier-free guidance scale towards the style; 1 = none (one pass).
        window: the attention band (the model's training ``seq_len``).
        project: (N, 2) px -> (N, 2) px, applied to each step's predicted clean positions before the solver moves
            on (the spacing projection), so the network denoises a layout that already has the map's spacing.
        progress: called with (step, steps).

    The sampler runs on the model's device; the noise comes from a CPU generator seeded with ``seed`` (the same
    start on every device) and the positions come back as numpy on the CPU.
    """
    device = next(model.parameters()).device
    tok = token_arrays(seq)
    n = seq.shape[0]
    times = torch.from_numpy(tok["times"] - tok["times"][0])[None].to(device)
    dist = torch.from_numpy(tok["dist"])[None].to(device)
    kinds = torch.from_numpy(tok["kinds"])[None].to(device)
    labels = torch.tensor([label], device=device)
    null = torch.full_like(labels, model.null_label)
    half = torch.tensor(PLAYFIELD, dtype=torch.float64)[:, None] / 2  # on the CPU: MPS has no float64

    def project_x0(x0: torch.Tensor) -> torch.Tensor:  # (1, 2, N) in [-1, 1], through pixels on the CPU
        kept = project(((x0[0].cpu().double() + 1) * half).T.numpy())
        return (torch.from_numpy(kept.T) / half - 1)[None].float().to(device)

    x = sample(dit_model_fn(model, window), (1, 2, n), schedule, (times, dist, kinds, labels),
               (times, dist, kinds, null), steps=steps, guidance=guidance,
               generator=torch.Generator().manual_seed(int(seed)), device=device,
               project_x0=project_x0 if project is not None else None, progress=progress)
    return (x[0].cpu().double() + 1).mul(half).T.numpy()


__all__ = ["DEFAULT_NOISE_SCHEDULE", "dit_model_fn", "dit_schedule", "sample_positions"]
