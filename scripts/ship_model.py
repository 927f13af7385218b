"""Copy a training run's model into the repository's shipped locations, in float16 (half the bytes; every
loader casts back to float32).

    python scripts/ship_model.py logs/<run>_first_stage/model models/first_stage
    python scripts/ship_model.py logs/<run>_small/model models/mania --ckpt models/ckpt/model.ckpt

The second form also writes ``models/ckpt/model.ckpt``, where Mug Diffusion's guide (and beatforge's default)
looks for the mania model.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from beatforge.checkpoints import load_model_file, save_model_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="a run's model/ directory (or model file)")
    ap.add_argument("dst", type=Path, help="directory to write model.safetensors / model.yaml / model.ckpt into")
    ap.add_argument("--ckpt", type=Path, help="also copy model.ckpt here (e.g. models/ckpt/model.ckpt)")
    args = ap.parse_args()
    mf = load_model_file(args.src)
    mf.state_dict = {k: (v.half() if v.is_floating_point() and k != "scale_factor" else v)
                     for k, v in mf.state_dict.items()}
    written = save_model_dir(args.dst, mf)
    if args.ckpt:
        args.ckpt.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.dst / "model.ckpt", args.ckpt)
        written.append(args.ckpt)
    for p in written:
        print(f"{p}  {p.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
