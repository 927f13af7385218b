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

The solver works on torch tensors (the default) or numpy arrays (``xp=numpy``: the CPU path that runs the networks
with ONNX Runtime and never imports torch, :mod:`beatforge.generation.learned.onnx_models`). On numpy the
schedule's float32 values can differ from torch's in the last bit (``linspace`` is computed in float64 and rounded),
which moves samples by about 1e-6, the size of ONNX Runtime's own difference from torch.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from beatforge.diffusion.schedule import Schedule


def _torch() -> ModuleType:
    import torch  # lazy: the numpy path must not pay torch's import

    return torch


def training_betas(schedule: Schedule, xp: ModuleType | None = None) -> Any:
    """The training betas, float32, as diffusers' schedulers compute them (a torch tensor; with ``xp=numpy`` an
    array)."""
    xp = xp or _torch()
    n = schedule.num_train_timesteps
    if schedule.beta_schedule == "linear":
        return xp.linspace(schedule.beta_start, schedule.beta_end, n, dtype=xp.float32)
    if schedule.beta_schedule == "scaled_linear":
        return xp.linspace(schedule.beta_start ** 0.5, schedule.beta_end ** 0.5, n, dtype=xp.float32) ** 2
    if schedule.beta_schedule == "squaredcos_cap_v2":  # Nichol & Dhariwal's cosine schedule, betas capped at 0.999

        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        return xp.asarray([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999) for i in range(n)],
                          dtype=xp.float32)
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
    """DPM-Solver++(2M) over ``steps`` sampling steps of ``schedule``, on torch tensors or (``xp=numpy``) arrays.

    Call :meth:`step` once per entry of :attr:`timesteps`, in order, with the model's output at that step.
    """

    init_noise_sigma = 1.0

    def __init__(self, schedule: Schedule, steps: int, xp: ModuleType | None = None) -> None:
        if not supported(schedule):
            raise ValueError(f"DPMSolverPP covers solver orders 1-2 with eps/v prediction, not {schedule}")
        self.xp = xp = xp or _torch()
        self.schedule = schedule
        self.alphas_cumprod = xp.cumprod(1.0 - training_betas(schedule, xp), 0)
        all_sigmas = np.asarray(((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5)
        ts = sampling_timesteps(schedule, steps)
        sigmas = np.interp(ts, np.arange(len(all_sigmas)), all_sigmas)
        self.sigmas = xp.asarray(np.concatenate([sigmas, [0.0]]).astype(np.float32))
        self.timesteps = xp.asarray(ts)
        self._x0: list[Any] = []  # the last two predicted clean samples
        self._index = 0

    @staticmethod
    def _alpha_sigma(sigma: Any) -> tuple[Any, Any]:
        alpha = 1 / ((sigma ** 2 + 1) ** 0.5)
        return alpha, sigma * alpha

    def step(self, model_output: Any, x: Any) -> Any:
        """x at the next timestep, from x at this one and the model's output (eps or v) there (float32)."""
        xp = self.xp
        i, n = self._index, len(self.timesteps)
        alpha_s0, sigma_s0 = self._alpha_sigma(self.sigmas[i])
        if self.schedule.prediction_type == "epsilon":
            x0 = (x - sigma_s0 * model_output) / alpha_s0
        else:
            x0 = alpha_s0 * x - sigma_s0 * model_output
        self._x0 = [*self._x0[-1:], x0]
        x = x.astype(np.float32, copy=False) if xp is np else x.to(xp.float32)
        alpha_t, sigma_t = self._alpha_sigma(self.sigmas[i + 1])
        with np.errstate(divide="ignore"):  # the last step's sigma is 0: lambda_t = inf, exp(-h) = 0 (as torch)
            lambda_t = xp.log(alpha_t) - xp.log(sigma_t)
        lambda_s0 = xp.log(alpha_s0) - xp.log(sigma_s0)
        h = lambda_t - lambda_s0
        if self.schedule.solver_order == 1 or i == 0 or i == n - 1:  # first order: the first and the last step
            out = (sigma_t / sigma_s0) * x - (alpha_t * (xp.exp(-h) - 1.0)) * x0
        else:
            alpha_s1, sigma_s1 = self._alpha_sigma(self.sigmas[i - 1])
            lambda_s1 = xp.log(alpha_s1) - xp.log(sigma_s1)
            r0 = (lambda_s0 - lambda_s1) / h
            d0, d1 = x0, (1.0 / r0) * (x0 - self._x0[0])
            out = ((sigma_t / sigma_s0) * x - (alpha_t * (xp.exp(-h) - 1.0)) * d0
                   - 0.5 * (alpha_t * (xp.exp(-h) - 1.0)) * d1)
        self._index += 1
        return out.astype(model_output.dtype, copy=False) if xp is np else out.to(model_output.dtype)


__all__ = ["DPMSolverPP", "sampling_timesteps", "supported", "training_betas"]
