"""Export beatforge's generation networks to ONNX graphs, for ONNX Runtime to run on the CPU.

Why: on a 2-core CPU, ``import torch`` alone takes about 2 s and tearing it down another second, a third of a whole
``beatforge generate``; ONNX Runtime imports in 0.2 s and runs the denoiser's convolutions in half torch's time
(measured on the shipped model, a 3-minute song: 0.023 s a step against 0.043 s). The graphs are made here, from the
model's own safetensors, the first time a model is used on the CPU (:mod:`beatforge.generation.learned.onnx_models`
keeps them in the cache); an ``.onnx`` file that came with a model is never read.

Each export is checked before it is kept: the graph is run on an input of another length than the one it was traced
with and compared with torch's output (a shape the tracer froze would show there).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from beatforge.checkpoints import load_model_file, load_rhythm_model, load_weights
from beatforge.config import latent_stride
from beatforge.constants import MEL_HOPS_PER_FRAME, N_MELS, RHYTHM_MEL_HOPS_PER_STEP
from beatforge.diffusion.schedule import Schedule
from beatforge.errors import BeatforgeError
from beatforge.models.latent_diffusion import LatentDiffusion

OPSET = 17
# the largest difference from torch an exported graph may show on the check input (float32 logits of order 1-10)
TOLERANCE = 1e-3


class _AudioEncoder(nn.Module):
    def __init__(self, system: LatentDiffusion) -> None:
        super().__init__()
        self.denoiser = system.denoiser

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.denoiser.encode_audio(mel))


class _Denoiser(nn.Module):
    def __init__(self, system: LatentDiffusion) -> None:
        super().__init__()
        self.denoiser = system.denoiser

    def forward(self, z: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, *audio: torch.Tensor) -> torch.Tensor:
        return self.denoiser(z, t, tokens, list(audio))


class _Decoder(nn.Module):
    def __init__(self, system: LatentDiffusion) -> None:
        super().__init__()
        self.system = system

    def forward(self, z: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return self.system.decode_latent(z, keys)


class _Trunk(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.net.trunk(mel)


class _Head(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, h: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
        return self.net.head(h, density)


def _export(module: nn.Module, args: tuple, path: Path, names: list[str], outputs: list[str],
            axes: dict[str, dict[int, str]]) -> None:
    module.eval()  # the exporter restores the mode it found afterwards: a wrapper left in training mode turns the
    # wrapped network's dropout on for everything that runs after the export
    with warnings.catch_warnings():  # the tracer's notes on shapes it records as values; the check below decides
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=names, output_names=outputs, dynamic_axes=axes,
                          opset_version=OPSET, dynamo=False)


def _check(path: Path, module: nn.Module, args: tuple, names: list[str]) -> None:
    """Run the exported graph on ``args`` (another length than the traced one) against torch."""
    import onnxruntime as ort

    module.eval()
    with torch.no_grad():
        want = module(*args)
    want = [w.numpy() for w in (want if isinstance(want, tuple) else (want,))]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {n: a.numpy() for n, a in zip(names, args)})
    worst = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
    if not worst <= TOLERANCE:
        raise BeatforgeError(f"{path.name}: the ONNX export differs from torch by {worst:.2g} (over {TOLERANCE}); "
                             "set BEATFORGE_ONNX=0 to run this model with torch")


def export_mania(model_path: str | Path, out: Path) -> dict:
    """``encode_audio.onnx``, ``denoise.onnx``, ``decode.onnx`` and what sampling needs besides (returned, and
    written to ``meta.json``) for the latent diffusion model at ``model_path``."""
    mf = load_model_file(model_path)
    if mf.kind != "latent_diffusion":
        raise BeatforgeError(f"{mf.path}: a {mf.kind} model, not an osu!mania generation model")
    table = mf.meta.get("feature_table")
    if not table:
        raise BeatforgeError(f"{mf.path}: the model file carries no feature table")
    system = LatentDiffusion(mf.config, table)
    load_weights(system.first_stage, mf.state_dict, prefix="first_stage.", source=mf.path)
    load_weights(system.denoiser, mf.state_dict, prefix="denoiser.", source=mf.path)
    system.scale_factor.fill_(float(mf.state_dict["scale_factor"]))
    system.eval()
    params = system.cfg.model.params
    levels = len(params.unet_config.channel_mult)
    multiple = MEL_HOPS_PER_FRAME * system.stride * 2 ** (levels - 1)
    channels = params.unet_config.in_channels
    key_count = int((mf.meta.get("keys") or [4])[0])
    tokens = torch.from_numpy(np.stack([system.features.encode({"keys": key_count}), system.features.null()]))
    keys = torch.full((2,), key_count, dtype=torch.long)

    def inputs(units: int) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        g = torch.Generator().manual_seed(units)
        mel = torch.randn(1, N_MELS, units * multiple, generator=g)
        with torch.no_grad():
            audio = system.denoiser.encode_audio(mel)
        z = torch.randn(2, channels, audio[0].shape[-1], generator=g)
        return mel, audio, z

    a_names = [f"audio{i}" for i in range(levels)]
    mel, audio, z = inputs(3)
    t = torch.tensor([500, 500])
    with torch.no_grad():
        _export(_AudioEncoder(system), (mel,), out / "encode_audio.onnx", ["mel"], a_names,
                {"mel": {0: "batch", 2: "hops"}, **{n: {0: "batch", 2: f"width{i}"} for i, n in enumerate(a_names)}})
        _export(_Denoiser(system), (z, t, tokens, *audio), out / "denoise.onnx", ["z", "t", "tokens", *a_names],
                ["out"], {"z": {0: "batch", 2: "width"}, "t": {0: "batch"}, "tokens": {0: "batch"}, "out":
                          {0: "batch", 2: "width"}, **{n: {0: "audio_batch", 2: f"width{i}"}
                                                       for i, n in enumerate(a_names)}})
        _export(_Decoder(system), (z, keys), out / "decode.onnx", ["z", "keys"], ["chart"],
                {"z": {0: "batch", 2: "width"}, "keys": {0: "batch"}, "chart": {0: "batch", 2: "frames"}})
    mel, audio, z = inputs(5)
    _check(out / "encode_audio.onnx", _AudioEncoder(system), (mel,), ["mel"])
    _check(out / "denoise.onnx", _Denoiser(system), (z, t, tokens, *audio), ["z", "t", "tokens", *a_names])
    _check(out / "decode.onnx", _Decoder(system), (z, keys), ["z", "keys"])
    meta = {
        "kind": "latent_diffusion", "source": mf.path, "feature_table": table,
        "keys": [int(k) for k in mf.meta.get("keys", [])], "levels": levels, "channels": channels,
        "mel_multiple": multiple, "latent_hops": MEL_HOPS_PER_FRAME * latent_stride(system.cfg),
        "schedule": asdict(Schedule.from_params(params)),
        "null_tokens": system.null_tokens.tolist(), "keep_in_null": system.keep_in_null.tolist(),
    }
    (out / "meta.json").write_text(json.dumps(meta))
    return meta


def export_rhythm(model_path: str | Path, out: Path) -> dict:
    """``trunk.onnx`` and ``head.onnx`` of the rhythm (onset) network at ``model_path``."""
    net = load_rhythm_model(model_path)
    g = torch.Generator().manual_seed(0)

    def mel(steps: int) -> torch.Tensor:
        return torch.randn(1, net.cfg.n_mels, steps * RHYTHM_MEL_HOPS_PER_STEP, generator=g)

    density = torch.tensor([3.0])
    with torch.no_grad():
        h = net.trunk(mel(300))
        _export(_Trunk(net), (mel(300),), out / "trunk.onnx", ["mel"], ["h"],
                {"mel": {2: "hops"}, "h": {2: "steps"}})
        _export(_Head(net), (h, density), out / "head.onnx", ["h", "density"], ["logits"],
                {"h": {2: "steps"}, "logits": {1: "steps"}})
        m = mel(517)
        h = net.trunk(m)
    _check(out / "trunk.onnx", _Trunk(net), (m,), ["mel"])
    _check(out / "head.onnx", _Head(net), (h, torch.tensor([7.5])), ["h", "density"])
    meta = {"kind": "rhythm", "source": str(model_path)}
    (out / "meta.json").write_text(json.dumps(meta))
    return meta


__all__ = ["OPSET", "export_mania", "export_rhythm"]
