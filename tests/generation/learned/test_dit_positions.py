"""The osu!standard DiT at inference: it samples through the shared loop of :mod:`beatforge.diffusion` with the noise
schedule its model.json records (a DiT trained with linear betas is sampled with linear betas), guidance is the
shared one, and the spacing projection runs inside the loop through its hook."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import beatforge.diffusion.sampling as sampling
from beatforge.charts.standard_sequence import KIND, TIME, X, Y
from beatforge.checkpoints import load_dit
from beatforge.diffusion.dpm_solver import training_betas
from beatforge.diffusion.sampling import classifier_free_guidance
from beatforge.generation.learned.dit_positions import dit_model_fn, dit_schedule, sample_positions
from beatforge.generation.remap import remap_standard
from beatforge.generation.request import RemapRequest
from beatforge.models.dit import DIT_FORMAT, DiT, dit_config


def _tiny_dit(seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    net = DiT(dit_config("DiT-T", num_classes=2)).eval()
    for p in net.parameters():  # adaLN-Zero starts at a zero output: perturb so the schedule matters
        p.data += 0.05 * torch.randn_like(p)
    return net


def _checkpoint(d: Path, net: DiT, **meta) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(d / "model.safetensors"))
    (d / "model.json").write_text(json.dumps({"format": DIT_FORMAT, "config": net.cfg.to_dict(), "seq_len": 16,
                                              **meta}), encoding="utf-8")
    (d / "beatmap_idx.json").write_text(json.dumps({"111": 0, "222": 1}), encoding="utf-8")
    return d


def _seq(n: int = 12) -> np.ndarray:
    seq = np.zeros((n, 8))
    seq[:, TIME] = 1000 + 250 * np.arange(n)
    seq[:, X] = 256 + 120 * np.cos(np.arange(n))
    seq[:, Y] = 192 + 90 * np.sin(np.arange(n))
    seq[:, KIND] = 0
    return seq


def _osu(path: Path) -> Path:
    objs = "\n".join(f"{100 + 30 * i},{100 + 15 * i},{1000 + 250 * i},1,0" for i in range(10))
    path.write_text("osu file format v14\n[General]\nMode: 0\n[Difficulty]\nSliderMultiplier:1.4\n[TimingPoints]\n"
                    f"1000,500,4,2,0,100,1,0\n[HitObjects]\n{objs}\n", encoding="utf-8")
    return path


def test_the_schedule_comes_from_model_json() -> None:
    assert dit_schedule({"noise_schedule": "linear"}).beta_schedule == "linear"
    old = dit_schedule({})  # a model.json from before train.py recorded it: osu-diffusion's cosine
    assert (old.beta_schedule, old.num_train_timesteps, old.prediction_type, old.timestep_spacing,
            old.solver_order) == ("squaredcos_cap_v2", 1000, "epsilon", "linspace", 2)


def test_a_dit_trained_with_linear_betas_is_sampled_with_linear_betas(tmp_path: Path, monkeypatch) -> None:
    made = []

    class Spy(sampling.DPMSolverPP):
        def __init__(self, schedule, steps) -> None:
            super().__init__(schedule, steps)
            made.append(self)

    monkeypatch.setattr(sampling, "DPMSolverPP", Spy)
    net = _tiny_dit()
    src = _osu(tmp_path / "map.osu")
    linear = _checkpoint(tmp_path / "linear", net, noise_schedule="linear")
    cosine = _checkpoint(tmp_path / "cosine", net)  # no noise_schedule: the default
    out = {}
    for name, ckpt in (("linear", linear), ("cosine", cosine)):
        bm = remap_standard(src, RemapRequest(model=ckpt, steps=3, seed=4, spacing=False))
        out[name] = [(o.x, o.y) for o in bm.hit_objects]
    assert [m.schedule.beta_schedule for m in made] == ["linear", "squaredcos_cap_v2"]
    assert torch.allclose(training_betas(made[0].schedule), torch.linspace(0.0001, 0.02, 1000))
    assert not torch.allclose(made[0].alphas_cumprod, made[1].alphas_cumprod)
    assert out["linear"] != out["cosine"]  # the same network and seed: the schedule decides


def test_guidance_is_the_shared_function_and_one_pass_at_scale_one() -> None:
    net = _tiny_dit(1)
    b, t = 2, 40
    x = torch.rand(b, 2, t)
    steps = torch.randint(0, 1000, (b,))
    cond = (torch.rand(b, t) * 1e4, torch.rand(b, t) * 200, torch.randint(0, 16, (b, t)), torch.tensor([0, 1]))
    uncond = (*cond[:3], torch.full((b,), net.null_label))
    fn = dit_model_fn(net, 8)
    with torch.no_grad():
        plain = net(x, steps, *cond, window=8)
        one = classifier_free_guidance(fn, cond, uncond, 1.0)(x, steps)
        three = classifier_free_guidance(fn, cond, uncond, 3.0)(x, steps)
        null = net(x, steps, *uncond, window=8)
    assert torch.equal(plain, one)
    assert torch.allclose(three, null + 3.0 * (plain - null), atol=1e-5)


def test_the_projection_runs_inside_the_loop(tmp_path: Path) -> None:
    net, _ = load_dit(_checkpoint(tmp_path / "ckpt", _tiny_dit(2)))
    seq = _seq()
    seen = []

    def project(p: np.ndarray) -> np.ndarray:
        seen.append(p.shape)
        return np.full_like(p, 100.0)  # every predicted clean position to (100, 100)

    raw = sample_positions(net, seq, label=0, schedule=dit_schedule({}), steps=4, seed=0, window=16)
    kept = sample_positions(net, seq, label=0, schedule=dit_schedule({}), steps=4, seed=0, window=16,
                            project=project)
    assert seen == [(12, 2)] * 4
    assert raw.shape == kept.shape == (12, 2)
    assert np.allclose(kept, 100.0, atol=0.5)  # the last step lands on the projected clean sample
    assert not np.allclose(raw, 100.0, atol=0.5)
    with pytest.raises(TypeError):
        sample_positions(net, seq, label=0, steps=1)  # the schedule is the model's: no silent default
