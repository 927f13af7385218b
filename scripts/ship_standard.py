"""Copy a train.py checkpoint into the repository's shipped location, weights in float16 (half the bytes; the loader
casts back), with its style index and the maps' names.

    python scripts/ship_standard.py logs/standard_train/000-DiT-XS/checkpoints/0001500 models/standard \
        --data-path datasets/standard
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from safetensors.torch import load_file, save

from beatforge.fileio import atomic_write_bytes, atomic_write_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="a checkpoint directory")
    ap.add_argument("dst", type=Path)
    ap.add_argument("--data-path", type=Path, help="the dataset it trained on (for styles.json, if missing)")
    args = ap.parse_args()
    args.dst.mkdir(parents=True, exist_ok=True)
    state = {k: v.half().contiguous() for k, v in load_file(str(args.src / "model.safetensors")).items()}
    atomic_write_bytes(args.dst / "model.safetensors", save(state))
    for name in ("model.json", "beatmap_idx.json", "styles.json"):
        if (args.src / name).is_file():
            shutil.copyfile(args.src / name, args.dst / name)
    if not (args.dst / "styles.json").is_file() and args.data_path:
        from beatforge.training.standard import load_standard_maps

        _, index, names = load_standard_maps(args.data_path)
        atomic_write_text(args.dst / "styles.json", json.dumps({k: names.get(k, "") for k in index},
                                                                ensure_ascii=False))
    for p in sorted(args.dst.iterdir()):
        print(p, p.stat().st_size)


if __name__ == "__main__":
    main()
