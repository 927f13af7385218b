"""The osu!mania generation networks on the CPU through ONNX Runtime: the same models as
:mod:`.chart_diffusion` and :mod:`.onset_network`, without importing torch.

Why: ``import torch`` and its teardown cost about 3 s of a whole ``beatforge generate`` on a 2-core CPU, and ONNX
Runtime runs the denoiser in half torch's time (see :mod:`.onnx_export`). The graphs are exported from the model's
own safetensors the first time a model is used (a few seconds, once) and kept in the cache
(``$BEATFORGE_CACHE/onnx``, default ``~/.cache/beatforge/onnx``) under a digest of the model's files, so a retrained
or edited model gets new graphs; an ``.onnx`` file that came with a model is never read. ``BEATFORGE_ONNX=0`` runs
every network with torch instead; a GPU (``--device cuda`` or ``mps``) always does.

Outputs equal torch's to about 1e-5 (the export is checked on each model); the initial noise is drawn with numpy on
both paths, so a ``--seed`` starts from the same noise whichever runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from beatforge.diffusion.dpm_solver import DPMSolverPP, supported
from beatforge.diffusion.schedule import Schedule
from beatforge.errors import BeatforgeError
from beatforge.features import FeatureTable
from beatforge.runtime import cache_home, choose_threads

EXPORT_VERSION = "beatforge-onnx/1"  # bump when beatforge.generation.learned.onnx_export writes something else
_HASH_CHUNK = 1 << 20


def _model_files(path: str | Path) -> list[Path]:
    """The files a model is made of, as :func:`beatforge.checkpoints.load_model_file` resolves them."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.safetensors" if (p / "model.safetensors").is_file() else p / "model.ckpt"
    if not p.is_file():
        raise BeatforgeError(f"{p}: no such model file")
    return [p, p.with_suffix(".yaml")] if p.suffix == ".safetensors" else [p]


