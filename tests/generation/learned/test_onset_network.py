"""The rhythm network at inference: activations interpolated in log density, training on clicks, the model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from beatforge.checkpoints import load_rhythm_model, save_rhythm_model
from beatforge.constants import RHYTHM_STEP_MS as STEP_MS
from beatforge.generation.learned.onset_network import DEFAULT_RHYTHM_MODEL, activation_at, load_default_rhythm
from beatforge.models.onset_net import OnsetNetConfig
from beatforge.training.rhythm import RhythmItem, train_rhythm


def test_activation_interpolates_in_log_density() -> None:
    grid = np.array([1.0, 4.0])
    acts = np.stack([np.zeros(5), np.ones(5)])
    assert np.allclose(activation_at(acts, 2.0, grid), 0.5)
    assert np.allclose(activation_at(acts, 0.1, grid), 0.0) and np.allclose(activation_at(acts, 9.0, grid), 1.0)


def test_rhythm_training_learns_clicks_and_round_trips(tmp_path: Path) -> None:
    """A tiny rhythm model on synthetic click-track items: the loss falls, and the saved model gives the same
    activations back."""
    rng = np.random.default_rng(0)
    items = []
    for s in range(3):
        n_hops = 6000
        mel = rng.normal(0.0, 0.05, (128, n_hops)).astype(np.float32)
        onsets = np.sort(rng.choice(np.arange(100, n_hops - 100, 40), 80, replace=False)) * STEP_MS / 2
        for t in onsets:
            i = int(t / (STEP_MS / 2))
            mel[40:90, i:i + 6] += np.linspace(3, 0.5, 6)
        items.append(RhythmItem(f"song{s}", "x", 4, 2.0, mel.astype(np.float16), onsets, float(onsets[0]),
                                float(onsets[-1])))
    cfg = OnsetNetConfig(channels=16, dilations=(1, 2, 4))
    net, losses = train_rhythm(items, steps=60, batch_size=4, window_steps=512, lr=5e-3, cfg=cfg, progress=False)
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
    save_rhythm_model(net, tmp_path / "rh", meta={"test": True})
    back = load_rhythm_model(tmp_path / "rh")
    mel = torch.from_numpy(items[0].mel[:, :2048].astype(np.float32))[None]
    with torch.no_grad():
        a, b = net(mel, torch.tensor([3.0])), back(mel, torch.tensor([3.0]))
    assert torch.allclose(a, b, atol=2e-2)  # fp16 weights


def test_shipped_rhythm_model_loads() -> None:
    if not (DEFAULT_RHYTHM_MODEL / "model.safetensors").is_file():
        pytest.fail("models/rhythm is missing: the default rhythm model must be committed")
    net = load_default_rhythm()
    assert sum(p.numel() for p in net.parameters()) < 1_000_000
