"""osu-diffusion's training entry point, kept so its guide works as written:

    torchrun --nproc-per-node=1 train.py --data-path DATASET --model DiT-B --num-workers 4 --epochs 100 \
        --global-batch-size 256 --ckpt-every 20000 --seq-len 128 --dist gloo

DATASET is built by ``beatforge dataset build --mode standard --songs ... --out DATASET`` (in place of the .NET
Mapperator step). It is beatforge/training/standard.py; errors print one line and exit 2.
"""

from beatforge.cli import run_script
from beatforge.training.standard import main

if __name__ == "__main__":
    run_script("train.py", main)