def _digest(kind: str, files: list[Path]) -> str:
    h = hashlib.sha256(f"{EXPORT_VERSION}\0{kind}\0".encode())
    for f in files:
        if not f.is_file():
            raise BeatforgeError(f"{f}: missing beside the model's weights")
        with open(f, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def exported(path: str | Path, kind: str) -> Path:
    """The folder of ``kind``'s ONNX graphs for the model at ``path`` (``kind``: ``latent_diffusion`` or
    ``rhythm``), exported into the cache on first use (written to a temporary folder, then renamed, so two
    processes exporting at once leave one whole folder)."""
    files = _model_files(path)
    root = cache_home() / "onnx"
    out = root / f"{kind}-{_digest(kind, files)[:32]}"
    if (out / "meta.json").is_file():
        return out
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
    try:
        if sys.stderr.isatty():  # a note for a person waiting; a script's stderr keeps to errors
            print(f"beatforge: preparing {files[0]} for ONNX Runtime (once per model, a few seconds)",
                  file=sys.stderr)
        from beatforge.generation.learned.onnx_export import export_mania, export_rhythm  # lazy: the export needs torch

        (export_mania if kind == "latent_diffusion" else export_rhythm)(files[0], tmp)
        try:
            os.rename(tmp, out)
        except OSError:  # another process finished first: its folder is the same graphs
            if not (out / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _session(path: Path) -> Any:  # an onnxruntime.InferenceSession
    """A CPU session with beatforge's thread policy (:mod:`beatforge.runtime`): this process's cores, and waiting
    threads that sleep instead of spinning, so two runs on one machine share it."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = choose_threads()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.set_denormal_as_zero", "1")  # as torch.set_flush_denormal on that path
    so.log_severity_level = 3  # errors only: the graph optimiser's notes are not the user's business
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _meta(folder: Path) -> dict:
    return json.loads((folder / "meta.json").read_text(encoding="utf-8"))


@dataclass
class OnnxChartDiffusion:
    """The latent diffusion model (audio encoder, denoiser, chart decoder) on ONNX Runtime."""

    encoder: Any
    denoiser: Any
    decoder: Any
    features: FeatureTable
    keys: list[int]
    path: str
    meta: dict

    @property
    def mel_multiple(self) -> int:
        """Mel hops the song is padded to a multiple of (one latent step of the UNet's deepest level)."""
        return int(self.meta["mel_multiple"])

    @property
    def latent_channels(self) -> int:
        return int(self.meta["channels"])

    @property
    def latent_hops(self) -> int:
        """Mel hops per latent step."""
        return int(self.meta["latent_hops"])

    def null_prompt(self, tokens: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(self.meta["keep_in_null"], dtype=bool), tokens,
                        np.asarray(self.meta["null_tokens"], dtype=tokens.dtype))

    def sample(self, mel: np.ndarray, tokens: np.ndarray, keys: int, noise: np.ndarray, *, steps: int,
               guidance: float, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """(B, 4*keys_padded, frames) chart logits for one song's padded log-mel (1, 128, T) and B prompts,
        sampled from ``noise`` with DPM-Solver++ and classifier-free guidance (the torch path's arithmetic)."""
        schedule = Schedule(**self.meta["schedule"])
        if not supported(schedule):
            raise BeatforgeError(f"{self.path}: its schedule needs diffusers' sampler; set BEATFORGE_ONNX=0")
        audio = self.encoder.run(None, {"mel": mel.astype(np.float32, copy=False)})
        feeds_audio = {f"audio{i}": a for i, a in enumerate(audio)}
        b = len(tokens)
        both = np.concatenate([tokens, self.null_prompt(tokens)]) if guidance != 1.0 else tokens
        solver = DPMSolverPP(schedule, steps, np)
        x = noise.astype(np.float32) * solver.init_noise_sigma
        for i, t in enumerate(solver.timesteps.tolist()):
            if guidance != 1.0:
                out = self.denoiser.run(None, {"z": np.concatenate([x, x]), "t": np.full(2 * b, t, dtype=np.int64),
                                               "tokens": both, **feeds_audio})[0]
                cond, null = out[:b], out[b:]
                out = null + np.float32(guidance) * (cond - null)
            else:
                out = self.denoiser.run(None, {"z": x, "t": np.full(b, t, dtype=np.int64), "tokens": both,
                                               **feeds_audio})[0]
            x = solver.step(out, x)
            if progress is not None:
                progress(i + 1, steps)
        return self.decoder.run(None, {"z": x, "keys": np.full(b, keys, dtype=np.int64)})[0]


@dataclass
class OnnxOnsetNet:
    """The rhythm (onset) network's density-free trunk and density-conditioned head on ONNX Runtime."""

    trunk_session: Any
    head_session: Any

    def trunk(self, mel: np.ndarray) -> np.ndarray:
        """(1, n_mels, T) log-mel -> (1, channels, T // 2) features (:meth:`OnsetNet.trunk`)."""
        return self.trunk_session.run(None, {"mel": mel.astype(np.float32, copy=False)})[0]

    def head(self, h: np.ndarray, density: float) -> np.ndarray:
        """Features at one density (onsets per second) -> (T',) onset logits (:meth:`OnsetNet.head`)."""
        return self.head_session.run(None, {"h": h, "density": np.array([density], dtype=np.float32)})[0][0]


def load_onnx_mania(path: str | Path) -> OnnxChartDiffusion:
    folder = exported(path, "latent_diffusion")
    meta = _meta(folder)
    return OnnxChartDiffusion(_session(folder / "encode_audio.onnx"), _session(folder / "denoise.onnx"),
                              _session(folder / "decode.onnx"), FeatureTable.from_list(meta["feature_table"]),
                              [int(k) for k in meta["keys"]], str(meta["source"]), meta)


def load_onnx_rhythm(path: str | Path) -> OnnxOnsetNet:
    folder = exported(path, "rhythm")
    return OnnxOnsetNet(_session(folder / "trunk.onnx"), _session(folder / "head.onnx"))


__all__ = ["EXPORT_VERSION", "OnnxChartDiffusion", "OnnxOnsetNet", "exported", "load_onnx_mania",
           "load_onnx_rhythm"]
