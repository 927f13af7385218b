"""Noise schedules and the training objective of the latent diffusion model.

:class:`Schedule` is what a sampler needs to know of how a model was trained (the beta schedule, the number of
training steps, what the network predicts) and how to walk it (timestep spacing, solver order); each model builds
its own from its own description: the osu!mania model from its config (:meth:`Schedule.from_params`), the
osu!standard DiT from its ``model.json`` (:func:`beatforge.generation.learned.dit_positions.dit_schedule`).

Mug Diffusion's schedule: 1000 steps of LDM's "linear" betas, i.e. ``linspace(sqrt(1e-4), sqrt(0.02))**2``, which
diffusers calls ``scaled_linear``. Training uses diffusers' DDPMScheduler for ``add_noise`` so that the samplers
(:mod:`beatforge.diffusion.sampling`), also diffusers schedulers, see exactly the same alphas.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from beatforge.config import ModelParams

if TYPE_CHECKING:  # torch is imported where a loss is computed: the ONNX generation path never imports it
    import torch

PREDICTION = {"eps": "epsilon", "v": "v_prediction"}


@dataclass(frozen=True)
class Schedule:
    """A model's noise schedule, as diffusers' schedulers take it, and how to sample it.

    The defaults are diffusers' (``DPMSolverMultistepScheduler()``'s betas, ``linspace`` spacing, 2nd order),
    which is what osu-diffusion's DiT trains and samples with.

    Attributes:
        beta_schedule: ``linear``, ``scaled_linear`` or ``squaredcos_cap_v2``.
        num_train_timesteps: training diffusion steps.
        beta_start, beta_end: the first and last beta (linear schedules; unused by ``squaredcos_cap_v2``).
        prediction_type: what the network predicts, ``epsilon`` or ``v_prediction``.
        timestep_spacing: how sampling steps are spread over the training steps (``linspace``, ``trailing``).
        solver_order: DPM-Solver++'s order.
    """

    beta_schedule: str = "squaredcos_cap_v2"
    num_train_timesteps: int = 1000
    beta_start: float = 0.0001
    beta_end: float = 0.02
    prediction_type: str = "epsilon"
    timestep_spacing: str = "linspace"
    solver_order: int = 2

    @classmethod
    def from_params(cls, params: ModelParams) -> Schedule:
        """The osu!mania latent diffusion model's schedule: its config's betas and parameterisation, sampled with
        ``trailing`` spacing (the last sampling step starts from pure noise)."""
        return cls(beta_schedule="scaled_linear", num_train_timesteps=params.timesteps,
                   beta_start=params.linear_start, beta_end=params.linear_end,
                   prediction_type=PREDICTION[params.parameterization], timestep_spacing="trailing")

    def scheduler_kwargs(self) -> dict:
        """The training schedule's arguments of every diffusers scheduler (DDPM, DDIM, DPM-Solver)."""
        return {
            "num_train_timesteps": self.num_train_timesteps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "beta_schedule": self.beta_schedule,
            "prediction_type": self.prediction_type,
        }


def scheduler_kwargs(params: ModelParams) -> dict:
    return Schedule.from_params(params).scheduler_kwargs()


class NoiseSchedule:
    """Forward process q(z_t | z_0) and the regression target for one parameterisation."""

    def __init__(self, params: ModelParams) -> None:
        self.params = params
        self.timesteps = params.timesteps

    @functools.cached_property
    def scheduler(self):  # noqa: ANN201 (a diffusers DDPMScheduler)
        """diffusers' DDPMScheduler for this schedule, built on first use: only training adds noise, and importing
        diffusers costs seconds that generation, which builds this class with the model, does not pay."""
        from diffusers import DDPMScheduler

        return DDPMScheduler(**scheduler_kwargs(self.params))

    def add_noise(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """z_t = sqrt(abar_t) z_0 + sqrt(1 - abar_t) noise (DDPM eq. 4)."""
        return self.scheduler.add_noise(z0, noise, t)

    def target(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.params.parameterization == "eps":
            return noise
        return self.scheduler.get_velocity(z0, noise, t)  # v = sqrt(abar) eps - sqrt(1 - abar) z0

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Per-element loss (smooth L1 with beta 0.02 as Mug Diffusion, L2 or L1), averaged over ``mask``."""
        import torch.nn.functional as F  # noqa: N812 (torch's own name)

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
