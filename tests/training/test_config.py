"""Configs are data: merged left to right, overridden by a.b=value, validated with the failing key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from beatforge.config import ConfigError, load_config
from tests.conftest import REPO

CONFIGS = sorted((REPO / "configs" / "mug").glob("*.yaml"))


@pytest.mark.parametrize("path", [p for p in CONFIGS if "features" not in p.name], ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    cfg = load_config([path])
    assert cfg.name == path.stem


def test_merge_left_to_right_and_overrides(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("data:\n  batch_size: 8\n  num_workers: 3\n")
    b.write_text("data:\n  batch_size: 12\n")
    cfg = load_config([a, b], ["model.base_learning_rate=0.002", "data.train_augment.rate=[0.8,1.25]"])
    assert (cfg.data.batch_size, cfg.data.num_workers) == (12, 3)
    assert cfg.model.base_learning_rate == 0.002 and cfg.data.train_augment.rate == [0.8, 1.25]
    assert cfg.name == "a"


@pytest.mark.parametrize(
    "text,override,needle",
    [
        ("model:\n  params:\n    unet_config:\n      channel_mul: [1, 2]\n", None,
         "unknown key 'model.params.unet_config.channel_mul'"),
        ("data:\n  batch_size: lots\n", None, "'data.batch_size'"),
        ("", "model.params.nonsense=1", "unknown key 'model.params.nonsense'"),
        ("model:\n  kind: gan\n", None, "'model.kind'"),
        ("model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n", None, "unknown key 'model.target'"),
        ("data:\n  window_frames: 100\n", None, "'data.window_frames'"),
        ("data:\n  train_augment:\n    mirror_p: 2\n", None, "'data.train_augment.mirror_p'"),
    ],
)
def test_bad_configs_name_the_key(tmp_path: Path, text: str, override: str | None, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as info:
        load_config([path], [override] if override else None)
    assert needle in str(info.value)


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(["configs/mug/nope.yaml"])
