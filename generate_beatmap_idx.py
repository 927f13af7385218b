"""osu-diffusion's ``generate_beatmap_idx.py``, for users following its guide step by step:

    python generate_beatmap_idx.py --data-path DATASET [--out beatmap_idx.json]

Writes the style index of a standard dataset (osu! BeatmapID, or the dataset's record id for maps without one ->
class index, in the order train.py gives them) as JSON, never a pickle. train.py also writes it beside every
checkpoint, where sample.py finds it by itself.
"""

import argparse
import json
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="generate_beatmap_idx.py",
                                description="Write a standard dataset's style index (osu! BeatmapID -> class index, "
                                "as train.py numbers them) as JSON, for sample.py --beatmap-idx.")
    p.add_argument("--data-path", required=True, type=Path, metavar="DATASET",
                   help="a dataset built with 'beatforge dataset build --mode standard'")
    p.add_argument("--out", type=Path, help="where to write it (default: DATASET/beatmap_idx.json)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from beatforge.fileio import atomic_write_text
    from beatforge.training.standard import load_standard_maps

    _, index, _ = load_standard_maps(args.data_path)
    out = args.out or args.data_path / "beatmap_idx.json"
    atomic_write_text(out, json.dumps(index, indent=0))
    print(f"{out}: {len(index)} beatmaps")
    return 0


if __name__ == "__main__":
    from beatforge.cli import run_script

    run_script("generate_beatmap_idx.py", main)
