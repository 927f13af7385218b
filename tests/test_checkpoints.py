"""Model files: safetensors + YAML and a weights_only-loadable model.ckpt; nothing foreign is unpickled."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from beatforge.checkpoints import ModelFile, ModelFileError, load_model_file, load_weights, save_model_dir


def _model() -> ModelFile:
    state = {
        "first_stage.w": torch.arange(6.0).reshape(2, 3),
        "denoiser.b": torch.ones(4),
        "scale_factor": torch.tensor(0.5),
    }
    return ModelFile(
        "latent_diffusion",
        {"model": {"kind": "latent_diffusion"}},
        state,
        {"keys": [4, 7], "feature_table": [{"name": "sr", "type": "numeric"}]},
    )


def test_round_trip_all_three_forms(tmp_path: Path) -> None:
    written = save_model_dir(tmp_path / "m", _model())
    assert [p.name for p in written] == ["model.safetensors", "model.yaml", "model.ckpt"]
    for path in (tmp_path / "m", tmp_path / "m" / "model.safetensors", tmp_path / "m" / "model.ckpt"):
        mf = load_model_file(path)
        assert mf.kind == "latent_diffusion" and mf.meta["keys"] == [4, 7]
        assert torch.equal(mf.state_dict["first_stage.w"], _model().state_dict["first_stage.w"])
    # model.ckpt is plain data: the strictest torch loader reads it
    obj = torch.load(tmp_path / "m" / "model.ckpt", weights_only=True)
    assert obj["format"] == "beatforge-model/1"


class Evil:
    def __reduce__(self):
        return (print, ("pickle code ran",))


def test_a_pickle_with_code_is_refused(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "model.ckpt"
    with bad.open("wb") as fh:
        pickle.dump({"format": "beatforge-model/1", "state_dict": {}, "x": Evil()}, fh)
    with pytest.raises(ModelFileError, match="weights_only"):
        load_model_file(bad)
    assert "pickle code ran" not in capsys.readouterr().out


@pytest.mark.parametrize("content,needle", [(b"garbage", "not a beatforge model file"), (None, "no such model file")])
def test_bad_files(tmp_path: Path, content: bytes | None, needle: str) -> None:
    path = tmp_path / "model.ckpt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=needle):
        load_model_file(path)


def test_safetensors_without_its_yaml(tmp_path: Path) -> None:
    save_model_dir(tmp_path, _model())
    (tmp_path / "model.yaml").unlink()
    with pytest.raises(ModelFileError, match="model.yaml is missing"):
        load_model_file(tmp_path / "model.safetensors")


def test_load_weights_names_the_mismatch() -> None:
    net = torch.nn.Linear(3, 2)
    good = {"first_stage.weight": torch.zeros(2, 3), "first_stage.bias": torch.zeros(2)}
    assert load_weights(net, good, prefix="first_stage.", source="m") == 2
    with pytest.raises(ModelFileError, match="'first_stage.weight' has shape"):
        load_weights(net, {**good, "first_stage.weight": torch.zeros(4, 3)}, prefix="first_stage.", source="m")
    with pytest.raises(ModelFileError, match="lacks 'first_stage.bias'"):
        load_weights(net, {"first_stage.weight": torch.zeros(2, 3)}, prefix="first_stage.", source="m")
