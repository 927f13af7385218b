"""End-to-end training on CPU with the tiny configs, on a synthetic dataset the test builds (no real data needed):
the loss falls, a resumed run continues the uninterrupted run's loss curve, fine-tuning loads a model file,
model files that do not fit fail with a clear message, and the DDP path runs with 2 gloo processes."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from beatforge.training.run import main_train
from tests.conftest import REPO

pytestmark = pytest.mark.slow

# A tiny chart VAE (the shipped one is bigger than a test needs), shared by every tiny run here.
TINY_VAE = [
    "model.params.first_stage_config.ddconfig.middle_channels=8",
    "model.params.first_stage_config.ddconfig.key_embed_dim=8",
    "model.params.first_stage_config.ddconfig.num_groups=4",
]


def _metrics(run: Path, key: str) -> dict[int, float]:
    with (run / "csv" / "metrics.csv").open() as fh:
        return {int(r["step"]): float(r[key]) for r in csv.DictReader(fh) if r.get(key)}


def _only_run(root: Path) -> Path:
    runs = sorted(p for p in root.iterdir() if p.is_dir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def synthetic_dataset(tmp_path_factory) -> Path:
    from beatforge.data.build import BuildOptions, build_dataset
    from beatforge.data.synthetic import make_synthetic_library

    root = tmp_path_factory.mktemp("synthetic")
    lib = make_synthetic_library(root / "songs", n_songs=6, seconds=20.0)
    out = root / "dataset"
    build_dataset(BuildOptions(songs=[lib], out=out, workers=1), progress=False)
    return out


@pytest.fixture(scope="module")
def tiny_vae(synthetic_dataset: Path, tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("vae-runs")
    rc = main_train(["-b", str(REPO / "configs/mug/autoencoder.yaml"), "-l", str(logdir), "--quiet",
                     f"data.dataset=[{synthetic_dataset}]", "data.batch_size=4", "data.window_frames=128",
                     "data.num_workers=0", "model.params.warmup_steps=0", "model.base_learning_rate=3e-3",
                     "lightning.trainer.max_steps=30", "lightning.trainer.val_check_interval=30",
                     "lightning.checkpoint.every_n_train_steps=30", "lightning.trainer.log_every_n_steps=1",
                     *TINY_VAE])
    assert rc == 0
    run = _only_run(logdir)
    loss = _metrics(run, "train/loss")
    assert loss[max(loss)] < loss[min(loss)]
    return run / "model" / "model.safetensors"


def _tiny(dataset: Path, vae: Path, logdir: Path, *extra: str) -> list[str]:
    return ["-b", str(REPO / "configs/mug/tiny.yaml"), "-l", str(logdir), "--quiet", f"data.dataset=[{dataset}]",
            f"model.params.first_stage_config.ckpt_path={vae}", *TINY_VAE, *extra]


def test_tiny_diffusion_loss_falls(synthetic_dataset, tiny_vae, tmp_path) -> None:
    assert main_train(_tiny(synthetic_dataset, tiny_vae, tmp_path)) == 0
    run = _only_run(tmp_path)
    loss = _metrics(run, "train/loss")
    steps = sorted(loss)
    first = sum(loss[s] for s in steps[:10]) / 10
    last = sum(loss[s] for s in steps[-10:]) / 10
    assert last < 0.93 * first, (first, last)
    val = _metrics(run, "val/loss")
    assert val[max(val)] < val[min(val)]
    for name in ("checkpoints/last.ckpt", "model/model.safetensors", "model/model.yaml", "model/model.ckpt",
                 "loss_curve.png"):
        assert (run / name).is_file(), name
    assert list((run / "configs").glob("*-project.yaml"))
    assert "val/rhythm_f1_50ms" in (run / "csv" / "metrics.csv").read_text().splitlines()[0]


def test_resume_continues_the_same_loss_curve(synthetic_dataset, tiny_vae, tmp_path, capsys) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main_train(_tiny(synthetic_dataset, tiny_vae, whole)) == 0
    assert main_train(_tiny(synthetic_dataset, tiny_vae, parts, "--max_steps", "30")) == 0
    run = _only_run(parts)
    capsys.readouterr()
    assert main_train(["-r", str(run), "--quiet", "--max_steps", "60"]) == 0
    assert "resuming" in capsys.readouterr().out
    a, b = _metrics(_only_run(whole), "train/loss"), _metrics(run, "train/loss")
    # the log keeps the steps before the checkpoint too (Lightning's CSV writer used to delete them), once each
    assert sorted(b) == sorted(a)
    later = [s for s in a if s > 30]
    assert later and all(s in b for s in later)
    for s in later:
        assert b[s] == pytest.approx(a[s], rel=1e-4, abs=1e-5), s


def test_finetune_from_a_model_file(synthetic_dataset, tiny_vae, tmp_path, capsys) -> None:
    first = tmp_path / "first"
    assert main_train(_tiny(synthetic_dataset, tiny_vae, first, "--max_steps", "10")) == 0
    model = _only_run(first) / "model" / "model.ckpt"
    capsys.readouterr()
    second = tmp_path / "second"
    assert main_train(_tiny(synthetic_dataset, tiny_vae, second, "-r", str(model), "model.base_learning_rate=3e-4",
                            "--max_steps", "4")) == 0
    out = capsys.readouterr().out
    assert "fine-tuning" in out and "3e-04" in out.replace("0.0003", "3e-04")
    lr = _metrics(_only_run(second), "lr-AdamW")
    assert lr[min(lr)] == pytest.approx(3e-4)


def test_model_file_that_does_not_fit(synthetic_dataset, tiny_vae, tmp_path, capsys) -> None:
    first = tmp_path / "first"
    assert main_train(_tiny(synthetic_dataset, tiny_vae, first, "--max_steps", "2", "data.keys=[4,7]")) == 0
    model = _only_run(first) / "model" / "model.ckpt"
    # another feature table: drop the last feature
    table = (REPO / "configs/mug/mania_beatmap_features.yaml").read_text().rstrip().splitlines()[:-1]
    other = tmp_path / "other_features.yaml"
    other.write_text("\n".join(table) + "\n")
    capsys.readouterr()
    rc = main_train(_tiny(synthetic_dataset, tiny_vae, tmp_path / "x", "-r", str(model),
                          f"model.params.cond_stage_config.path_to_yaml={other}"))
    err = capsys.readouterr().err
    assert rc == 2 and "feature table does not fit" in err and "Traceback" not in err
    rc = main_train(_tiny(synthetic_dataset, tiny_vae, tmp_path / "y", "-r", str(model), "data.keys=[4,5]"))
    err = capsys.readouterr().err
    assert rc == 2 and "trained for [4, 7] keys" in err
    rc = main_train(_tiny(synthetic_dataset, tiny_vae, tmp_path / "z", "-r", str(model),
                          "model.params.unet_config.model_channels=16"))
    err = capsys.readouterr().err
    assert rc == 2 and "does not fit this config" in err and "shape" in err


def test_unknown_config_key_fails_with_its_name(tmp_path, capsys) -> None:
    tiny = str(REPO / "configs/mug/tiny.yaml")
    rc = main_train(["-b", tiny, "-l", str(tmp_path), "model.params.unet_config.depth=3"])
    err = capsys.readouterr().err
    assert rc == 2 and "model.params.unet_config.depth" in err
    assert not any(tmp_path.iterdir()), "a run directory was made for a bad config"


def test_ddp_with_two_gloo_processes(synthetic_dataset, tiny_vae, tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("BEATFORGE_RUN_DIR", None)
    cmd = [sys.executable, str(REPO / "main.py"), "--train", *_tiny(synthetic_dataset, tiny_vae, tmp_path),
           "--accelerator", "cpu", "--devices", "2", "--dist-backend", "gloo", "--max_steps", "6"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "distributed_backend=gloo" in proc.stderr + proc.stdout
    assert "All distributed processes registered. Starting with 2 processes" in proc.stderr + proc.stdout
    run = _only_run(tmp_path)
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "model" / "model.safetensors").is_file()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_writes_last_ckpt_and_the_model(sig, code, synthetic_dataset, tiny_vae, tmp_path) -> None:
    """Ctrl-C or SIGTERM mid-run (issue 14): last.ckpt at the step reached and the model files are written before
    the process ends, and the exit code says interrupted (130) or terminated (143), not success or failure."""
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--train",
                             *_tiny(synthetic_dataset, tiny_vae, tmp_path / "runs", "--max_steps", "100000",
                                    "lightning.checkpoint.every_n_train_steps=100000",
                                    "lightning.trainer.log_every_n_steps=1")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.time() + 240
    metrics = None
    while time.time() < deadline and proc.poll() is None:
        runs = [p for p in (tmp_path / "runs").glob("*") if p.is_dir()]
        metrics = runs[0] / "csv" / "metrics.csv" if runs else None
        if metrics is not None and metrics.is_file() and len(metrics.read_text().splitlines()) > 3:
            break
        time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    run = _only_run(tmp_path / "runs")
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] > 0
    assert (run / "model" / "model.safetensors").is_file()
    assert not list(run.rglob("*.part"))
