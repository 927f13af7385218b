"""osu-diffusion's sampling entry point, kept so its guide works as written:

    python sample.py --beatmap MAP.osu --ckpt results/000-DiT-B/checkpoints/0400000 [--style-id BEATMAP_ID]
        [--cfg-scale 1.0] [--num-sampling-steps 50] [--seed 0] [--beatmap_idx beatmap_idx.json] [--device auto]

Writes a new .osu with the map's rhythm and timing and new positions, with a bar of the sampling steps on stderr.
Errors print one line and exit 2.
"""

import argparse
from pathlib import Path

from beatforge.constants import DEVICES
from beatforge.errors import BeatforgeError
from beatforge.generation.request import RemapRequest
from beatforge.runtime import configure_threads


def build_parser() -> argparse.ArgumentParser:
    d = RemapRequest()  # the defaults live in the request
    p = argparse.ArgumentParser(prog="sample.py", description="Remap an osu!standard beatmap with a trained DiT.")
    p.add_argument("--beatmap", required=True, type=Path, help="the osu!standard .osu whose rhythm to keep")
    p.add_argument("--ckpt", required=True, type=Path, help="a checkpoint directory from train.py")
    p.add_argument("--model", help="accepted for osu-diffusion's guide and ignored: the checkpoint says which model "
                   "it is")
    p.add_argument("--num-classes", type=int, help="accepted for the guide; checked against the checkpoint "
                   "(default: not checked)")
    p.add_argument("--beatmap-idx", "--beatmap_idx", dest="beatmap_idx", type=Path, default=d.beatmap_idx,
                   help="beatmap_idx.json (default: the one in the checkpoint directory)")
    p.add_argument("--style-id", default=d.style_id,
                   help="osu! BeatmapID of a training map whose style to use ('beatforge styles'; default: none, "
                   "the unconditional model)")
    p.add_argument("--cfg-scale", type=float, default=d.guidance,
                   help="classifier-free guidance scale towards the style; 1 = none (default %(default)s)")
    p.add_argument("--num-sampling-steps", type=int, default=d.steps, help="sampler steps (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="random seed; the noise is drawn on the CPU, so a seed starts alike on every device "
                   "(default %(default)s)")
    p.add_argument("--free-spacing", action="store_true", default=not d.spacing,
                   help="the network's raw positions, without projecting them onto the map's spacing (beatforge)")
    p.add_argument("--device", choices=list(DEVICES), default=d.device,
                   help="where the DiT runs: the GPU when there is one ('auto'), or cpu, cuda, mps (default "
                   "%(default)s)")
    p.add_argument("-o", "--output", type=Path,
                   help="the .osu to write (default: results/remaps/<map> remap <seed>.osu)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    configure_threads()  # before torch loads: see beatforge.runtime
    # lazy: the remapper pulls in torch; --help and a bad flag answer without it
    from beatforge.fileio import atomic_write_text
    from beatforge.formats.export import safe_name
    from beatforge.formats.osu import write_osu
    from beatforge.generation.remap import RemapModel, progress_bar, remap_standard

    try:
        request = RemapRequest(model=args.ckpt, style_id=args.style_id, guidance=args.cfg_scale,
                               steps=args.num_sampling_steps, seed=args.seed, beatmap_idx=args.beatmap_idx,
                               spacing=not args.free_spacing, device=args.device)
    except BeatforgeError as exc:  # the request names beatforge's flags; this script's are the guide's
        raise BeatforgeError(str(exc).replace("--steps ", "--num-sampling-steps ", 1)) from None
    model = RemapModel.load(request)  # once: --num-classes is checked on it, then it samples
    if args.num_classes is not None and model.net.cfg.num_classes != args.num_classes:
        raise BeatforgeError(f"--num-classes {args.num_classes}: the checkpoint has {model.net.cfg.num_classes}")
    with progress_bar("sample") as progress:
        bm = remap_standard(args.beatmap, request, model=model, progress=progress)
    out = args.output or Path("results") / "remaps" / (safe_name(f"{args.beatmap.stem} remap {args.seed}") + ".osu")
    atomic_write_text(out, write_osu(bm))
    print(out)
    return 0


if __name__ == "__main__":
    from beatforge.cli import run_script

    run_script("sample.py", main)
