"""The shared sampler loop of both diffusion models (:mod:`beatforge.diffusion.sampling`): golden numbers for seeded
loops (with and without guidance, with the x0 projection hook), the guidance rule, and a scheduler built from each
model's own schedule."""

from __future__ import annotations

import pytest
import torch

from beatforge.diffusion.sampling import classifier_free_guidance, make_sampler, sample
from beatforge.diffusion.schedule import Schedule

# the osu!mania model's kind of schedule (its config's betas, trailing spacing), with v prediction for the hook
MANIA_LIKE = Schedule(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                      prediction_type="v_prediction", timestep_spacing="trailing")
COND, NULL = torch.tensor([1.0, -1.0]), torch.zeros(2)


def toy(x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """A deterministic stand-in network: depends on the sample, the step and the conditioning."""
    return 0.98 * x + 0.01 * cond[:, None, None] + t.float()[:, None, None] / 100000


def _clamp(x0: torch.Tensor) -> torch.Tensor:
    return x0.clamp(-0.5, 0.5)


@pytest.mark.parametrize("schedule,kw,first", [
    (Schedule(), {}, [38.140419, -89.619919, -220.927673, -29.594616]),
    (Schedule(), {"guidance": 3.0}, [-31.084253, -158.844513, -290.152374, -98.819275]),
    (Schedule(), {"guidance": 2.0, "project_x0": _clamp}, [0.5, -0.244207, -0.5, 0.139045]),
    (MANIA_LIKE, {"guidance": 4.0, "sampler": "ddim"}, [0.098616, -0.056698, -0.216324, 0.016273]),
    (MANIA_LIKE, {"guidance": 1.5, "project_x0": _clamp}, [0.146283, -0.042928, -0.238431, 0.044995]),
], ids=["dpm-cosine", "dpm-cosine-guided", "dpm-cosine-guided-hook", "ddim-v-guided", "dpm-v-hook"])
def test_seeded_loop_golden_numbers(schedule: Schedule, kw: dict, first: list[float]) -> None:
    z = sample(toy, (2, 2, 3), schedule, COND, NULL, steps=4, generator=torch.Generator().manual_seed(0), **kw)
    assert z.shape == (2, 2, 3)
    assert z.flatten()[:4].tolist() == pytest.approx(first, rel=1e-5, abs=1e-5)


def test_guidance_is_one_pass_at_scale_one_and_doubles_the_batch_otherwise() -> None:
    calls = []

    def spy(x, t, cond):
        calls.append((x.shape[0], cond[0].shape[0], len(cond[1])))
        return x * cond[0][:, None, None]

    cond = (torch.tensor([2.0, 3.0]), [torch.ones(2, 1, 1)])
    uncond = (torch.tensor([1.0, 1.0]), [torch.ones(2, 1, 1)])
    x, t = torch.ones(2, 1, 1), torch.zeros(2, dtype=torch.long)
    assert torch.equal(classifier_free_guidance(spy, cond, uncond, 1.0)(x, t), spy(x, t, cond))
    calls.clear()
    out = classifier_free_guidance(spy, cond, uncond, 4.0)(x, t)
    assert calls == [(4, 4, 1)]  # one pass over [cond; uncond], the nested list of maps paired too
    assert out.flatten().tolist() == [1 + 4 * (2 - 1), 1 + 4 * (3 - 1)]


def test_identity_projection_changes_nothing_but_rounding() -> None:
    for schedule in (Schedule(), MANIA_LIKE):
        plain = sample(toy, (1, 2, 5), schedule, COND[:1], steps=3, generator=torch.Generator().manual_seed(1))
        hooked = sample(toy, (1, 2, 5), schedule, COND[:1], steps=3, generator=torch.Generator().manual_seed(1),
                        project_x0=lambda x0: x0)
        assert torch.allclose(plain, hooked, rtol=1e-4, atol=1e-4)


def test_the_scheduler_is_the_models_own() -> None:
    dit = make_sampler("dpm++", Schedule(beta_schedule="linear"))
    assert (dit.config.beta_schedule, dit.config.timestep_spacing, dit.config.solver_order,
            dit.config.prediction_type) == ("linear", "linspace", 2, "epsilon")
    assert torch.allclose(dit.betas, torch.linspace(0.0001, 0.02, 1000))
    mania = make_sampler("ddim", MANIA_LIKE)
    assert (mania.config.beta_schedule, mania.config.timestep_spacing, mania.config.prediction_type) == (
        "scaled_linear", "trailing", "v_prediction")
    with pytest.raises(ValueError, match="ddim, dpm"):
        make_sampler("euler", Schedule())
    with pytest.raises(ValueError, match="at least 1"):
        sample(toy, (1, 2, 3), Schedule(), COND[:1], steps=0)
