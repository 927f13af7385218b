"""Mug Diffusion's training entry point, kept so its guide works as written:

    python main.py --train -b configs/mug/mug_diffusion.yaml --gpus 0,
    python main.py --train -b configs/mug/finetune_special_style.yaml -r models/ckpt/model.ckpt --gpus 0,

It is ``beatforge train`` (beatforge/training/run.py).
"""

import sys
from functools import partial

from beatforge.cli import run_script
from beatforge.training.run import main_train

if __name__ == "__main__":
    run_script("main.py", partial(main_train, prog="main.py"), sys.argv[1:])  # usage and errors say main.py
