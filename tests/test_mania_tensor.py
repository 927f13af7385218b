"""Mania chart tensor: round trips (synthetic and real charts), windowing, padding, column augmentations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from beatforge.charts.chart import ManiaChart
from beatforge.charts.mania_tensor import (
    decode,
    encode,
    encode_with_stats,
    mirror,
    n_frames_for,
    pad_keys,
    permute_columns,
    unpad_keys,
    valid_mask,
    valid_mask_from_tensor,
)
from beatforge.constants import FRAME_MS, MAX_KEYS

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_CHARTS = sorted((DATA / "mania").glob("*.osu")) + sorted((DATA / "rosu-pp" / "mania").glob("*.osu"))
TOL_MS = 1.0


def random_chart(keys: int, seed: int, *, n_frames: int = 400, density: float = 0.3, frame_ms: float = FRAME_MS,
                 offset_ms: float = 0.0) -> ManiaChart:
    """A chart the layout represents exactly: at most one note per column and frame, long notes ending
    in a later frame, no later than the column's next start (possibly in that start's frame)."""
    rng = np.random.default_rng(seed)
    starts, ends, cols = [], [], []
    for c in range(keys):
        frames = np.flatnonzero(rng.random(n_frames) < density)
        offs = rng.random(len(frames))
        t = (frames + offs) * frame_ms + offset_ms
        e = np.full(len(frames), np.nan)
        for i in range(len(frames) - 1):  # test-data builder only; the module itself has no per-note loop
            if frames[i + 1] > frames[i] + 1 and rng.random() < 0.4:
                ef = rng.integers(frames[i] + 1, frames[i + 1] + 1)
                eo = rng.random() * (offs[i + 1] if ef == frames[i + 1] else 1.0)
                e[i] = (ef + eo) * frame_ms + offset_ms
        starts.append(t), ends.append(e), cols.append(np.full(len(frames), c))
    return ManiaChart(keys, np.concatenate(starts), np.concatenate(ends), np.concatenate(cols))


def assert_same_notes(a: ManiaChart, b: ManiaChart, tol: float = TOL_MS) -> tuple[float, float]:
    """Same notes, columns and long/tap kind; worst start and end errors (ms)."""
    assert a.keys == b.keys
    assert a.n_notes == b.n_notes
    oa, ob = np.lexsort((a.starts, a.columns)), np.lexsort((b.starts, b.columns))
    np.testing.assert_array_equal(a.columns[oa], b.columns[ob])
    ds = np.abs(a.starts[oa] - b.starts[ob])
    np.testing.assert_array_equal(a.is_long[oa], b.is_long[ob])
    de = np.abs(a.ends[oa] - b.ends[ob])[a.is_long[oa]]
    worst_s, worst_e = float(ds.max(initial=0.0)), float(de.max(initial=0.0))
    assert worst_s < tol and worst_e < tol, (worst_s, worst_e)
    return worst_s, worst_e


@pytest.mark.parametrize("keys", [1, 4, 7, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_round_trip(keys: int, seed: int) -> None:
    chart = random_chart(keys, seed)
    assert chart.n_long > 0
    tensor, stats = encode_with_stats(chart)
    assert tensor.shape == (4 * keys, n_frames_for(chart)) and tensor.dtype == np.float32
    assert (stats.encoded, stats.collided, stats.overlapping, stats.ln_collapsed, stats.ln_cut) == (
        chart.n_notes, 0, 0, 0, 0)
    assert_same_notes(decode(tensor), chart)


def test_round_trip_offset_and_frame_length() -> None:
    chart = random_chart(4, 7, frame_ms=23.22, offset_ms=-1234.5)
    t = encode(chart, frame_ms=23.22, offset_ms=-1234.5)
    assert_same_notes(decode(t, frame_ms=23.22, offset_ms=-1234.5), chart)


def test_layout_by_hand() -> None:
    f = FRAME_MS
    chart = ManiaChart(2, [0.5 * f, 1.25 * f, 5.5 * f], [np.nan, 3.75 * f, 7.0 * f], [0, 1, 1])
    t = encode(chart, n_frames=10)
    assert t.shape == (8, 10)
    np.testing.assert_array_equal(np.flatnonzero(t[0]), [0])
    np.testing.assert_array_equal(np.flatnonzero(t[1]), [1, 5])
    assert t[2, 0] == pytest.approx(0.5) and t[3, 1] == pytest.approx(0.25) and t[3, 5] == pytest.approx(0.5)
    np.testing.assert_array_equal(np.flatnonzero(t[5]), [2, 3, 6, 7])  # holding, start frame excluded
    assert t[7, 3] == pytest.approx(0.75) and t[7, 7] == pytest.approx(0.0)
    assert not t[4].any() and not t[6].any()
    np.testing.assert_array_equal(valid_mask(chart, n_frames=10), [1] * 8 + [0] * 2)
    np.testing.assert_array_equal(valid_mask_from_tensor(t), [1] * 8 + [0] * 2)


def test_ln_end_in_frame_of_next_start() -> None:
    """A long note ending in the frame where the next note of its column starts keeps its exact end."""
    f = FRAME_MS
    chart = ManiaChart(1, [0.2 * f, 3.6 * f, 6.5 * f], [3.4 * f, 6.1 * f, np.nan], [0, 0, 0])
    t = encode(chart)
    np.testing.assert_array_equal(np.flatnonzero(t[2]), [1, 2, 3, 4, 5, 6])  # one unbroken holding run
    assert_same_notes(decode(encode(chart)), chart)


def test_collision_overlap_and_collapse_are_counted() -> None:
    f = FRAME_MS
    chart = ManiaChart(
        2,
        [0.1 * f, 0.6 * f, 2.1 * f, 3.0 * f, 10.2 * f],
        [np.nan, np.nan, 8.0 * f, np.nan, 10.7 * f],
        [0, 0, 1, 1, 0],
    )
    t, stats = encode_with_stats(chart)
    assert (stats.collided, stats.overlapping, stats.ln_collapsed, stats.lost) == (1, 1, 0, 2)
    back = decode(t)
    # Kept: the first of the two column-0 taps, the column-1 long note, and the sub-frame LN.
    np.testing.assert_allclose(back.starts, [0.1 * f, 2.1 * f, 10.2 * f], atol=1e-3)
    np.testing.assert_array_equal(back.is_long, [False, True, True])


def test_window_cut_of_crossing_long_note() -> None:
    f = FRAME_MS
    chart = ManiaChart(4, [1.5 * f, 4.5 * f, 12.0 * f, -3.0], [8.5 * f, np.nan, np.nan, np.nan], [2, 0, 1, 3])
    t, stats = encode_with_stats(chart, n_frames=6)
    assert t.shape == (16, 6)
    assert (stats.outside, stats.ln_cut, stats.encoded) == (2, 1, 2)
    np.testing.assert_array_equal(t[2 * 4 + 2], [0, 0, 1, 1, 1, 1])
    assert t[3 * 4 + 2, 5] == 1.0
    back = decode(t)
    assert back.n_notes == 2
    assert back.ends[back.columns == 2][0] == pytest.approx(6 * f)  # cut at the window end
    np.testing.assert_array_equal(valid_mask(chart, n_frames=6), np.ones(6))
    # Shifting the window by offset_ms brings the tail back in.
    t2 = encode(chart, n_frames=20, offset_ms=-4.0)
    assert_same_notes(decode(t2, offset_ms=-4.0), chart)


@pytest.mark.parametrize("keys", [1, 4, 7, 10])
def test_mirror(keys: int) -> None:
    chart = random_chart(keys, 11)
    t = encode(chart)
    np.testing.assert_array_equal(mirror(mirror(t, keys), keys), t)
    flipped = ManiaChart(keys, chart.starts, chart.ends, keys - 1 - chart.columns)
    np.testing.assert_array_equal(mirror(t, keys), encode(flipped))
    # Padded tensors: only the first `keys` columns move; batches work too.
    padded = pad_keys(t, keys)
    np.testing.assert_array_equal(unpad_keys(mirror(padded, keys), keys), mirror(t, keys))
    batch = np.stack([t, t])
    np.testing.assert_array_equal(mirror(batch, keys)[1], mirror(t, keys))


def test_permute_columns() -> None:
    keys = 7
    chart = random_chart(keys, 12)
    perm = np.random.default_rng(3).permutation(keys)
    moved = ManiaChart(keys, chart.starts, chart.ends, perm[chart.columns])
    t = encode(chart)
    np.testing.assert_array_equal(permute_columns(t, keys, perm), encode(moved))
    np.testing.assert_array_equal(permute_columns(permute_columns(t, keys, perm), keys, np.argsort(perm)), t)
    with pytest.raises(ValueError):
        permute_columns(t, keys, [0, 0, 1, 2, 3, 4, 5])


@pytest.mark.parametrize("keys", [1, 4, 7, 10])
def test_pad_unpad(keys: int) -> None:
    chart = random_chart(keys, 21, n_frames=100)
    t = encode(chart)
    padded = pad_keys(t, keys)
    assert padded.shape == (4 * MAX_KEYS, t.shape[1])
    for b in range(4):
        np.testing.assert_array_equal(padded[b * MAX_KEYS : b * MAX_KEYS + keys], t[b * keys : (b + 1) * keys])
        assert not padded[b * MAX_KEYS + keys : (b + 1) * MAX_KEYS].any()
    np.testing.assert_array_equal(unpad_keys(padded, keys), t)
    assert_same_notes(decode(padded, keys=keys), chart)


def test_torch_and_logits() -> None:
    torch = pytest.importorskip("torch")
    chart = random_chart(4, 5)
    t = encode(chart)
    tt = torch.from_numpy(t)
    assert_same_notes(decode(tt), chart)
    # Logits: is_start / is_holding as +-4, offsets unchanged (read in [0,1] space).
    logits = t.copy()
    for b in (0, 2):
        logits[b * 4 : (b + 1) * 4] = np.where(t[b * 4 : (b + 1) * 4] > 0.5, 4.0, -4.0)
    assert_same_notes(decode(torch.from_numpy(logits), from_logits=True), chart)
    p = pad_keys(tt, 4)
    assert isinstance(p, torch.Tensor) and p.shape == (40, t.shape[1])
    assert torch.equal(unpad_keys(mirror(p, 4), 4), torch.from_numpy(mirror(t, 4)))


def test_empty_chart() -> None:
    chart = ManiaChart(4, [], [], [])
    t = encode(chart)
    assert t.shape == (16, 0)
    assert decode(encode(chart, n_frames=8)).n_notes == 0
    assert not valid_mask(chart, n_frames=8).any()


# ------------------------------------------------------------------------------------------ real charts
def _read_mania(path: Path) -> ManiaChart:
    from beatforge.formats.osu import read_osu_mania

    return read_osu_mania(path)


@pytest.mark.skipif(not REAL_CHARTS, reason=f"no osu!mania files under {DATA}/mania or {DATA}/rosu-pp/mania")
@pytest.mark.parametrize("path", REAL_CHARTS, ids=lambda p: p.name)
def test_real_chart_round_trip(path: Path) -> None:
    chart = _read_mania(path)
    tensor, stats = encode_with_stats(chart)
    assert stats.outside == 0 and stats.ln_cut == 0
    assert stats.collided == 0 and stats.overlapping == 0, f"{path.name}: notes lost to one-note-per-frame: {stats}"
    back = decode(tensor)
    # Every note and every long-note end comes back, the ten ~40 ms long notes that start and end inside one
    # frame (purple 1, revenge 1, ricochet 8) included: their end offset sits in their start frame.
    assert stats.ln_collapsed == 0
    assert_same_notes(back, chart)


def test_sub_frame_long_notes_are_kept() -> None:
    f = FRAME_MS
    # column 0: a 40 % of a frame LN; column 1: an LN ending in frame 3, then a mini LN starting there (its slot
    # is taken, so it is counted and comes back as a tap)
    chart = ManiaChart(2, [0.1 * f, 1.2 * f, 3.5 * f], [0.5 * f, 3.3 * f, 3.9 * f], [0, 1, 1])
    t, stats = encode_with_stats(chart)
    assert stats.ln_collapsed == 1
    back = decode(t)
    np.testing.assert_allclose(back.ends[:2], [0.5 * f, 3.3 * f], atol=1e-3)
    assert np.isnan(back.ends[2])
