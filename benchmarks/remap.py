"""Speed of the osu!standard DiT: a remap of a 1000-object map, as users run it and in-process with its time split,
and training samples/s.

    python benchmarks/remap.py [--ckpt models/standard] [--device auto|cpu|cuda|mps] [--objects 1000] [--no-train]

The map is the longest osu!standard map in ../shared/data/standard cut to its first ``--objects`` objects (a
synthetic circle map when the data is absent; labelled so). Printed, each with its wall time and peak memory:

* the command users run, ``beatforge remap MAP -o OUT --seed 1`` at its defaults (50 steps, ``--device auto``; the
  benchmark's ``--device`` and ``--ckpt`` are passed on only where they are not the defaults), in a fresh process:
  start-up, imports and all;
* the same remap in this process, split into model load, sampling (the network), the spacing projection inside the
  sampler loop, the final slider-aware projection, slider fitting, and the rest (parse, encode, decode);
* training: forward + backward + AdamW on random batches of 128-token windows, for the shipped DiT-XS and
  osu-diffusion's DiT-S and DiT-B (74 style rows).

Threads follow beatforge's policy (:func:`beatforge.runtime.configure_threads`: the free cores; ``BEATFORGE_THREADS``
overrides it), as the CLI's. The machine's load average is printed before and after: on a shared machine the
figures move with it. Run by hand (a few minutes on 2 CPU cores), not by the tests.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from beatforge.constants import DEVICES  # noqa: E402
from beatforge.runtime import configure_threads  # noqa: E402


def _map(tmp: Path, objects: int) -> tuple[Path, str]:
    import numpy as np

    from beatforge.formats.osu import parse_osu, write_osu

    data = REPO.parent / "shared" / "data" / "standard"
    maps = sorted(data.glob("*.osu"), key=lambda p: -len(parse_osu(p).hit_objects)) if data.is_dir() else []
    if maps:
        bm = parse_osu(maps[0])
        label = f"{maps[0].name}, first {min(objects, len(bm.hit_objects))} of {len(bm.hit_objects)} objects"
        bm.hit_objects = bm.hit_objects[:objects]
    else:
        from beatforge.formats.osu import Beatmap, HitObject

        bm = Beatmap()
        bm.hit_objects = [HitObject(x=256 + 100 * np.cos(i), y=192 + 80 * np.sin(i), time=1000 + 150 * i, type=1)
                          for i in range(objects)]
        label = f"SYNTHETIC {objects}-circle map"
    out = tmp / f"map{objects}.osu"
    out.write_text(write_osu(bm), encoding="utf-8")
    return out, label


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"  # ru_maxrss is in KiB on Linux


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "unknown"


def _run_child(cmd: list[str]) -> tuple[float, int, int, str]:
    """(wall s, exit code, peak RSS KiB, stderr's last line) of one command in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    last = err.strip().replace("\r", "\n").splitlines()[-1] if err.strip() else ""
    return wall, proc.returncode, usage.ru_maxrss, last


def bench_cli(path: Path, out: Path, args: argparse.Namespace) -> float:
    exe = Path(sys.executable).with_name("beatforge")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "beatforge.cli"]
    cmd += ["remap", str(path), "-o", str(out), "--seed", "1"]
    if args.device != "auto":
        cmd += ["--device", args.device]
    if args.ckpt is not None:
        cmd += ["--ckpt", str(args.ckpt)]
    wall, rc, rss, last = _run_child(cmd)
    print(f"CLI  `{' '.join(['beatforge', *cmd[cmd.index('remap'):]])}`")
    print(f"     {wall:.1f} s wall, peak RSS {_mib(rss)}, exit {rc}" + (f" ({last})" if rc else ""))
    imp, _, imp_rss, _ = _run_child([sys.executable, "-c", "import beatforge.generation.remap"])
    print(f"     of which start-up: importing the remapper (torch ...) alone takes {imp:.1f} s, {_mib(imp_rss)}")
    return wall


