"""The CPU path through ONNX Runtime: the exported graphs compute what torch computes, the numpy solver steps as
the torch one, the cache follows the model's files, and a whole CPU generation never imports torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from beatforge.diffusion.dpm_solver import DPMSolverPP
from beatforge.diffusion.schedule import Schedule
from beatforge.generation.learned.onnx_models import exported, load_onnx_rhythm
from beatforge.generation.learned.onset_network import DEFAULT_RHYTHM_MODEL, OnsetActivations, load_default_rhythm
from beatforge.runtime import runs_on_onnx

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("schedule", [Schedule(), Schedule(beta_schedule="scaled_linear", timestep_spacing="trailing"),
                                      Schedule(prediction_type="v_prediction", solver_order=1)])
def test_the_numpy_solver_steps_as_the_torch_one(schedule: Schedule) -> None:
    x0 = np.random.default_rng(0).standard_normal((2, 3, 40), dtype=np.float32)

    def model(x, t):  # a fixed, input-dependent "network" (the same numbers on both)
        other = x0[::-1].copy() if isinstance(x, np.ndarray) else torch.from_numpy(x0[::-1].copy())
        return 0.3 * x + 0.01 * float(t) ** 0.5 * other

    finals = []
    for xp in (np, torch):
        solver = DPMSolverPP(schedule, 12, xp)
        x = x0.copy() if xp is np else torch.from_numpy(x0.copy())
        for t in solver.timesteps.tolist():
            x = solver.step(model(x, t), x)
        finals.append(np.asarray(x))
    assert finals[0].dtype == np.float32
    np.testing.assert_allclose(finals[0], finals[1], rtol=1e-4, atol=1e-5)


def test_the_rhythm_rows_match_torch() -> None:
    mel = np.random.default_rng(1).standard_normal((128, 3001)).astype(np.float32)
    ours = OnsetActivations(load_onnx_rhythm(DEFAULT_RHYTHM_MODEL), mel, [0.7, 3.0, 11.0])
    theirs = OnsetActivations(load_default_rhythm(), mel, [0.7, 3.0, 11.0])
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), atol=1e-5)


def test_a_changed_model_gets_new_graphs_and_a_shipped_onnx_is_never_read(tmp_path: Path) -> None:
    model = tmp_path / "rhythm"
    shutil.copytree(DEFAULT_RHYTHM_MODEL, model)
    (model / "trunk.onnx").write_bytes(b"not a graph: never read")
    first = exported(model, "rhythm")
    assert exported(model, "rhythm") == first  # cached
    with open(model / "model.yaml", "a", encoding="utf-8") as f:
        f.write("# edited\n")
    second = exported(model, "rhythm")
    assert second != first and (second / "trunk.onnx").read_bytes() != b"not a graph: never read"
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".export-")]  # no half-made folder left


def test_which_devices_run_on_onnx(monkeypatch) -> None:
    assert runs_on_onnx("cpu") and runs_on_onnx("auto")  # this machine: a CPU-only torch
    assert not runs_on_onnx("cuda") and not runs_on_onnx("mps")
    monkeypatch.setenv("BEATFORGE_ONNX", "0")
    assert not runs_on_onnx("cpu")


def test_a_cpu_generation_never_imports_torch(tmp_path: Path) -> None:
    import soundfile as sf

    from beatforge.generation.learned.chart_diffusion import DEFAULT_MODEL
    from beatforge.generation.learned.onnx_models import load_onnx_mania

    load_onnx_mania(DEFAULT_MODEL)  # the graphs are in this session's cache (the export itself needs torch)
    load_onnx_rhythm(DEFAULT_RHYTHM_MODEL)
    sr = 22050
    y = 0.02 * np.sin(2 * np.pi * 220 * np.arange(8 * sr) / sr)
    for onset in np.arange(0.5, 7.5, 0.4):  # synthetic clicks
        i = int(onset * sr)
        y[i:i + 400] += 0.8 * np.exp(-np.arange(400) / 60.0)
    sf.write(tmp_path / "clicks.wav", y.astype(np.float32), sr)
    script = ("import sys\nfrom beatforge.generation.mania import generate_mania\n"
              "from beatforge.generation.request import ManiaRequest\n"
              f"charts = generate_mania({str(tmp_path / 'clicks.wav')!r}, ManiaRequest(steps=3, seed=1))\n"
              "print(len(charts), charts[0].n_notes > 0, 'torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["1", "True", "False"], proc.stdout
