"""osu-diffusion's sampling entry point, kept so its guide works as written:

    python sample.py --beatmap MAP.osu --ckpt results/000-DiT-B/checkpoints/0400000 [--style-id BEATMAP_ID]
        [--cfg-scale 1.0] [--num-sampling-steps 50] [--seed 0] [--beatmap_idx beatmap_idx.json]

Writes a new .osu with the map's rhythm and timing and new positions. Errors print one line and exit 2.
"""

import argparse
from pathlib import Path

from beatforge.errors import BeatforgeError
from beatforge.generation.request import RemapRequest


def main(argv=None) -> int:
    d = RemapRequest()  # the defaults live in the request
    p = argparse.ArgumentParser(prog="sample.py", description="Remap an osu!standard beatmap with a trained DiT.")
    p.add_argument("--beatmap", required=True, type=Path)
    p.add_argument("--ckpt", required=True, type=Path, help="a checkpoint directory from train.py")
    p.add_argument("--model", help="accepted for osu-diffusion's guide; the checkpoint says which model it is")
    p.add_argument("--num-classes", type=int, help="accepted for the guide; checked against the checkpoint")
    p.add_argument("--beatmap-idx", "--beatmap_idx", dest="beatmap_idx", type=Path, default=d.beatmap_idx,
                   help="beatmap_idx.json (default: the one in the checkpoint directory)")
    p.add_argument("--style-id", default=d.style_id,
                   help="osu! BeatmapID of a training map whose style to use ('beatforge styles')")
    p.add_argument("--cfg-scale", type=float, default=d.guidance)
    p.add_argument("--num-sampling-steps", type=int, default=d.steps)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--free-spacing", action="store_true", default=not d.spacing,
                   help="the network's raw positions, without projecting them onto the map's spacing (beatforge)")
    p.add_argument("-o", "--output", type=Path, help="the .osu to write (default: results/remaps/...)")
    args = p.parse_args(argv)
    # lazy: the remapper pulls in torch; --help and a bad flag answer without it
    from beatforge.checkpoints import load_dit
    from beatforge.fileio import atomic_write_text
    from beatforge.formats.export import safe_name
    from beatforge.formats.osu import write_osu
    from beatforge.generation.remap import remap_standard

    try:
        request = RemapRequest(model=args.ckpt, style_id=args.style_id, guidance=args.cfg_scale,
                               steps=args.num_sampling_steps, seed=args.seed, beatmap_idx=args.beatmap_idx,
                               spacing=not args.free_spacing)
    except BeatforgeError as exc:  # the request names beatforge's flags; this script's are the guide's
        raise BeatforgeError(str(exc).replace("--steps ", "--num-sampling-steps ", 1)) from None
    if args.num_classes is not None:
        have = load_dit(args.ckpt)[0].cfg.num_classes
        if have != args.num_classes:
            raise BeatforgeError(f"--num-classes {args.num_classes}: the checkpoint has {have}")
    bm = remap_standard(args.beatmap, request)
    out = args.output or Path("results") / "remaps" / (safe_name(f"{args.beatmap.stem} remap {args.seed}") + ".osu")
    atomic_write_text(out, write_osu(bm))
    print(out)
    return 0


if __name__ == "__main__":
    from beatforge.cli import run_script

    run_script("sample.py", main)
