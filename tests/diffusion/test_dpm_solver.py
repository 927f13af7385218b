"""The hand-written DPM-Solver++ is diffusers' DPMSolverMultistepScheduler step for step, on every schedule the
models use (the mania model's scaled-linear betas with trailing spacing, the DiT's cosine betas with linspace
spacing), both parameterisations, orders 1-2, few and many steps."""

from __future__ import annotations

import pytest
import torch

from beatforge.diffusion.dpm_solver import DPMSolverPP, sampling_timesteps, training_betas
from beatforge.diffusion.sampling import make_sampler
from beatforge.diffusion.schedule import Schedule

SCHEDULES = [
    Schedule(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, timestep_spacing="trailing"),
    Schedule(beta_schedule="scaled_linear", prediction_type="v_prediction", timestep_spacing="trailing"),
    Schedule(),  # the DiT's: cosine betas, linspace spacing, epsilon
    Schedule(beta_schedule="linear", prediction_type="v_prediction", solver_order=1, timestep_spacing="leading"),
]


def _fake_model(x: torch.Tensor, t: int) -> torch.Tensor:
    """A deterministic, non-trivial model output that depends on x and t."""
    return torch.tanh(0.7 * x + 0.001 * t) - 0.1 * x.roll(1, dims=-1)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: f"{s.beta_schedule}-{s.prediction_type}-"
                         f"{s.timestep_spacing}-o{s.solver_order}")
@pytest.mark.parametrize("steps", [1, 2, 7, 30, 50])
def test_matches_diffusers(schedule: Schedule, steps: int) -> None:
    ref = make_sampler("dpm++", schedule)
    ref.set_timesteps(steps)
    mine = DPMSolverPP(schedule, steps)
    assert mine.timesteps.tolist() == ref.timesteps.tolist()
    assert torch.equal(mine.sigmas, ref.sigmas)
    assert torch.equal(mine.alphas_cumprod, ref.alphas_cumprod)
    x0 = torch.randn((3, 4, 16), generator=torch.Generator().manual_seed(steps))
    a, b = x0.clone(), x0.clone()
    for t in mine.timesteps.tolist():
        a = ref.step(_fake_model(a, t), t, a).prev_sample
        b = mine.step(_fake_model(b, t), b)
    torch.testing.assert_close(b, a, rtol=0, atol=0)  # the same float32 arithmetic in the same order


def test_helpers_match_diffusers_tables() -> None:
    from diffusers import DDPMScheduler

    for s in SCHEDULES:
        ddpm = DDPMScheduler(**s.scheduler_kwargs())
        assert torch.equal(training_betas(s), ddpm.betas)
    assert sampling_timesteps(Schedule(timestep_spacing="trailing"), 4).tolist() == [999, 749, 499, 249]
