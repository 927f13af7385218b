"""Training the rhythm model (:mod:`beatforge.models.onset_net`) on a built dataset's charts with audio.

A plain loop, not Lightning: the model is ~0.2 M parameters and trains in minutes on a CPU, and leave-one-song-out
evaluation trains it once per held-out song, where Lightning's start-up would cost more than the training.

Targets: the chart's distinct onset times (chords collapsed), one per 11.6 ms frame, the two neighbouring frames at
0.5 (human charts sit within ~10 ms of the audio's onsets; a hard one-frame target punishes that jitter). Frames
before the chart's first note or after its last are masked out of the loss: a chart that starts late says nothing
about the intro. Windows of ~18 s are drawn uniformly over charts, then over each chart's span.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from beatforge.charts.chart import ManiaChart
from beatforge.constants import MEL_HOP_MS as MEL_MS
from beatforge.constants import RHYTHM_MEL_HOPS_PER_STEP as MEL_HOPS_PER_STEP
from beatforge.constants import RHYTHM_STEP_MS as STEP_MS
from beatforge.data.build import load_array, load_notes, read_index
from beatforge.errors import BeatforgeError
from beatforge.evaluation.matching import onset_times
from beatforge.models.onset_net import OnsetNet, OnsetNetConfig


@dataclass
class RhythmItem:
    """One chart with audio: its song's log-mel and its distinct onset times."""

    song: str
    name: str
    keys: int
    star_rating: float
    mel: np.ndarray  # (128, T) float16, shared between charts of one song
    onsets_ms: np.ndarray
    first_ms: float
    last_ms: float

    @property
    def density(self) -> float:
        return len(self.onsets_ms) / max((self.last_ms - self.first_ms) / 1000.0, 1.0)


def load_rhythm_items(datasets: list[str | Path], *, exclude_songs: set[str] = frozenset(),
                      only_songs: set[str] | None = None, min_notes: int = 20) -> list[RhythmItem]:
    """Every mania chart with audio in the datasets (both splits: callers choose songs themselves)."""
    items: list[RhythmItem] = []
    mels: dict[str, np.ndarray] = {}
    for ds in datasets:
        for rec in read_index(ds):
            song = rec.get("song_key", "")
            if rec.get("mode") != "mania" or not rec.get("mel_file") or song in exclude_songs:
                continue
            if only_songs is not None and song not in only_songs:
                continue
            arr = load_notes(ds, rec)
            if len(arr) < min_notes:
                continue
            if rec["mel_file"] not in mels:
                mels[rec["mel_file"]] = load_array(ds, rec["mel_file"], max_rows=1 << 20)
            chart = ManiaChart(int(rec["keys"]), arr[:, 0], arr[:, 1], arr[:, 2].astype(np.int64))
            on = onset_times(chart)
            items.append(RhythmItem(song, f"{rec.get('title')} [{rec.get('version')}]", int(rec["keys"]),
                                    float(rec.get("star_rating") or 0.0), mels[rec["mel_file"]], on,
                                    float(on[0]), float(on[-1])))
    return items


def _window(item: RhythmItem, n_steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hops = n_steps * MEL_HOPS_PER_STEP
    total = item.mel.shape[1]
    lo = max(int(item.first_ms / MEL_MS) - hops // 4, 0)
    hi = max(min(int(item.last_ms / MEL_MS) - 3 * hops // 4, total - hops), lo)
    start = int(rng.integers(lo, hi + 1)) // MEL_HOPS_PER_STEP * MEL_HOPS_PER_STEP
    mel = np.zeros((item.mel.shape[0], hops), dtype=np.float32)
    piece = item.mel[:, start:start + hops]
    mel[:, :piece.shape[1]] = piece
    t0 = start * MEL_MS
    target = np.zeros(n_steps, dtype=np.float32)
    idx = np.round((item.onsets_ms - t0) / STEP_MS).astype(np.int64)
    for off, val in ((-1, 0.5), (1, 0.5), (0, 1.0)):
        j = idx + off
        ok = (j >= 0) & (j < n_steps)
        target[j[ok]] = np.maximum(target[j[ok]], val)
    times = t0 + np.arange(n_steps) * STEP_MS
    mask = ((times >= item.first_ms - 2 * STEP_MS) & (times <= item.last_ms + 2 * STEP_MS)
            & (np.arange(n_steps) < piece.shape[1] // MEL_HOPS_PER_STEP)).astype(np.float32)
    return mel, target, mask


def train_rhythm(items: list[RhythmItem], *, steps: int = 1200, batch_size: int = 8, window_steps: int = 1024,
                 lr: float = 2e-3, seed: int = 0, cfg: OnsetNetConfig | None = None, progress: bool = True,
                 log=None) -> tuple[OnsetNet, list[float]]:
    """Train a fresh :class:`OnsetNet`; returns it (eval mode) and the per-step losses."""
    if not items:
        raise BeatforgeError("no charts with audio to train the rhythm model on")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    torch.set_flush_denormal(True)
    net = OnsetNet(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    warm = max(steps // 20, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, 0.5 * (1 + np.cos(np.pi * min(s / max(steps, 1), 1.0))) + 0.02))
    pos_weight = torch.tensor(4.0)
    losses: list[float] = []
    bar = None
    if progress:
        bar = tqdm(total=steps, desc="rhythm model", unit="step")
    net.train()
    t_start = time.perf_counter()
    for step in range(steps):
        batch = [_window(items[int(rng.integers(len(items)))], window_steps, rng) for _ in range(batch_size)]
        mel = torch.from_numpy(np.stack([b[0] for b in batch]))
        mel = mel + torch.randn(batch_size, 1, 1) * 0.3  # loudness augmentation (log1p domain)
        target = torch.from_numpy(np.stack([b[1] for b in batch]))
        mask = torch.from_numpy(np.stack([b[2] for b in batch]))
        dens = torch.tensor([(b[1] == 1).sum() / max(b[2].sum() * STEP_MS / 1000.0, 1.0) for b in batch])
        logits = net(mel, dens)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight,
                                                                    reduction="none")
        loss = (loss * mask).sum() / mask.sum().clamp_min(1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if bar:
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        if log and (step + 1) % 250 == 0:
            log(f"step {step + 1}/{steps} loss {np.mean(losses[-250:]):.4f} {time.perf_counter() - t_start:.0f}s")
    if bar:
        bar.close()
    net.eval()
    return net, losses


__all__ = ["RhythmItem", "load_rhythm_items", "train_rhythm"]
