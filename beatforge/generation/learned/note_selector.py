"""The note selector at inference: the N candidates a human mapper would most likely chart, at a requested density.

The star-rating fit (:mod:`beatforge.generation.rules.star_rating_fit`) decides N; the selector decides which. It
replaces the hand-tuned beat-grid thresholds of :mod:`beatforge.generation.rules.beat_grid`, which were chosen on
the very charts that reported their quality; the selector is trained on charts (``beatforge rhythm train``) and
measured on songs it never saw (benchmarks/rhythm_cv.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from beatforge.checkpoints import ModelFileError, load_model_file, load_weights
from beatforge.generation.rules.candidates import FEATURES, Candidates
from beatforge.models.note_selector import NoteSelectorConfig, NoteSelectorNet

DEFAULT_SELECTOR_MODEL = Path(__file__).resolve().parents[3] / "models" / "selector"


def load_selector(path: str | Path | None = None) -> NoteSelectorNet:
    """A note selector model directory (default: the shipped ``models/selector``), checked against this
    beatforge's feature list."""
    mf = load_model_file(path or DEFAULT_SELECTOR_MODEL)
    if mf.kind != "selector":
        raise ModelFileError(f"{mf.path}: a {mf.kind} model, not a note selector")
    if tuple(mf.meta.get("features", ())) != FEATURES:
        raise ModelFileError(f"{mf.path}: the selector was trained on other candidate features; retrain it with "
                             "'beatforge rhythm train'")
    net = NoteSelectorNet(NoteSelectorConfig(**mf.config.get("net", {})))
    load_weights(net, {k: v.float() for k, v in mf.state_dict.items()}, prefix="", source=mf.path)
    return net.eval()


@torch.no_grad()
def note_scores(net: NoteSelectorNet, cands: Candidates, notes_per_beat: float) -> np.ndarray:
    """The selector's logit for every candidate of a chart of ``notes_per_beat`` distinct times a beat."""
    if len(cands.times) == 0:
        return np.zeros(0, dtype=np.float32)
    return net(torch.from_numpy(cands.with_request(notes_per_beat))).numpy()


def select_notes(net: NoteSelectorNet, cands: Candidates, n: int, span_beats: float) -> np.ndarray:
    """The ``n`` best candidates, as sorted times (ms), for a chart of ``n`` times over ``span_beats`` beats."""
    scores = note_scores(net, cands, max(n, 1) / max(span_beats, 1.0))
    return np.sort(cands.times[np.argsort(-scores, kind="stable")[: max(int(n), 0)]])


__all__ = ["DEFAULT_SELECTOR_MODEL", "load_selector", "note_scores", "select_notes"]
