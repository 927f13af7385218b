"""Speed of the osu!standard DiT: seconds to remap a 1000-object map at 50 steps, and training samples/s.

    python benchmarks/remap.py [--ckpt models/standard] [--device cpu|cuda]

The map is the longest osu!standard map in ../shared/data/standard cut to its first 1000 objects (a synthetic
1000-circle map when the data is absent; labelled so). Training: forward + backward + AdamW on random batches of
128-token windows, for DiT-S and DiT-B (osu-diffusion's sizes, 74 style rows) and the shipped DiT-XS.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _map_1000(tmp: Path) -> tuple[Path, str]:
    from beatforge.formats.osu import parse_osu, write_osu

    data = REPO.parent / "shared" / "data" / "standard"
    maps = sorted(data.glob("*.osu"), key=lambda p: -len(parse_osu(p).hit_objects)) if data.is_dir() else []
    if maps:
        bm = parse_osu(maps[0])
        label = f"{maps[0].name}, first 1000 of {len(bm.hit_objects)} objects"
        bm.hit_objects = bm.hit_objects[:1000]
    else:
        from beatforge.formats.osu import Beatmap, HitObject

        bm = Beatmap()
        bm.hit_objects = [HitObject(x=256 + 100 * np.cos(i), y=192 + 80 * np.sin(i), time=1000 + 150 * i, type=1)
                          for i in range(1000)]
        label = "SYNTHETIC 1000-circle map"
    out = tmp / "map1000.osu"
    out.write_text(write_osu(bm), encoding="utf-8")
    return out, label


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=str(REPO / "models" / "standard"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    import tempfile

    from beatforge.generation.remap import remap_standard
    from beatforge.generation.request import RemapRequest
    from beatforge.models.dit import DiT, dit_config

    path, label = _map_1000(Path(tempfile.mkdtemp()))
    remap_standard(path, RemapRequest(model=args.ckpt, steps=2))  # warm-up
    t0 = time.perf_counter()
    bm = remap_standard(path, RemapRequest(model=args.ckpt, steps=50, seed=0))
    print(f"remap, {label}: {time.perf_counter() - t0:.2f} s at 50 steps ({len(bm.hit_objects)} objects, "
          f"{args.device}, {args.threads} threads)")
    dev = torch.device(args.device)
    for name, batch in (("DiT-XS", 32), ("DiT-S", 16), ("DiT-B", 8)):
        net = DiT(dit_config(name, 74)).to(dev)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
        x = torch.rand(batch, 2, 128, device=dev)
        args_ = (torch.randint(0, 1000, (batch,), device=dev), torch.rand(batch, 128, device=dev) * 1e4,
                 torch.rand(batch, 128, device=dev) * 200, torch.randint(0, 16, (batch, 128), device=dev),
                 torch.randint(0, 74, (batch,), device=dev))
        times = []
        for i in range(4):
            t0 = time.perf_counter()
            loss = net(x, *args_, window=128).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i:
                times.append(time.perf_counter() - t0)
        n = sum(p.numel() for p in net.parameters())
        print(f"train {name} ({n / 1e6:.1f} M params): {batch / np.mean(times):.1f} samples/s "
              f"(batch {batch} x 128 tokens, {np.mean(times):.2f} s/step)")


if __name__ == "__main__":
    main()
