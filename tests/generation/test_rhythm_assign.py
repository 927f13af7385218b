"""The rhythm model's pieces (peak picking, training, model file) and note assignment from chart frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from beatforge.charts.chart import TimingPoint
from beatforge.charts.mania_tensor import encode
from beatforge.constants import FRAME_MS
from beatforge.generation.assign import PatternBias, assign_notes
from beatforge.generation.pipeline import _grid_fits, _grid_plan
from beatforge.generation.rhythm import activation_at, grid_lines, grid_onsets, peak_candidates, pick_onsets
from beatforge.generation.timing import align_to_onsets
from beatforge.training.rhythm import STEP_MS


def test_peak_picking_finds_the_n_strongest_with_subframe_times() -> None:
    act = np.zeros(400)
    true = np.array([50.3, 120.0, 200.7, 310.2])
    heights = np.array([0.9, 0.5, 0.8, 0.3])
    for t, h in zip(true, heights):
        idx = np.arange(400)
        act = np.maximum(act, h * np.exp(-0.5 * ((idx - t) / 1.2) ** 2))
    times, hs = peak_candidates(act)
    assert len(times) == 4 and np.allclose(np.sort(hs)[::-1], hs)
    got = pick_onsets(act, 3)
    assert np.allclose(got / STEP_MS, [50.3, 120.0, 200.7], atol=0.15)  # the weakest left out
    assert len(pick_onsets(act, 0)) == 0 and len(pick_onsets(act, 99)) == 4



def _clicks(times_ms: np.ndarray, heights: np.ndarray, n_frames: int) -> np.ndarray:
    idx = np.arange(n_frames)[:, None]
    return (heights * np.exp(-0.5 * ((idx - times_ms / STEP_MS) / 1.0) ** 2)).max(axis=1)


def test_grid_lines_follow_every_timing_point() -> None:
    timing = [TimingPoint(100.0, 500.0), TimingPoint(2100.0, 400.0)]
    times, beats = grid_lines(timing, 0.0, 3000.0, 2)
    # before the first point its grid runs backwards: lines at 100 - 250 k down to 0 ms, none below
    assert np.isclose(times.min(), 100.0) and not np.any(times < 0)
    first = times[times < 2100.0]
    assert np.allclose(np.diff(first), 250.0) and np.isclose(first[0], 100.0) and beats[0] == 0.0
    second = times[times >= 2100.0]
    assert np.isclose(second[0], 2100.0) and np.allclose(np.diff(second), 200.0) and second[-1] <= 3000.0


def test_grid_onsets_take_the_bar_pulse_first_then_whole_beats_then_the_strongest() -> None:
    beat = 500.0
    timing = [TimingPoint(0.0, beat)]
    k = np.arange(40)
    # every beat sounds; the third beat of each bar (k % 4 == 2) is not the loudest, but is steady
    heights = np.where(k % 4 == 2, 0.6, np.where(k % 4 == 0, 0.5, 0.4))
    heights[[5, 9]] = 0.95  # two loud syncopated hits
    act = _clicks(k * beat, heights, int(40 * beat / STEP_MS) + 10)
    once_a_bar = grid_onsets(act, 10, timing, sub=2, period=4, level_bonus=1.0)
    assert np.allclose(once_a_bar, (np.arange(10) * 4 + 2) * beat)
    # told more notes than the pulse has, the other whole beats come next (never a half beat while one is left)
    more = grid_onsets(act, 30, timing, sub=2, period=4, level_bonus=1.0)
    assert len(more) == 30 and np.allclose(more / beat, np.round(more / beat))
    # by strength alone (a dense chart), the loud hits are taken first
    assert set(np.round(grid_onsets(act, 2, timing, sub=4) / beat).astype(int)) == {5, 9}
    assert len(grid_onsets(act, 0, timing, sub=2)) == 0


def test_grid_plan_and_fit() -> None:
    assert _grid_plan(0.5, 500.0)["period"] == 4 and _grid_plan(1.2, 500.0)["period"] == 2
    assert _grid_plan(2.0, 500.0)["period"] == 1 and _grid_plan(3.0, 500.0)["sub"] == 2
    assert _grid_plan(6.0, 500.0)["sub"] == 4 and _grid_plan(10.0, 500.0) is None
    beat = 400.0
    onsets = np.sort(np.r_[np.arange(0, 60000, beat), np.arange(0, 60000, beat) + beat / 2])
    act = _clicks(onsets, np.ones(len(onsets)), int(60000 / STEP_MS))[None].repeat(3, axis=0)
    assert _grid_fits(act, [TimingPoint(0.0, beat)], 60000.0)
    assert not _grid_fits(act, [TimingPoint(0.0, beat * 1.01)], 60000.0)  # a BPM 1 % off drifts off the lines


def test_activation_interpolates_in_log_density() -> None:
    grid = np.array([1.0, 4.0])
    acts = np.stack([np.zeros(5), np.ones(5)])
    assert np.allclose(activation_at(acts, 2.0, grid), 0.5)
    assert np.allclose(activation_at(acts, 0.1, grid), 0.0) and np.allclose(activation_at(acts, 9.0, grid), 1.0)


def test_align_to_onsets_recovers_the_phase() -> None:
    beat = 400.0
    rng = np.random.default_rng(0)
    onsets = 137.0 + beat * np.arange(100) + rng.normal(0, 3, 100)  # on beats
    onsets = np.sort(np.r_[onsets, 137.0 + beat * (np.arange(100) + 0.5)])  # and half beats, weaker
    w = np.r_[np.ones(100), 0.3 * np.ones(100)][np.argsort(np.r_[np.arange(100), np.arange(100) + 0.5])]
    tp = align_to_onsets(TimingPoint(0.0, beat), onsets, w)
    assert abs(((tp.time - 137.0 + beat / 2) % beat) - beat / 2) < 3.0


def _frames_of(starts, ends, columns, keys, n_frames) -> np.ndarray:
    from beatforge.charts.chart import ManiaChart

    chart = ManiaChart(keys, np.asarray(starts, float), np.asarray(ends, float), np.asarray(columns))
    x = encode(chart, n_frames=n_frames).astype(np.float32)
    for blk in (0, 2):  # is_start and is_holding as logits (1 -> +6, 0 -> -6); offsets stay in [0, 1]
        x[blk * keys:(blk + 1) * keys] = x[blk * keys:(blk + 1) * keys] * 12.0 - 6.0
    return x


def test_assign_reads_columns_chords_and_long_notes_from_frames() -> None:
    keys = 4
    starts = [100.0, 100.0, 600.0, 1100.0]
    ends = [np.nan, np.nan, 1000.0, np.nan]
    cols = [0, 2, 1, 3]
    frames = _frames_of(starts, ends, cols, keys, 40)
    chart = assign_notes(np.array([105.0, 610.0, 1090.0]), frames, keys, min_ln_ms=60)
    assert chart.n_notes == 4
    assert set(chart.columns[chart.starts == 105.0].tolist()) == {0, 2}
    ln = np.flatnonzero(np.isfinite(chart.ends))
    assert chart.columns[ln].tolist() == [1] and abs(chart.ends[ln[0]] - 1000.0) < FRAME_MS
    assert chart.columns[chart.starts == 1090.0].tolist() == [3]


def test_ln_ratio_is_met_and_biases_move_chords_and_jacks() -> None:
    rng = np.random.default_rng(1)
    keys, w = 4, 400
    frames = rng.normal(-1.5, 1.0, (4 * keys, w)).astype(np.float32)
    onsets = np.sort(rng.choice(np.arange(50, w - 5) * FRAME_MS, 200, replace=False))
    base = assign_notes(onsets, frames, keys, ln_ratio=0.0)
    half = assign_notes(onsets, frames, keys, ln_ratio=0.5, min_ln_ms=1.0, release_ms=1.0)
    assert np.isnan(base.ends).all()
    assert abs(np.isfinite(half.ends).mean() - 0.5) < 0.1
    chords = assign_notes(onsets, frames, keys, bias=PatternBias.from_patterns({"handstream": "more"}, keys))
    assert chords.n_notes > base.n_notes
    singles = assign_notes(onsets, frames, keys, bias=PatternBias.from_patterns({"stream": "more"}, keys))
    assert singles.n_notes <= base.n_notes

    def repeats(c) -> float:
        first = np.r_[True, np.diff(c.starts) > 1]
        grp = np.cumsum(first) - 1
        sets = [set(c.columns[grp == g].tolist()) for g in range(grp.max() + 1)]
        return np.mean([len(a & b) > 0 for a, b in zip(sets, sets[1:])])

    jacks = assign_notes(onsets, frames, keys, bias=PatternBias.from_patterns({"jackspeed": "more"}, keys))
    nojacks = assign_notes(onsets, frames, keys, bias=PatternBias.from_patterns({"jackspeed": "less"}, keys))
    assert repeats(jacks) > repeats(base) > repeats(nojacks)


def test_rhythm_training_learns_clicks_and_round_trips(tmp_path: Path) -> None:
    """A tiny rhythm model on synthetic click-track items: the loss falls, and the saved model gives the same
    activations back."""
    from beatforge.models.onset_net import OnsetNetConfig
    from beatforge.training.rhythm import RhythmItem, load_rhythm_model, save_rhythm_model, train_rhythm

    rng = np.random.default_rng(0)
    items = []
    for s in range(3):
        n_hops = 6000
        mel = rng.normal(0.0, 0.05, (128, n_hops)).astype(np.float32)
        onsets = np.sort(rng.choice(np.arange(100, n_hops - 100, 40), 80, replace=False)) * STEP_MS / 2
        for t in onsets:
            i = int(t / (STEP_MS / 2))
            mel[40:90, i:i + 6] += np.linspace(3, 0.5, 6)
        items.append(RhythmItem(f"song{s}", "x", 4, 2.0, mel.astype(np.float16), onsets, float(onsets[0]),
                                float(onsets[-1])))
    cfg = OnsetNetConfig(channels=16, dilations=(1, 2, 4))
    net, losses = train_rhythm(items, steps=60, batch_size=4, window_steps=512, lr=5e-3, cfg=cfg, progress=False)
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
    save_rhythm_model(net, tmp_path / "rh", meta={"test": True})
    back = load_rhythm_model(tmp_path / "rh")
    mel = torch.from_numpy(items[0].mel[:, :2048].astype(np.float32))[None]
    with torch.no_grad():
        a, b = net(mel, torch.tensor([3.0])), back(mel, torch.tensor([3.0]))
    assert torch.allclose(a, b, atol=2e-2)  # fp16 weights


def test_shipped_rhythm_model_loads() -> None:
    from beatforge.generation.rhythm import DEFAULT_RHYTHM_MODEL, load_default_rhythm

    if not (DEFAULT_RHYTHM_MODEL / "model.safetensors").is_file():
        pytest.fail("models/rhythm is missing: the default rhythm model must be committed")
    net = load_default_rhythm()
    assert sum(p.numel() for p in net.parameters()) < 1_000_000
