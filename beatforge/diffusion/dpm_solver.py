"""DPM-Solver++ (2M), the sampler both diffusion models use by default, written out so inference does not import
diffusers.

Why by hand: ``import diffusers`` pulls in ``torch._dynamo`` and ``scipy.stats`` and costs 4.5-6 s on the 2-core
CPU, most of the whole ``beatforge generate`` command's 6-second budget, for about forty lines of arithmetic. This
is diffusers' ``DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_type="midpoint",
lower_order_final=True, final_sigmas_type="zero")`` step for step (Lu et al. 2022, "DPM-Solver++", eqs. for the
multistep second-order solver), the same float32 arithmetic in the same order, so a seed gives the same chart as
before: ``tests/diffusion/test_dpm_solver.py`` runs both on the same model function and compares them.
Training keeps diffusers (:class:`beatforge.diffusion.schedule.NoiseSchedule`), and any configuration this file
does not cover (a third-order solver, DDIM) is sampled by diffusers' own scheduler.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from beatforge.diffusion.schedule import Schedule


def training_betas(schedule: Schedule) -> torch.Tensor:
    """The training betas, float32, as diffusers' schedulers compute them."""
    n = schedule.num_train_timesteps
    if schedule.beta_schedule == "linear":
        return torch.linspace(schedule.beta_start, schedule.beta_end, n, dtype=torch.float32)
    if schedule.beta_schedule == "scaled_linear":
        return torch.linspace(schedule.beta_start ** 0.5, schedule.beta_end ** 0.5, n, dtype=torch.float32) ** 2
    if schedule.beta_schedule == "squaredcos_cap_v2":  # Nichol & Dhariwal's cosine schedule, betas capped at 0.999

        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        return torch.tensor([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999) for i in range(n)],
                            dtype=torch.float32)
    raise ValueError(f"unknown beta schedule {schedule.beta_schedule!r}")


def sampling_timesteps(schedule: Schedule, steps: int) -> np.ndarray:
    """The training timesteps the sampler visits, first (noisiest) to last (diffusers' ``set_timesteps``)."""
    n = schedule.num_train_timesteps
    if schedule.timestep_spacing == "linspace":
        return np.linspace(0, n - 1, steps + 1).round()[::-1][:-1].copy().astype(np.int64)
    if schedule.timestep_spacing == "leading":
        return (np.arange(0, steps + 1) * (n // (steps + 1))).round()[::-1][:-1].copy().astype(np.int64)
    if schedule.timestep_spacing == "trailing":
        return np.arange(n, 0, -n / steps).round().copy().astype(np.int64) - 1
    raise ValueError(f"unknown timestep spacing {schedule.timestep_spacing!r}")


def supported(schedule: Schedule) -> bool:
    """Does this file sample ``schedule`` (else diffusers does)?"""
    return schedule.solver_order in (1, 2) and schedule.prediction_type in ("epsilon", "v_prediction")


class DPMSolverPP:
    """DPM-Solver++(2M) over ``steps`` sampling steps of ``schedule``.

    Call :meth:`step` once per entry of :attr:`timesteps`, in order, with the model's output at that step.
    """

    init_noise_sigma = 1.0

    def __init__(self, schedule: Schedule, steps: int) -> None:
        if not supported(schedule):
            raise ValueError(f"DPMSolverPP covers solver orders 1-2 with eps/v prediction, not {schedule}")
        self.schedule = schedule
        self.alphas_cumprod = torch.cumprod(1.0 - training_betas(schedule), dim=0)
        all_sigmas = (((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5).numpy()
        ts = sampling_timesteps(schedule, steps)
        sigmas = np.interp(ts, np.arange(len(all_sigmas)), all_sigmas)
        self.sigmas = torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32))
        self.timesteps = torch.from_numpy(ts)
        self._x0: list[torch.Tensor] = []  # the last two predicted clean samples
        self._index = 0

    @staticmethod
    def _alpha_sigma(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        alpha = 1 / ((sigma ** 2 + 1) ** 0.5)
        return alpha, sigma * alpha

    def step(self, model_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """x at the next timestep, from x at this one and the model's output (eps or v) there."""
        i, n = self._index, len(self.timesteps)
        alpha_s0, sigma_s0 = self._alpha_sigma(self.sigmas[i])
        if self.schedule.prediction_type == "epsilon":
            x0 = (x - sigma_s0 * model_output) / alpha_s0
        else:
            x0 = alpha_s0 * x - sigma_s0 * model_output
        self._x0 = [*self._x0[-1:], x0]
        x = x.to(torch.float32)
        alpha_t, sigma_t = self._alpha_sigma(self.sigmas[i + 1])
        lambda_t = torch.log(alpha_t) - torch.log(sigma_t)
        lambda_s0 = torch.log(alpha_s0) - torch.log(sigma_s0)
        h = lambda_t - lambda_s0
        if self.schedule.solver_order == 1 or i == 0 or i == n - 1:  # first order: the first and the last step
            out = (sigma_t / sigma_s0) * x - (alpha_t * (torch.exp(-h) - 1.0)) * x0
        else:
            alpha_s1, sigma_s1 = self._alpha_sigma(self.sigmas[i - 1])
            lambda_s1 = torch.log(alpha_s1) - torch.log(sigma_s1)
            r0 = (lambda_s0 - lambda_s1) / h
            d0, d1 = x0, (1.0 / r0) * (x0 - self._x0[0])
            out = ((sigma_t / sigma_s0) * x - (alpha_t * (torch.exp(-h) - 1.0)) * d0
                   - 0.5 * (alpha_t * (torch.exp(-h) - 1.0)) * d1)
        self._index += 1
        return out.to(model_output.dtype)


__all__ = ["DPMSolverPP", "sampling_timesteps", "supported", "training_betas"]