def bench_in_process(path: Path, args: argparse.Namespace) -> None:
    import torch

    import beatforge.generation.remap as remap
    from beatforge.generation.request import RemapRequest

    times: dict[str, float] = {}

    def timed(name: str, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                times[name] = times.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    for attr, name in (("load_dit", "model load"), ("sample_positions", "sampling"),
                       ("keep_spacing", "projection in the loop"),
                       ("keep_spacing_with_sliders", "slider-aware projection"), ("fit_sliders", "slider fitting")):
        setattr(remap, attr, timed(name, getattr(remap, attr)))
    request = RemapRequest(model=args.ckpt, seed=1, device=args.device)  # the CLI's defaults, --seed 1
    device = remap.resolve_device(args.device)
    # warm-up on a 16-object map (first-call costs); the timed run then loads its own model, as the CLI does
    small, _ = _map(path.parent, 16)
    remap.remap_standard(small, RemapRequest(model=args.ckpt, seed=1, steps=1, device=args.device))
    times.clear()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    bm = remap.remap_standard(path, request)
    total = time.perf_counter() - t0
    times["sampling"] -= times.get("projection in the loop", 0.0)
    times["rest (parse, encode, styles, decode)"] = total - sum(times.values())
    print(f"in-process, {len(bm.hit_objects)} objects, {request.steps} steps, on {device}, "
          f"{torch.get_num_threads()} threads: {total:.1f} s")
    for name, sec in times.items():
        print(f"     {name:38s} {sec:7.2f} s  {100 * sec / total:5.1f} %")
    peak = f"peak RSS {_mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)} (this process so far)"
    if device.type == "cuda":
        peak += f", peak CUDA memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
    print(f"     {peak}")


def bench_train(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from beatforge.models.dit import DiT, dit_config
    from beatforge.runtime import resolve_device

    dev = resolve_device(args.device)
    for name, batch in (("DiT-XS", 32), ("DiT-S", 16), ("DiT-B", 8)):
        net = DiT(dit_config(name, 74)).to(dev)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
        x = torch.rand(batch, 2, 128, device=dev)
        args_ = (torch.randint(0, 1000, (batch,), device=dev), torch.rand(batch, 128, device=dev) * 1e4,
                 torch.rand(batch, 128, device=dev) * 200, torch.randint(0, 16, (batch, 128), device=dev),
                 torch.randint(0, 74, (batch,), device=dev))
        times = []
        for i in range(3):  # one warm-up step, two timed: DiT-B takes ~10-25 s a step on 2 busy cores
            t0 = time.perf_counter()
            loss = net(x, *args_, window=128).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()  # waits for the device
            if i:
                times.append(time.perf_counter() - t0)
        n = sum(p.numel() for p in net.parameters())
        print(f"train {name} ({n / 1e6:.1f} M params) on {dev}: {batch / np.mean(times):.1f} samples/s "
              f"(batch {batch} x 128 tokens, {np.mean(times):.2f} s/step)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", type=Path, help="a DiT checkpoint directory (default: the shipped models/standard)")
    ap.add_argument("--device", choices=list(DEVICES), default="auto", help="where the DiT runs (default auto)")
    ap.add_argument("--objects", type=int, default=1000, help="hit objects of the map (default 1000)")
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI run")
    ap.add_argument("--no-train", action="store_true", help="skip the training figures")
    args = ap.parse_args()
    threads = configure_threads()  # before torch loads, as the CLI does
    print(f"load average before: {_load()}; {threads} torch threads (beatforge.runtime's policy)")
    tmp = Path(tempfile.mkdtemp())
    path, label = _map(tmp, args.objects)
    print(f"map: {label}")
    if not args.no_cli:
        bench_cli(path, tmp / "out.osu", args)
    bench_in_process(path, args)
    if not args.no_train:
        bench_train(args)
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
