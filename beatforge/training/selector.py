"""Training the note selector (:mod:`beatforge.models.note_selector`) on charts with audio.

Every chart of a song gives one labelled set of that song's candidates: a candidate is positive when the chart has
a note within ``LABEL_WINDOW_MS`` of it (human charts sit a few ms to 40 ms from the audio's onsets, and the
candidates lie on the grid estimated from the audio, not on the chart's own). The chart's density (distinct times
per beat) is the request feature, so one model serves a Beginner and an Expert of the same song. A plain loop: the
model has ~6 k parameters and trains in seconds, which nested cross-validation (benchmarks/rhythm_cv.py) needs.

The model also learns one timing constant, ``latency_ms``: the median over the training songs of how far the grid
estimated from the audio sat after the chart's own grid (songs of one tempo only). Mappers place the beat a few ms
before the beat network does (3-11 ms on the songs of ../shared/data); subtracting the library's own median puts a
generated grid where that library's mappers would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from beatforge.audio import load_audio
from beatforge.charts.chart import ManiaChart
from beatforge.checkpoints import ModelFile, save_model_dir
from beatforge.constants import SAMPLE_RATE, SELECTOR_TRAIN_STEPS
from beatforge.data.build import load_notes, read_index
from beatforge.errors import BeatforgeError
from beatforge.evaluation.matching import onset_times
from beatforge.formats.loader import load_chart
from beatforge.generation.learned.pretrained_audio import FRAME_MS, song_activations
from beatforge.generation.rules.beat_grid import distance_to_nearest
from beatforge.generation.rules.candidates import FEATURES, Candidates, candidates
from beatforge.generation.rules.timing import beat_aligned_timing, grid_offset_ms
from beatforge.models.note_selector import CHORD_TERMS, NoteSelectorConfig, NoteSelectorNet, chord_terms

LABEL_WINDOW_MS = 30.0


@dataclass
class SelectorItem:
    """One chart: its song's candidates and the chart's distinct note times (ms)."""

    song: str
    candidates: Candidates
    onsets_ms: np.ndarray
    grid_offset_ms: float | None = None  # the estimated grid after the chart's own (None: no single offset)
    keys: int = 0
    star_rating: float | None = None
    n_notes: int = 0

    @property
    def notes_per_beat(self) -> float:
        span = (self.onsets_ms[-1] - self.onsets_ms[0]) / self.candidates.beat_ms + 1.0 if len(self.onsets_ms) else 1
        return len(self.onsets_ms) / max(span, 1.0)

    def labels(self, window_ms: float = LABEL_WINDOW_MS) -> np.ndarray:
        t, ref = self.candidates.times, np.sort(self.onsets_ms)
        if len(ref) == 0:
            return np.zeros(len(t), dtype=np.float32)
        return (distance_to_nearest(t, ref) <= window_ms).astype(np.float32)


def median_latency(items: Sequence[SelectorItem]) -> float:
    """The median over songs (each song once: the median of its charts) of the estimated grid's offset after the
    charts' grids; 0 where no chart has one."""
    per_song: dict[str, list[float]] = {}
    for it in items:
        if it.grid_offset_ms is not None and np.isfinite(it.grid_offset_ms):
            per_song.setdefault(it.song, []).append(it.grid_offset_ms)
    return float(np.median([np.median(v) for v in per_song.values()])) if per_song else 0.0


def fit_chord_split(items: Sequence[SelectorItem]) -> np.ndarray:
    """Least-squares coefficients of notes-per-distinct-time - 1 on :func:`chord_terms` over the charts that say
    their key count and star rating (zeros, i.e. no chords, where none does)."""
    rows = [(chord_terms(it.star_rating, it.keys).numpy(), it.n_notes / len(it.onsets_ms) - 1.0) for it in items
            if it.keys and it.star_rating is not None and it.n_notes and len(it.onsets_ms)]
    if len(rows) < CHORD_TERMS:
        return np.zeros(CHORD_TERMS, dtype=np.float32)
    a = np.stack([r[0] for r in rows])
    b = np.array([r[1] for r in rows])
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    return coef.astype(np.float32)


