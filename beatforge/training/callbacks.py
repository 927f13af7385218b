"""Callbacks a training run adds to Lightning's: exact RNG resume and the loss-curve picture."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import lightning as L
import numpy as np
import torch

from beatforge.fileio import atomic_path


class RNGState(L.Callback):
    """Saves and restores the Python, numpy and torch random states with every checkpoint.

    Lightning restores weights, optimizer, scheduler and step but not the global RNGs, so a resumed run would
    draw other timesteps, noise and batch orders than the run it continues. States are stored as tensors and
    ints only, so the checkpoint still loads with ``torch.load(weights_only=True)``.
    """

    def state_dict(self) -> dict:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        version, internal, gauss_next = random.getstate()
        return {
            "torch": torch.get_rng_state(),
            "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "numpy_rest": [str(kind), int(pos), int(has_gauss), float(cached)],
            "python": [int(version), list(internal), gauss_next],
        }

    def load_state_dict(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        kind, pos, has_gauss, cached = state["numpy_rest"]
        np.random.set_state((kind, state["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
        version, internal, gauss_next = state["python"]
        random.setstate((version, tuple(internal), gauss_next))


class LossCurve(L.Callback):
    """Writes ``loss_curve.png`` in the run directory at the end of fitting (and on interruption)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            write_loss_curve(self.run_dir)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if trainer.is_global_zero:
            write_loss_curve(self.run_dir)


def read_metrics(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every logged metric of a run as (step, value) pairs, from the CSV log."""
    path = Path(run_dir) / "csv" / "metrics.csv"
    series: dict[str, list[tuple[int, float]]] = {}
    if not path.is_file():
        return series
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            step = int(float(row.get("step") or 0))
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                series.setdefault(key, []).append((step, float(value)))
    return series


def write_loss_curve(run_dir: Path) -> Path | None:
    """Plot training and validation loss against steps (log scale) into ``loss_curve.png``."""
    import matplotlib  # lazy: matplotlib costs ~0.5 s of import; only the loss plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_metrics(run_dir)
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for key, style in (("train/loss", "-"), ("val/loss", "o-")):
        if key in series:
            steps, values = zip(*series[key])
            ax.plot(steps, values, style, label=key, markersize=3, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if all(v > 0 for pts in series.values() for _, v in pts):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(Path(run_dir).name)
    fig.tight_layout()
    out = Path(run_dir) / "loss_curve.png"
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out


class SaveOnInterrupt(L.Callback):
    """Ctrl-C or SIGTERM during training: write ``last.ckpt`` (temporary name, then rename) and the model files
    before the process ends, so ``-r RUN_DIR`` resumes from the moment of the interrupt and a scheduler's
    pre-emption loses nothing. ``export``: a function of the module that writes the model files."""

    def __init__(self, last_ckpt: Path, export) -> None:
        self.last_ckpt = Path(last_ckpt)
        self.export = export
        self.interrupted = False

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        from beatforge.boundary import Terminated  # lazy: only an interrupted run needs it

        if not isinstance(exception, (KeyboardInterrupt, Terminated)):
            return
        self.interrupted = True
        if not trainer.is_global_zero or trainer.global_step == 0:
            return
        with atomic_path(self.last_ckpt) as tmp:
            trainer.save_checkpoint(tmp)
        self.export(pl_module)


def history_csv_logger(run_dir: Path):
    """The run's CSV logger (``run_dir/csv/metrics.csv``), keeping the rows an earlier part of the run wrote.

    Why: Lightning's CSV writer deletes ``metrics.csv`` when it starts, so after ``-r`` the log and the loss curve
    held only the steps since the checkpoint. The old rows are read first and written back; :class:`TrimHistory`
    then drops those at or past the step the checkpoint resumes from (they are logged again)."""
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter

    path = Path(run_dir) / "csv" / "metrics.csv"
    history: list[dict[str, str]] = []
    if path.is_file():
        with path.open(newline="") as fh:
            history = list(csv.DictReader(fh))

    class HistoryWriter(ExperimentWriter):
        def __init__(self, log_dir: str) -> None:
            super().__init__(log_dir)  # removes metrics.csv
            if history:
                keys = sorted(set().union(*history))
                with atomic_path(self.metrics_file_path) as tmp, open(tmp, "w", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=keys)
                    writer.writeheader()
                    writer.writerows(history)
                self.metrics_keys = keys

    class HistoryCSVLogger(CSVLogger):
        @property
        def experiment(self):
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = HistoryWriter(log_dir=self.log_dir)
            return self._experiment

    return HistoryCSVLogger(run_dir, name="csv", version="")


class TrimHistory(L.Callback):
    """On a resumed run, drop the CSV rows logged at or after the resumed step (see :func:`history_csv_logger`)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.global_step == 0:
            return
        for logger in trainer.loggers:
            path = Path(getattr(logger, "log_dir", "") or "") / "metrics.csv"
            if type(logger).__name__ != "HistoryCSVLogger" or not path.is_file():
                continue
            logger.save()
            with path.open(newline="") as fh:
                reader = csv.DictReader(fh)
                keys, rows = reader.fieldnames or [], list(reader)
            kept = [r for r in rows if int(float(r.get("step") or 0)) < trainer.global_step]
            if len(kept) != len(rows):
                with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=keys)
                    writer.writeheader()
                    writer.writerows(kept)

