"""Training runs: run directories, checkpoints, resume and fine-tune, the Lightning trainer."""