def train_selector(items: Sequence[SelectorItem], *, steps: int = SELECTOR_TRAIN_STEPS, batch_size: int = 1024,
                   lr: float = 3e-3, hidden: int = 64, seed: int = 0, window_ms: float = LABEL_WINDOW_MS,
                   drop: Sequence[str] = ()) -> tuple[NoteSelectorNet, list[float]]:
    """A selector fitted to every candidate of every item (minibatches drawn uniformly over all of them).
    ``drop``: feature names the selector must not use (zeroed by its mask)."""
    if not items:
        raise ValueError("no charts to train the note selector on")
    unknown = set(drop) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown features {sorted(unknown)}")
    mask = torch.tensor([0.0 if f in drop else 1.0 for f in FEATURES])
    x = torch.from_numpy(np.concatenate([it.candidates.with_request(it.notes_per_beat) for it in items])) * mask
    y = torch.from_numpy(np.concatenate([it.labels(window_ms) for it in items]))
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = NoteSelectorNet(NoteSelectorConfig(n_features=x.shape[1], hidden=hidden))
    net.mask.copy_(mask)
    net.mean.copy_(x.mean(0))
    net.std.copy_(x.std(0).clamp_min(1e-3))
    net.latency_ms.fill_(median_latency(items))
    net.chord_coef.copy_(torch.from_numpy(fit_chord_split(items)))
    opt = torch.optim.Adam(net.parameters(), lr, weight_decay=1e-4)
    losses = []
    for _ in range(steps):
        b = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=gen)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[b]), y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return net.eval(), losses


def save_selector(net: NoteSelectorNet, out_dir: str | Path, *, meta: dict) -> list[Path]:
    """A selector model directory (``model.safetensors`` + ``model.yaml``), its feature list recorded."""
    state = {k: v.detach().float() for k, v in net.state_dict().items()}
    return save_model_dir(out_dir, ModelFile("selector", {"net": net.cfg.to_dict()}, state,
                                             {**meta, "features": list(FEATURES)}), ckpt=False)




def _chart_file(path: str) -> str:
    """The file of an index record's chart path: without an archive member (``x.osz::y.osu``) or the difficulty
    suffix of a multi-chart file (Frets on Fire ``notes.mid#Medium``, StepMania ``song.ssc#3``)."""
    path = str(path).split("::")[0]
    head, sep, _ = path.rpartition("#")
    return head if sep and not Path(path).exists() and Path(head).exists() else path


def load_selector_items(datasets: Sequence[str | Path], *, exclude_songs: set[str] = frozenset(),
                        min_notes: int = 20) -> list[SelectorItem]:
    """Every mania chart with audio in built datasets, with its song's candidates (the pretrained activations are
    computed once per song and cached; the timing is estimated from the audio, as generation does)."""
    songs: dict[str, tuple[Candidates, float | None] | None] = {}
    items: list[SelectorItem] = []
    for ds in datasets:
        for rec in read_index(ds):
            song = rec.get("song_key", "")
            if rec.get("mode") != "mania" or not rec.get("audio_hash") or song in exclude_songs:
                continue
            arr = load_notes(ds, rec)
            if len(arr) < min_notes:
                continue
            if song not in songs:
                try:
                    chart = load_chart(_chart_file(rec["path"]), version=rec.get("version"))
                    y = load_audio(list(chart.meta.audio))
                    acts = song_activations(list(chart.meta.audio))
                    timing = beat_aligned_timing(y, acts.beat, FRAME_MS)
                    songs[song] = (candidates(acts, y, timing, len(y) / SAMPLE_RATE * 1000.0),
                                   grid_offset_ms(timing[0], chart.timing))
                except (OSError, ValueError, BeatforgeError) as exc:  # skip the song, say why
                    print(f"note selector: skipping {song}: {exc}")
                    songs[song] = None
            if songs[song] is not None:
                chart = ManiaChart(int(rec["keys"]), arr[:, 0], arr[:, 1], arr[:, 2].astype(np.int64))
                sr = rec.get("star_rating")
                items.append(SelectorItem(song, songs[song][0], onset_times(chart), songs[song][1], keys=chart.keys,
                                          star_rating=float(sr) if isinstance(sr, (int, float)) else None,
                                          n_notes=len(arr)))
    return items


__all__ = ["LABEL_WINDOW_MS", "SelectorItem", "fit_chord_split", "load_selector_items", "median_latency",
           "save_selector", "train_selector"]
