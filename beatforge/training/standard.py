"""Training the osu!standard DiT: osu-diffusion's ``train.py``, on a beatforge standard dataset.

One process (``python train.py ...``, CPU included) or one per GPU under ``torchrun`` (PyTorch DDP; the backend from
``--dist``). A plain loop rather than Lightning, as osu-diffusion's: its flags, step-based checkpoints and
``torchrun`` usage are what its users know.

What differs from osu-diffusion (shared/reference/peers.md 2.4, 2.8):

* checkpoints are ``results/<NNN>-<model>/checkpoints/<step:07d>/`` with ``model.safetensors`` (the EMA weights,
  what sampling uses), ``model.json`` (config, style table size, step) and ``state.pt`` (model, EMA, optimizer,
  step, epoch: tensors and plain data only, read with ``torch.load(weights_only=True)``); ``--ckpt`` resumes with
  the step and epoch restored;
* ``--relearn-embeds`` re-initialises the style table at the new ``--num-classes`` and keeps every other weight
  (no hard-coded optimizer-state index: the optimizer starts fresh);
* boolean flags are real booleans (``--use-amp`` / ``--no-use-amp``), not ``type=bool``;
* styles come from ``beatmap_idx.json`` (BeatmapID -> class index), never a pickle.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors

from beatforge.data.build import load_notes, read_index
from beatforge.data.standard_dataset import StandardMap, StandardWindows
from beatforge.errors import BeatforgeError, check_flag_range, message_of
from beatforge.fileio import atomic_write_bytes, atomic_write_text
from beatforge.models.dit import DIT_FORMAT, SIZES, DiT, dit_config


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train.py", description="Train the osu!standard position DiT (osu-diffusion).")
    p.add_argument("--data-path", required=True, type=Path, help="a dataset built with --mode standard")
    p.add_argument("--num-classes", type=int, help="style table size (default: the dataset's beatmap count)")
    p.add_argument("--data-start", type=int, default=0,
                   help="first mapset index (in the dataset's set order; default %(default)s)")
    p.add_argument("--data-end", type=int, help="mapset index to stop before (default: all)")
    p.add_argument("--exclude", action="append", default=[], metavar="SET",
                   help="leave this mapset out of training (a set id or song folder; repeatable; beatforge extra, "
                        "for held-out evaluation: the style table keeps every map so fold models share ids)")
    p.add_argument("--results-dir", type=Path, default=Path("results"),
                   help="runs go to RESULTS_DIR/<NNN>-<model>/ (default %(default)s)")
    p.add_argument("--model", default="DiT-B", choices=list(SIZES), metavar="{" + ",".join(SIZES) + "}",
                   help="the DiT size, depth x width: " + ", ".join(f"{k} {d}x{h}" for k, (d, h, _) in SIZES.items())
                   + "; DiT-S to -XL are osu-diffusion's, DiT-XS (trains on a CPU) is the shipped models/standard's, "
                   "DiT-T is for tests (default %(default)s)")
    p.add_argument("--epochs", type=int, default=1400, help="passes over the data (default %(default)s)")
    p.add_argument("--max-steps", type=int,
                   help="stop after this many steps (beatforge extra; default: no limit, --epochs ends the run)")
    p.add_argument("--global-batch-size", type=int, default=256,
                   help="windows per step, over all processes (default %(default)s)")
    p.add_argument("--global-seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--num-workers", type=int, default=4,
                   help="data-loader worker processes per training process (default %(default)s)")
    p.add_argument("--log-every", type=int, default=100,
                   help="print the mean loss, steps/s and time left every this many steps, and after the first "
                        "(default %(default)s)")
    p.add_argument("--ckpt-every", type=int, default=50_000,
                   help="save a checkpoint every this many steps, and at the end (default %(default)s)")
    p.add_argument("--seq-len", type=int, default=128,
                   help="tokens per training window, and the attention band at sampling (default %(default)s)")
    p.add_argument("--stride", type=int, default=16, help="tokens between window starts (default %(default)s)")
    p.add_argument("--use-amp", type=_bool, nargs="?", const=True, default=True,
                   help="fp16 autocast on CUDA (default %(default)s)")
    p.add_argument("--ckpt", type=Path, help="a checkpoint directory (or its state.pt) to resume from")
    p.add_argument("--dist", default="nccl",
                   help="process-group backend under torchrun; gloo on Windows / CPU (default %(default)s, gloo "
                        "where there is no CUDA)")
    p.add_argument("--noise-schedule", default="squaredcos_cap_v2", choices=["squaredcos_cap_v2", "linear"],
                   help="the DDPM beta schedule (default %(default)s)")
    p.add_argument("--l1-loss", type=_bool, nargs="?", const=True, default=True,
                   help="L1 loss on the predicted noise; false: MSE (default %(default)s)")
    p.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (default %(default)s)")
    p.add_argument("--relearn-embeds", type=_bool, nargs="?", const=True, default=False,
                   help="with --ckpt: a new style table at --num-classes, every other weight kept, a fresh "
                        "optimizer (default %(default)s)")
    p.add_argument("--ema-decay", type=float, default=0.9999,
                   help="EMA decay of the weights checkpoints keep, warmed up over the first steps (default "
                        "%(default)s)")
    return p


def load_standard_maps(data_path: Path, data_start: int = 0, data_end: int | None = None,
                       exclude: list[str] | tuple[str, ...] = ()):
    """(maps, beatmap index, names) of a standard dataset: labels are positions in the dataset's map order; the
    index maps osu! BeatmapID (or, without one, the dataset's record id) to that label, and names the same keys to
    "Artist - Title (Mapper) [Difficulty]"."""
    if not (data_path / "index.jsonl").is_file():
        raise BeatforgeError(f"--data-path {data_path}: not a beatforge dataset (build one with "
                             "'beatforge dataset build --mode standard --songs ... --out DIR')")
    recs = [r for r in read_index(data_path) if r.get("mode") == "standard"]
    if not recs:
        raise BeatforgeError(f"--data-path {data_path}: the dataset holds no osu!standard maps")
    sets = list(dict.fromkeys(r.get("set_id") or r["song_key"] for r in recs))
    chosen = {k for k in sets[data_start:data_end] if str(k) not in set(map(str, exclude))}
    maps, index = [], {}
    names = {}
    for label, r in enumerate(recs):
        key = str(r["map_id"]) if r.get("map_id") else r["id"]
        index[key] = label
        names[key] = f"{r.get('artist')} - {r.get('title')} ({r.get('creator')}) [{r.get('version')}]"
        if (r.get("set_id") or r["song_key"]) in chosen:
            maps.append(StandardMap(load_notes(data_path, r), label, r.get("map_id"),
                                    f"{r.get('artist')} - {r.get('title')} [{r.get('version')}]"))
    return maps, index, names


def _results_dir(root: Path, model: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    n = len([p for p in root.iterdir() if p.is_dir()])
    out = root / f"{n:03d}-{model}"
    (out / "checkpoints").mkdir(parents=True, exist_ok=False)
    return out


def save_checkpoint(out: Path, model: DiT, ema: DiT, opt, step: int, epoch: int, extra: dict,
                    index: dict | None = None, names: dict | None = None) -> Path:
    d = out / "checkpoints" / f"{step:07d}"
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(d / "model.safetensors", save_safetensors({k: v.detach().cpu().contiguous()
                                                                   for k, v in ema.state_dict().items()}))
    atomic_write_text(d / "model.json", json.dumps({"format": DIT_FORMAT, "config": model.cfg.to_dict(),
                                                     "step": step, "epoch": epoch, **extra}, indent=1))
    if index is not None:  # the styles travel with the checkpoint (sample.py finds them there)
        atomic_write_text(d / "beatmap_idx.json", json.dumps(index))
        names = names or {}
        atomic_write_text(d / "styles.json", json.dumps({k: names.get(k, "") for k in index}, ensure_ascii=False))
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step,
                "epoch": epoch, "config": model.cfg.to_dict()}, buf)
    atomic_write_bytes(d / "state.pt", buf.getvalue())
    return d


def load_state(path: Path) -> dict:
    """A checkpoint's training state. A directory with only ``model.safetensors`` + ``model.json`` (a shipped
    model, e.g. ``models/standard``) resumes too: its weights start both the model and the EMA, the optimizer
    starts fresh, and the step comes from model.json."""
    p = path / "state.pt" if path.is_dir() else path
    if not p.is_file() and path.is_dir() and (path / "model.safetensors").is_file() and (path / "model.json").is_file():
        meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
        weights = {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()}
        return {"model": weights, "ema": weights, "opt": None, "step": int(meta.get("step", 0)),
                "epoch": int(meta.get("epoch", 0)), "config": meta["config"]}
    if not p.is_file():
        raise BeatforgeError(f"--ckpt {path}: no state.pt or model.safetensors there (give a checkpoint directory)")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign files
        raise BeatforgeError(f"--ckpt {path}: not a beatforge DiT checkpoint ({message_of(exc, 100)})") from None


def _duration(seconds: float) -> str:
    """1:02:03 (hours:minutes:seconds), 2d 1:02:03 beyond a day."""
    s = int(round(seconds))
    days, s = divmod(s, 86400)
    return (f"{days}d " if days else "") + f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def check_args(args: argparse.Namespace) -> None:
    """Flags a run cannot start with, refused before anything loads (the allowed range in the message)."""
    for flag, value, low, high in (
        ("--epochs", args.epochs, 1, 10**9), ("--global-batch-size", args.global_batch_size, 1, 1 << 20),
        ("--num-workers", args.num_workers, 0, 256), ("--log-every", args.log_every, 1, None),
        ("--ckpt-every", args.ckpt_every, 1, None), ("--seq-len", args.seq_len, 2, 65536),
        ("--stride", args.stride, 1, 65536), ("--data-start", args.data_start, 0, None),
        ("--max-steps", args.max_steps, 1, None), ("--num-classes", args.num_classes, 1, 1_000_000),
        ("--data-end", args.data_end, 1, None),
    ):
        check_flag_range(flag, value, low, high)
    if not (math.isfinite(args.lr) and 0 <= args.lr < 1):
        raise BeatforgeError(f"--lr {args.lr}: a learning rate in [0, 1)")
    if not (math.isfinite(args.ema_decay) and 0 <= args.ema_decay < 1):
        raise BeatforgeError(f"--ema-decay {args.ema_decay}: in [0, 1)")
    if abs(args.global_seed) >= 1 << 62:
        raise BeatforgeError(f"--global-seed {args.global_seed}: at most 2**62 in size")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_args(args)
    torch.set_flush_denormal(True)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        backend = args.dist if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    if args.global_batch_size % world:
        raise BeatforgeError(f"--global-batch-size {args.global_batch_size} must divide by the {world} processes")
    seed = args.global_seed * world + rank
    torch.manual_seed(seed)

    # lazy: diffusers costs ~1 s of import; only the training loop needs its scheduler
    from diffusers import DDPMScheduler

    maps, index, names = load_standard_maps(args.data_path, args.data_start, args.data_end, args.exclude)
    if not maps:
        raise BeatforgeError(f"--data-path {args.data_path}: no maps left to train on "
                             "(--data-start/--data-end/--exclude)")
    num_classes = args.num_classes or len(index)
    if max(m.label for m in maps) >= num_classes:
        raise BeatforgeError(f"--num-classes {num_classes}: the dataset has {len(index)} beatmaps")
    state = load_state(args.ckpt) if args.ckpt else None
    cfg = dit_config(args.model, num_classes)
    if state is not None and not args.relearn_embeds and state["config"]["num_classes"] != num_classes:
        raise BeatforgeError(f"--ckpt {args.ckpt}: trained with {state['config']['num_classes']} classes, not "
                             f"{num_classes}; pass --relearn-embeds to learn a new style table")
    model = DiT(cfg).to(device)
    step = epoch = 0
    if state is not None:
        own = {k: v for k, v in state["model"].items() if not (args.relearn_embeds and k.startswith("labels."))}
        missing, unexpected = model.load_state_dict(own, strict=False)
        if unexpected or (set(missing) - {"labels.weight"}):
            raise BeatforgeError(f"--ckpt {args.ckpt}: does not fit --model {args.model}")
        if not args.relearn_embeds:
            step, epoch = int(state["step"]), int(state["epoch"])
    ema = copy.deepcopy(model)
    if state is not None and not args.relearn_embeds:
        ema.load_state_dict(state["ema"])
    ema.requires_grad_(False)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.index is not None
                                                        else None)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    if state is not None and not args.relearn_embeds and state["opt"] is not None:
        opt.load_state_dict(state["opt"])
        for g in opt.param_groups:
            g["lr"] = args.lr
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule=args.noise_schedule)
    data = StandardWindows(maps, seq_len=args.seq_len, stride=args.stride, seed=args.global_seed)
    sampler = torch.utils.data.DistributedSampler(data, world, rank, shuffle=True, seed=args.global_seed)
    loader = torch.utils.data.DataLoader(data, batch_size=args.global_batch_size // world, sampler=sampler,
                                         num_workers=args.num_workers, drop_last=len(data) >= args.global_batch_size)
    out = _results_dir(args.results_dir, args.model) if rank == 0 else None
    use_amp = bool(args.use_amp and device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    log = (out / "log.txt").open("a") if out else None

    def say(text: str) -> None:
        if rank == 0:
            print(text, flush=True)
            log.write(text + "\n")
            log.flush()

    say(f"{args.model}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, {len(maps)} maps, "
        f"{len(data)} windows, {num_classes} styles, device {device}, {world} process(es), from step {step}")
    extra = {"num_classes": num_classes, "model": args.model, "seq_len": args.seq_len,
             "noise_schedule": args.noise_schedule}
    if out:
        atomic_write_text(out / "beatmap_idx.json", json.dumps(index, indent=0))
    # the loss sums on the device (no sync per step); printed after the first step and every --log-every steps
    first = step + 1
    last = min(args.max_steps or math.inf, step + (args.epochs - epoch) * len(loader))  # the step the run ends at
    loss_sum, since, t0 = torch.zeros((), device=device), step, time.perf_counter()
    done = False
    while epoch < args.epochs and not done:
        sampler.set_epoch(epoch)
        data.set_epoch(epoch)
        for batch in loader:
            b = {k: v.to(device) for k, v in batch.items()}
            t = torch.randint(0, 1000, (b["x"].shape[0],), device=device)
            noise = torch.randn_like(b["x"])
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                pred = net(sched.add_noise(b["x"], noise, t), t, b["times"], b["dist"], b["kinds"],
                           model.drop_labels(b["label"]), window=args.seq_len)
            err = (pred.float() - noise).abs() if args.l1_loss else (pred.float() - noise) ** 2
            mask = b["valid"][:, None, :].float()
            loss = (err * mask).sum() / (2 * mask.sum()).clamp_min(1.0)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            with torch.no_grad():  # EMA with warm-up (diffusers' EMAModel): at osu-diffusion's fixed 0.9999 a
                # run of a few thousand steps would sample from weights still ~90 % at their initialisation
                decay = min(args.ema_decay, (1 + step) / (10 + step))
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1.0 - decay)
            step += 1
            loss_sum += loss.detach()
            if step % args.log_every == 0 or step == first:
                rate = (step - since) / max(time.perf_counter() - t0, 1e-9)
                say(f"(step={step:07d}) train loss {loss_sum.item() / (step - since):.4f}, {rate:.2f} steps/s"
                    + (f", {_duration((last - step) / rate)} left" if last < math.inf and step < last else ""))
                loss_sum.zero_()
                since, t0 = step, time.perf_counter()
            if out and step % args.ckpt_every == 0:
                say(f"saved {save_checkpoint(out, model, ema, opt, step, epoch, extra, index, names)}")
            if args.max_steps and step >= args.max_steps:
                done = True
                break
        else:
            epoch += 1
    if out and (step % args.ckpt_every):
        say(f"saved {save_checkpoint(out, model, ema, opt, step, epoch, extra, index, names)}")
    if world > 1:
        torch.distributed.destroy_process_group()
    return 0


__all__ = ["build_parser", "main", "load_standard_maps", "save_checkpoint", "load_state"]
