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


def test_the_first_loss_prints_at_step_1(dataset: Path, tmp_path: Path, capsys) -> None:
    """The first loss comes after one step, not --log-every of them, with steps/s and the time left; then every
    --log-every steps."""
    import re

    _run(dataset, tmp_path / "results", "--max-steps", "3", "--log-every", "2", "--ckpt-every", "100")
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "train loss" in ln]
    assert [ln[:14] for ln in lines] == ["(step=0000001)", "(step=0000002)"], lines
    assert re.fullmatch(r"\(step=0000001\) train loss \d+\.\d{4}, \d+\.\d\d steps/s, \d+:\d\d:\d\d left", lines[0])


def test_help_names_every_size_and_every_default() -> None:
    """train.py --help lists the DiT sizes from their one table (DiT-XS, the shipped size, included); every flag of
    train.py, sample.py and generate_beatmap_idx.py has a help text that shows its default."""
    import argparse
    import importlib.util

    from beatforge.models.dit import SIZES
    from beatforge.training.standard import build_parser

    parsers = [build_parser()]
    for script in ("sample.py", "generate_beatmap_idx.py"):
        spec = importlib.util.spec_from_file_location(script[:-3], REPO / script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        parsers.append(module.build_parser())
    text = " ".join(parsers[0].format_help().split())
    assert all(name in text for name in SIZES) and "DiT-XS" in text
    for parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{parser.prog} {action.option_strings}: no help"
            if action.default not in (None, False, [], argparse.SUPPRESS):
                assert "default" in action.help, f"{parser.prog} {action.option_strings}: default not shown"


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


def test_sample_py_remaps_a_real_map(dataset: Path, tmp_path: Path) -> None:
    """A (barely trained) tiny DiT remaps a real map: same times, every object in the playfield, slider paths of
    exactly their required length, rosu-pp-py rates it; an unknown style fails with one line naming the way to
    find valid ids."""
    import numpy as np
    import rosu_pp_py as rosu

    from beatforge.charts.slider_path import path_length, polyline
    from beatforge.formats.osu import parse_osu

    run = _run(dataset, tmp_path / "results")
    ckpt = sorted((run / "checkpoints").iterdir())[-1]
    src = need_data("standard", "kimi_no_bouken.osu")
    out = tmp_path / "remap.osu"
    proc = subprocess.run([sys.executable, str(REPO / "sample.py"), "--beatmap", str(src), "--ckpt", str(ckpt),
                           "--num-sampling-steps", "10", "--seed", "1", "--cfg-scale", "1.0", "-o", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "sample" in proc.stderr and "10/10" in proc.stderr  # the bar of the sampler steps
    ref, new = parse_osu(src), parse_osu(out)
    assert [o.time for o in new.hit_objects] == [o.time for o in ref.hit_objects]
    assert [o.length for o in new.hit_objects] == [o.length for o in ref.hit_objects]
    for o in new.hit_objects:
        assert 0 <= o.x <= 512 and 0 <= o.y <= 384
        if o.curve_points:
            assert all(0 <= x <= 512 and 0 <= y <= 384 for x, y in o.curve_points)
            pts = np.array([(o.x, o.y), *o.curve_points], dtype=float)
            assert abs(path_length(polyline(o.curve_type, pts)) - o.length) < 1.0 or o.length <= 0
    assert rosu.Difficulty().calculate(rosu.Beatmap(path=str(out))).stars > 0
    moved = np.mean([(o.x, o.y) != (r.x, r.y) for o, r in zip(new.hit_objects, ref.hit_objects)])
    assert moved > 0.9  # new positions, not a copy
    from beatforge.evaluation.standard_metrics import remap_metrics

    # the spacing is kept (projection), whatever this barely trained model's directions
    assert remap_metrics(new, ref)["spacing_tv"] < 0.25
    bad = subprocess.run([sys.executable, str(REPO / "sample.py"), "--beatmap", str(src), "--ckpt", str(ckpt),
                          "--style-id", "123456789", "--num-sampling-steps", "2"], capture_output=True, text=True,
                         timeout=300, cwd=REPO)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "beatforge styles" in bad.stderr


def test_remap_styles_and_beatmap_idx_commands(dataset: Path, tmp_path: Path, capsys) -> None:
    import json

    import beatforge
    from beatforge.cli import main as cli

    run = _run(dataset, tmp_path / "results")
    ckpt = sorted((run / "checkpoints").iterdir())[-1]
    capsys.readouterr()
    assert cli(["styles", "--ckpt", str(ckpt)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 67 and lines[0].split("\t")[1] == "0" and " - " in lines[0].split("\t")[2]
    style = lines[0].split("\t")[0]
    src = need_data("standard", "kimi_no_bouken.osu")
    out = tmp_path / "r.osu"
    assert cli(["remap", str(src), "-o", str(out), "--ckpt", str(ckpt), "--style-id", style, "--cfg-scale", "2",
                "--steps", "5"]) == 0
    assert "beatforge remap" in out.read_text(encoding="utf-8")
    bm = beatforge.remap_standard(src, beatforge.RemapRequest(model=ckpt, steps=3, seed=1))
    assert len(bm.hit_objects) > 300
    proc = subprocess.run([sys.executable, str(REPO / "generate_beatmap_idx.py"), "--data-path", str(dataset),
                           "--out", str(tmp_path / "idx.json")], capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "idx.json").read_text()) == json.loads((ckpt / "beatmap_idx.json").read_text())


def test_a_shipped_model_folder_resumes_without_optimizer_state() -> None:
    """models/standard holds the EMA weights only (no state.pt): --ckpt takes it, weights for model and EMA, a
    fresh optimizer, the step from model.json."""
    import json

    state = load_state(REPO / "models" / "standard")
    meta = json.loads((REPO / "models" / "standard" / "model.json").read_text())
    assert state["opt"] is None and state["step"] == meta["step"] and state["config"] == meta["config"]
    assert state["model"]["labels.weight"].dtype == torch.float32 and state["model"] is state["ema"]
