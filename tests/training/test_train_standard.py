"""osu-diffusion's train.py on a beatforge standard dataset (real maps of ../shared/data/standard): a tiny DiT
trains a few CPU steps and checkpoints; --ckpt resumes with the step restored; --relearn-embeds takes a new
--num-classes and keeps every other weight; bad flags fail in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from beatforge.errors import BeatforgeError
from beatforge.training.standard import load_state, main
from tests.conftest import REPO, need_data


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from beatforge.cli import main as cli

    src = need_data("standard")
    out = tmp_path_factory.mktemp("std") / "ds"
    assert cli(["dataset", "build", "--mode", "standard", "--songs", str(src), "--out", str(out)]) == 0
    return out


def _run(dataset: Path, results: Path, *extra: str) -> Path:
    argv = ["--data-path", str(dataset), "--model", "DiT-T", "--global-batch-size", "8", "--num-workers", "0",
            "--seq-len", "32", "--stride", "32", "--log-every", "2", "--ckpt-every", "3", "--max-steps", "4",
            "--results-dir", str(results), "--dist", "gloo", *extra]
    assert main(argv) == 0
    return sorted(results.iterdir())[-1]


def test_train_checkpoint_resume_and_relearn(dataset: Path, tmp_path: Path) -> None:
    run = _run(dataset, tmp_path / "results")
    assert run.name == "000-DiT-T"
    ckpts = sorted((run / "checkpoints").iterdir())
    assert [c.name for c in ckpts] == ["0000003", "0000004"]
    assert (run / "beatmap_idx.json").is_file() and "train loss" in (run / "log.txt").read_text()
    state = load_state(ckpts[-1])
    assert state["step"] == 4
    assert set(load_file(str(ckpts[-1] / "model.safetensors"))) == set(state["ema"])
    # resume: the step goes on from 4
    run2 = _run(dataset, tmp_path / "results", "--ckpt", str(ckpts[-1]), "--max-steps", "6")
    assert run2.name == "001-DiT-T"
    assert load_state(sorted((run2 / "checkpoints").iterdir())[-1])["step"] == 6
    # relearn-embeds: a new style table, the rest kept
    run3 = _run(dataset, tmp_path / "results", "--ckpt", str(ckpts[-1]), "--relearn-embeds", "--num-classes", "100",
                "--max-steps", "1", "--lr", "0")
    new = load_state(sorted((run3 / "checkpoints").iterdir())[-1])
    assert new["model"]["labels.weight"].shape[0] == 101
    for k, v in state["model"].items():
        if not k.startswith("labels."):
            assert torch.equal(new["model"][k], v), k
    with pytest.raises(BeatforgeError, match="relearn-embeds"):
        _run(dataset, tmp_path / "results", "--ckpt", str(ckpts[-1]), "--num-classes", "100")


def test_bad_data_path_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "train.py"), "--data-path", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a beatforge dataset" in proc.stderr


def test_torchrun_two_cpu_processes(dataset: Path, tmp_path: Path) -> None:
    """The guide's torchrun command shape, with two gloo processes on the CPU (DDP)."""
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run([str(torchrun), "--nproc-per-node=2", str(REPO / "train.py"), "--data-path", str(dataset),
                           "--model", "DiT-T", "--global-batch-size", "8", "--num-workers", "0", "--seq-len", "32",
                           "--stride", "32", "--ckpt-every", "100", "--max-steps", "2", "--results-dir",
                           str(tmp_path / "r"), "--dist", "gloo"], capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 process(es)" in proc.stdout
    assert load_state(tmp_path / "r" / "000-DiT-T" / "checkpoints" / "0000002")["step"] == 2
