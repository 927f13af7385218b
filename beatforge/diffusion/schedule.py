"""The noise schedule and the training objective of the latent diffusion model.

Mug Diffusion's schedule: 1000 steps of LDM's "linear" betas, i.e. ``linspace(sqrt(1e-4), sqrt(0.02))**2``, which
diffusers calls ``scaled_linear``. Training uses diffusers' DDPMScheduler for ``add_noise`` so that the samplers
(:mod:`beatforge.diffusion.sampling`), also diffusers schedulers, see exactly the same alphas.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from beatforge.config import ModelParams

PREDICTION = {"eps": "epsilon", "v": "v_prediction"}


def scheduler_kwargs(params: ModelParams) -> dict:
    return {
        "num_train_timesteps": params.timesteps,
        "beta_start": params.linear_start,
        "beta_end": params.linear_end,
        "beta_schedule": "scaled_linear",
        "prediction_type": PREDICTION[params.parameterization],
    }


class NoiseSchedule:
    """Forward process q(z_t | z_0) and the regression target for one parameterisation."""

    def __init__(self, params: ModelParams) -> None:
        from diffusers import DDPMScheduler

        self.params = params
        self.scheduler = DDPMScheduler(**scheduler_kwargs(params))
        self.timesteps = params.timesteps

    def add_noise(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """z_t = sqrt(abar_t) z_0 + sqrt(1 - abar_t) noise (DDPM eq. 4)."""
        return self.scheduler.add_noise(z0, noise, t)

    def target(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.params.parameterization == "eps":
            return noise
        return self.scheduler.get_velocity(z0, noise, t)  # v = sqrt(abar) eps - sqrt(1 - abar) z0

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Per-element loss (smooth L1 with beta 0.02 as Mug Diffusion, L2 or L1), averaged over ``mask``."""
        kind = self.params.loss_type
        if kind == "smooth_l1":
            err = F.smooth_l1_loss(pred, target, reduction="none", beta=0.02)
        elif kind == "l2":
            err = F.mse_loss(pred, target, reduction="none")
        else:
            err = F.l1_loss(pred, target, reduction="none")
        if mask is None:
            return err.mean()
        mask = mask.expand_as(err)
        return (err * mask).sum() / mask.sum().clamp_min(1.0)
