"""Training throughput: samples/s and peak memory for the small and the GPU-sized configs, and each module's
parameter count.

Runs a few optimiser steps of the latent diffusion system (VAE encode + audio encoder + denoiser, forward and
backward, AdamW) on random batches of the config's window, so the figure is the model's cost alone (the data
loader keeps up separately: see tests and the dataset benchmark). On a GPU (``--device cuda``) memory is the
CUDA peak; on CPU it is the process's peak RSS.

Usage: python benchmarks/train_throughput.py [--configs small mug_diffusion] [--steps 5] [--batch N] [--device cpu]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import torch

from beatforge.config import load_config, to_dict
from beatforge.constants import MEL_HOPS_PER_FRAME
from beatforge.features import FeatureTable

REPO = Path(__file__).resolve().parents[1]


def count(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def bench(name: str, steps: int, batch: int | None, device: str, window: int | None) -> None:
    from beatforge.systems.latent_diffusion import LatentDiffusionSystem

    cfg = load_config([REPO / "configs" / "mug" / f"{name}.yaml"])
    if window:
        cfg.data.window_frames = window
    features = FeatureTable.from_yaml(REPO / cfg.model.params.cond_stage_config.path_to_yaml)
    system = LatentDiffusionSystem(to_dict(cfg), features.to_list()).to(device)
    system.scale_factor.fill_(1.0)
    d = system.denoiser
    print(f"[{name}] parameters (M): VAE {count(system.first_stage):.2f} | UNet {count(d.unet):.2f} | "
          f"audio encoder {count(d.audio_encoder):.2f} | feature embedder {count(d.embedder):.3f} | "
          f"trained {count(d):.2f}")
    b = batch or cfg.data.batch_size
    w = cfg.data.window_frames
    x = torch.zeros(b, 40, w, device=device)
    x[:, 0:4, ::7] = 1.0  # some 4K notes
    batch_dict = {
        "x": x,
        "keys": torch.full((b,), 4, dtype=torch.long, device=device),
        "valid": torch.ones(b, w, device=device),
        "tokens": torch.from_numpy(features.null()).repeat(b, 1).to(device),
        "mel": torch.randn(b, 128, w * MEL_HOPS_PER_FRAME, device=device),
    }
    opt = torch.optim.AdamW(d.parameters(), lr=1e-4)
    system.train()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        loss = system._loss(batch_dict)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - t0)
    per = sum(times) / len(times)
    if device == "cuda":
        mem = f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    else:
        mem = f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    print(f"[{name}] batch {b} x {w} frames ({w * 0.04644:.0f} s): {per:.3f} s/step = {b / per:.2f} samples/s, {mem} "
          f"({device}, {torch.get_num_threads()} threads)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="*", default=["small", "mug_diffusion"])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=None, help="default: the config's (mug_diffusion on CPU: 2)")
    ap.add_argument("--window", type=int, default=None, help="frames per example (default: the config's)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    for name in args.configs:
        batch = args.batch
        if batch is None and name == "mug_diffusion" and args.device == "cpu":
            batch = 2  # 48 x 190 s examples of a 150 M model do not fit a laptop's RAM
        bench(name, args.steps, batch, args.device, args.window)


if __name__ == "__main__":
    main()
