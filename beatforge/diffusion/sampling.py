"""Few-step sampling with classifier-free guidance, on diffusers' schedulers: one loop for both diffusion models.

DPM-Solver++ (the default) runs as :class:`~beatforge.diffusion.dpm_solver.DPMSolverPP`, diffusers'
DPMSolverMultistepScheduler written out (importing diffusers costs seconds of every run); DDIM and any other
configuration run on diffusers' schedulers, built by :func:`make_sampler` from the model's own
:class:`~beatforge.diffusion.schedule.Schedule`. :func:`sample` runs the loop. Guidance
(:func:`classifier_free_guidance`) doubles the batch as [conditional; null] with the doubled conditioning built once
per call, and is skipped at scale 1, where the null half would be wasted work (a fault of osu-diffusion): eps_hat =
eps_null + s * (eps_cond - eps_null) (Ho & Salimans 2022, eq. 6).

A model that constrains its output (the osu!standard DiT keeps the map's spacing) passes ``project_x0``: each step's
predicted clean sample is projected, and the model output recomputed from it, before the solver moves on.

The osu!mania model (:meth:`beatforge.models.latent_diffusion.LatentDiffusion.sample_latents`) and the osu!standard
DiT (:func:`beatforge.generation.learned.dit_positions.sample_positions`) both sample here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from beatforge.diffusion.dpm_solver import DPMSolverPP, supported
from beatforge.diffusion.schedule import Schedule

SAMPLERS = ("ddim", "dpm++")

# (x_t (B, ...), t (B,) int64, conditioning) -> the model output (eps or v, as trained). The conditioning is what
# the model takes besides x_t and t: a tensor, or a tuple / list / dict of them, batch first.
ModelFn = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


def make_sampler(kind: str, schedule: Schedule):
    """A diffusers scheduler for sampling ``schedule`` (the model's training alphas, spacing and order)."""
    if kind == "ddim":
        from diffusers import DDIMScheduler

        return DDIMScheduler(**schedule.scheduler_kwargs(), clip_sample=False, set_alpha_to_one=False,
                             timestep_spacing=schedule.timestep_spacing)
    if kind == "dpm++":
        from diffusers import DPMSolverMultistepScheduler

        return DPMSolverMultistepScheduler(**schedule.scheduler_kwargs(), algorithm_type="dpmsolver++",
                                           solver_order=schedule.solver_order,
                                           timestep_spacing=schedule.timestep_spacing)
    raise ValueError(f"unknown sampler '{kind}' (choose from {', '.join(SAMPLERS)})")


def _paired(cond: Any, uncond: Any) -> Any:
    """[cond; uncond] along the batch, through tuples, lists and dicts of tensors."""
    if isinstance(cond, torch.Tensor):
        return torch.cat([cond, uncond])
    if isinstance(cond, dict):
        return {k: _paired(v, uncond[k]) for k, v in cond.items()}
    if isinstance(cond, (list, tuple)):
        return type(cond)(_paired(c, u) for c, u in zip(cond, uncond))
    raise TypeError(f"conditioning of type {type(cond).__name__}: a tensor, tuple, list or dict of tensors expected")


def classifier_free_guidance(model_fn: ModelFn, cond: Any, uncond: Any, scale: float
                             ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(x_t, t) -> guided output``: ``model_fn`` under conditioning ``cond``, pushed away from ``uncond`` by
    ``scale``: out_null + scale * (out_cond - out_null), both from one doubled batch. At ``scale`` 1 it is the
    conditional model alone, one pass. ``uncond`` has ``cond``'s structure (the null style, the null prompt)."""
    if scale == 1.0:
        return lambda x, t: model_fn(x, t, cond)
    both = _paired(cond, uncond)

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = model_fn(torch.cat([x, x]), torch.cat([t, t]), both)
        out_cond, out_null = out.chunk(2)
        return out_null + scale * (out_cond - out_null)

    return guided


def _projected(out: torch.Tensor, x: torch.Tensor, alpha_bar: torch.Tensor, prediction_type: str,
               project_x0: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The model output recomputed from its predicted clean sample after ``project_x0``."""
    a, s = float(alpha_bar) ** 0.5, float(1 - alpha_bar) ** 0.5
    if prediction_type == "epsilon":
        x0 = project_x0((x - s * out) / a)
        return (x - a * x0) / s
    if prediction_type == "v_prediction":
        x0 = project_x0(a * x - s * out)
        return a * ((x - a * x0) / s) - s * x0
    raise ValueError(f"project_x0 needs an epsilon or v prediction, not {prediction_type!r}")


def _start(shape: tuple[int, ...], generator: torch.Generator | None, noise: torch.Tensor | None) -> torch.Tensor:
    if noise is None:
        return torch.randn(shape, generator=generator, device="cpu")
    if tuple(noise.shape) != tuple(shape):
        raise ValueError(f"noise of shape {tuple(noise.shape)} for samples of shape {tuple(shape)}")
    return noise.float()


@torch.no_grad()
def sample(
    model_fn: ModelFn,
    shape: tuple[int, ...],
    schedule: Schedule,
    cond: Any,
    uncond: Any = None,
    *,
    steps: int = 20,
    guidance: float = 1.0,
    sampler: str = "dpm++",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    project_x0: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: Callable[[int, int], None] | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw samples x_0 of ``shape`` (B, ...).

    Args:
        model_fn: (x_t, t, conditioning) -> model output, as the model was trained (``schedule.prediction_type``).
        schedule: the model's training schedule and how to sample it.
        cond, uncond: the conditioning and the null conditioning for guidance (``uncond`` only with guidance).
        steps: sampler steps (20-50 are enough with DPM-Solver++).
        guidance: classifier-free guidance scale; 1 disables it.
        sampler: ``dpm++`` or ``ddim``.
        generator: for reproducible noise (drawn on the CPU, then moved to ``device``).
        project_x0: maps each step's predicted clean sample to the one the solver continues from.
        progress: called with (step, steps) after each step.
        noise: the starting noise (``shape``), instead of drawing it with ``generator``.
    """
    if steps < 1:
        raise ValueError("steps must be at least 1")
    device = torch.device(device) if device is not None else torch.device("cpu")
    denoise = classifier_free_guidance(model_fn, cond, uncond, guidance)
    if sampler == "dpm++" and supported(schedule):
        solver = DPMSolverPP(schedule, steps)  # diffusers' DPM-Solver++ without importing diffusers (seconds)
        x = _start(shape, generator, noise).to(device) * solver.init_noise_sigma
        for i, t in enumerate(solver.timesteps.tolist()):
            out = denoise(x, torch.full((shape[0],), t, device=device, dtype=torch.long))
            if project_x0 is not None:
                out = _projected(out, x, solver.alphas_cumprod[t], schedule.prediction_type, project_x0)
            x = solver.step(out, x)
            if progress is not None:
                progress(i + 1, steps)
        return x
    scheduler = make_sampler(sampler, schedule)
    scheduler.set_timesteps(steps, device=device)
    x = _start(shape, generator, noise).to(device) * scheduler.init_noise_sigma
    for i, t in enumerate(scheduler.timesteps):
        t_batch = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
        out = denoise(scheduler.scale_model_input(x, t), t_batch)
        if project_x0 is not None:
            out = _projected(out, x, scheduler.alphas_cumprod[int(t)], schedule.prediction_type, project_x0)
        x = scheduler.step(out, t, x).prev_sample
        if progress is not None:
            progress(i + 1, steps)
    return x


__all__ = ["SAMPLERS", "ModelFn", "classifier_free_guidance", "make_sampler", "sample"]
