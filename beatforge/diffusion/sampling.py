"""Few-step samplers with classifier-free guidance, on diffusers' schedulers.

diffusers' DDIMScheduler and DPMSolverMultistepScheduler (DPM-Solver++, 2nd order) implement the update rules;
this module runs the loop: one audio encoding per call, the batch doubled as [conditional; null] for guidance
(skipped at ``cfg_scale == 1``, where the null half would be wasted work, a fault of osu-diffusion), and
eps_hat = eps_null + s * (eps_cond - eps_null) (Ho & Salimans 2022, eq. 6).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from beatforge.config import ModelParams
from beatforge.diffusion.schedule import scheduler_kwargs

SAMPLERS = ("ddim", "dpm++")


def make_sampler(kind: str, params: ModelParams):
    """A diffusers scheduler for sampling with the training schedule's alphas."""
    if kind == "ddim":
        from diffusers import DDIMScheduler

        return DDIMScheduler(
            **scheduler_kwargs(params), clip_sample=False, set_alpha_to_one=False, timestep_spacing="trailing"
        )
    if kind == "dpm++":
        from diffusers import DPMSolverMultistepScheduler

        return DPMSolverMultistepScheduler(
            **scheduler_kwargs(params), algorithm_type="dpmsolver++", solver_order=2, timestep_spacing="trailing"
        )
    raise ValueError(f"unknown sampler '{kind}' (choose from {', '.join(SAMPLERS)})")


@torch.no_grad()
def sample(
    model_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]], torch.Tensor],
    shape: tuple[int, ...],
    tokens: torch.Tensor,
    null_tokens: torch.Tensor,
    audio_maps: list[torch.Tensor],
    params: ModelParams,
    *,
    steps: int = 30,
    cfg_scale: float = 5.0,
    sampler: str = "dpm++",
    generator: torch.Generator | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Draw latents z_0 of ``shape`` (B, C, L).

    Args:
        model_fn: (z_t, t, tokens, audio_maps) -> model output (eps or v, as trained).
        tokens, null_tokens: (B, F) prompt ids and the null prompt.
        audio_maps: the audio encoder's maps for these B examples (computed once).
        steps: sampler steps (20-50 give good charts with DPM-Solver++).
        cfg_scale: guidance scale s; 1 disables guidance.
        generator: for reproducible noise (a fixed seed gives the same chart).
        progress: called with (step, steps) after each step.
    """
    if steps < 1:
        raise ValueError("steps must be at least 1")
    device = tokens.device
    scheduler = make_sampler(sampler, params)
    scheduler.set_timesteps(steps, device=device)
    z = torch.randn(shape, generator=generator, device="cpu").to(device) * scheduler.init_noise_sigma
    guided = cfg_scale != 1.0
    if guided:
        both_tokens = torch.cat([tokens, null_tokens])
        both_audio = [torch.cat([a, a]) for a in audio_maps]
    for i, t in enumerate(scheduler.timesteps):
        t_batch = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
        zin = scheduler.scale_model_input(z, t)
        if guided:
            out = model_fn(torch.cat([zin, zin]), torch.cat([t_batch, t_batch]), both_tokens, both_audio)
            cond, null = out.chunk(2)
            out = null + cfg_scale * (cond - null)
        else:
            out = model_fn(zin, t_batch, tokens, audio_maps)
        z = scheduler.step(out, t, z).prev_sample
        if progress is not None:
            progress(i + 1, steps)
    return z
