"""Playability post-processing: each rule on hand-made charts, and make_playable on random messy charts."""

from __future__ import annotations

import numpy as np
import pytest

from beatforge.charts.chart import ManiaChart
from beatforge.generation.rules.playability import (
    check_playable,
    clip_to_audio,
    dedupe,
    enforce_min_ln,
    fix_minijacks,
    make_playable,
    remove_inside_long_notes,
    target_columns,
)


def mk(keys: int, notes: list[tuple[float, float | None, int]]) -> ManiaChart:
    """A chart from (start, end or None, column) triples."""
    starts = [n[0] for n in notes]
    ends = [np.nan if n[1] is None else n[1] for n in notes]
    cols = [n[2] for n in notes]
    return ManiaChart(keys, starts, ends, cols)


def triples(chart: ManiaChart) -> list[tuple[float, float | None, int]]:
    return [
        (float(s), None if np.isnan(e) else float(e), int(c))
        for s, e, c in zip(chart.starts, chart.ends, chart.columns)
    ]


def same(a: ManiaChart, b: ManiaChart) -> bool:
    return (
        a.keys == b.keys
        and np.array_equal(a.starts, b.starts)
        and np.array_equal(a.ends, b.ends, equal_nan=True)
        and np.array_equal(a.columns, b.columns)
    )


# ------------------------------------------------------------------------------------------- dedupe
@pytest.mark.parametrize("keys", [1, 4, 7])
def test_dedupe_keeps_long_note_else_first(keys):
    last = keys - 1
    chart = mk(keys, [(0, None, 0), (0.5, None, 0), (100, None, last), (100, 400, last), (300, None, 0)])
    out = dedupe(chart)
    if keys == 1:  # column 0 == last: 0/0.5 merge, 100 (tap) / 100 (LN) merge
        assert triples(out) == [(0.0, None, 0), (100.0, 400.0, 0), (300.0, None, 0)]
    else:
        assert triples(out) == [(0.0, None, 0), (100.0, 400.0, last), (300.0, None, 0)]


def test_dedupe_respects_tolerance_and_columns():
    chart = mk(4, [(0, None, 0), (0, None, 1), (1.5, None, 0), (10, None, 2), (10.8, None, 2)])
    out = dedupe(chart, tol_ms=1.0)
    assert triples(out) == [(0.0, None, 0), (0.0, None, 1), (1.5, None, 0), (10.0, None, 2)]


def test_dedupe_longest_long_note_wins():
    out = dedupe(mk(4, [(0, 200, 3), (0, 500, 3), (0.3, None, 3)]))
    assert triples(out) == [(0.0, 500.0, 3)]


# ------------------------------------------------------------------------------ notes inside long notes
@pytest.mark.parametrize("keys", [1, 4, 7])
def test_remove_inside_long_notes(keys):
    other = keys - 1
    notes = [(0, 500, 0), (100, None, 0), (500, None, 0), (501, None, 0)]
    if keys > 1:
        notes.append((200, None, other))  # another column: untouched
    out = remove_inside_long_notes(mk(keys, notes))
    expected = [(0.0, 500.0, 0), (501.0, None, 0)]
    if keys > 1:
        expected.insert(1, (200.0, None, other))
    assert triples(out) == expected


def test_dropped_long_note_holds_nothing():
    # B starts inside A and is dropped, so the tap after A's end (but inside B) stays.
    out = remove_inside_long_notes(mk(4, [(0, 500, 1), (200, 800, 1), (600, None, 1), (900, None, 1)]))
    assert triples(out) == [(0.0, 500.0, 1), (600.0, None, 1), (900.0, None, 1)]


def test_remove_inside_guard():
    chart = mk(4, [(0, 500, 2), (520, None, 2)])
    assert remove_inside_long_notes(chart).n_notes == 2
    assert triples(remove_inside_long_notes(chart, guard_ms=30)) == [(0.0, 500.0, 2)]


# ------------------------------------------------------------------------------------------ minijacks
def test_target_columns_prefer_neighbours_and_other_hand():
    assert target_columns(4) == [[1, 2, 3], [2, 0, 3], [1, 3, 0], [2, 1, 0]]
    seven = target_columns(7)
    assert seven[2][0] == 3 and seven[4][0] == 3  # next to the middle column: move to it first
    assert seven[0][:2] == [1, 2]
    assert target_columns(1) == [[]]
    assert target_columns(10, rng_seed=3) == target_columns(10, rng_seed=3)


def test_minijack_moves_later_note_to_neighbour_4k():
    out = fix_minijacks(mk(4, [(0, None, 0), (50, None, 0), (300, None, 0)]))
    assert triples(out) == [(0.0, None, 0), (50.0, None, 1), (300.0, None, 0)]
    out = fix_minijacks(mk(4, [(0, None, 1), (50, None, 1)]))
    assert triples(out) == [(0.0, None, 1), (50.0, None, 2)]  # other hand first on a tie


def test_minijack_7k_avoids_new_jacks_and_held_notes():
    # Column 1 (first choice for a jack in column 0) has a note 40 ms later, column 2 is held by a long note.
    chart = mk(7, [(0, None, 0), (60, None, 0), (100, None, 1), (-200, 1000, 2)])
    out = fix_minijacks(chart)
    assert (60.0, None, 3) in triples(out)
    assert check_playable(out, audio_ms=2000, start_ms=-1000) == []


def test_minijack_never_moves_long_notes():
    # The later note is a long note: the earlier tap moves instead.
    out = fix_minijacks(mk(4, [(0, None, 0), (50, 400, 0)]))
    assert triples(out) == [(0.0, None, 1), (50.0, 400.0, 0)]
    # Both long notes in a full 2K chart: nothing can move, one is dropped.
    out = fix_minijacks(mk(2, [(0, 40, 0), (0, 300, 1), (50, 300, 0)]))
    assert out.is_long.all() and check_playable(out, audio_ms=1000) == []


def test_minijack_1k_drops():
    out = fix_minijacks(mk(1, [(0, None, 0), (50, None, 0), (100, None, 0), (200, None, 0)]))
    assert triples(out) == [(0.0, None, 0), (100.0, None, 0), (200.0, None, 0)]


def test_minijack_drops_chord_note_to_keep_single_rhythm():
    # 2K: a chord at 0, a single note 50 ms later in column 0; nowhere to move -> the chord loses a note.
    out = fix_minijacks(mk(2, [(0, None, 0), (0, None, 1), (50, None, 0), (150, None, 1)]))
    assert triples(out) == [(0.0, None, 1), (50.0, None, 0), (150.0, None, 1)]


def test_minijack_chain_resolved():
    # Four presses 30 ms apart in one 4K column.
    out = fix_minijacks(mk(4, [(t, None, 0) for t in (0, 30, 60, 90)]))
    assert check_playable(out, audio_ms=1000) == []
    assert out.n_notes >= 3


def test_fix_minijacks_deterministic():
    chart = messy_chart(7, seed=5)
    chart = remove_inside_long_notes(dedupe(chart))
    assert same(fix_minijacks(chart), fix_minijacks(chart))
    assert same(fix_minijacks(chart, rng_seed=9), fix_minijacks(chart, rng_seed=9))


# -------------------------------------------------------------------------------------- clip / min LN
def test_clip_to_audio():
    chart = mk(4, [(-10, None, 0), (0, None, 1), (500, 1500, 2), (1000, None, 3), (1001, None, 0), (1000, 1200, 1)])
    out = clip_to_audio(chart, end_ms=1000)
    assert triples(out) == [(0.0, None, 1), (500.0, 1000.0, 2), (1000.0, None, 1), (1000.0, None, 3)]


def test_enforce_min_ln():
    out = enforce_min_ln(mk(7, [(0, 50, 0), (0, 200, 6), (100, 160, 3)]), min_len_ms=60)
    assert triples(out) == [(0.0, None, 0), (0.0, 200.0, 6), (100.0, 160.0, 3)]


# ------------------------------------------------------------------------------------------- checker
def test_check_playable_reports_each_rule():
    chart = mk(
        4,
        [(-5, None, 0), (100, None, 1), (100.5, None, 1), (300, 600, 2), (400, None, 2), (700, None, 3),
         (750, None, 3), (900, 1200, 0), (1100, None, 1), (1000, 1020, 3)],
    )  # fmt: skip
    problems = check_playable(chart, audio_ms=1100, min_ln_ms=50)
    text = "\n".join(problems)
    for rule in ("before start", "after end", "duplicate", "minijack", "inside long note", "short long note"):
        assert rule in text, rule
    assert check_playable(mk(4, [(0, None, 0), (100, None, 0)]), audio_ms=200) == []


# ------------------------------------------------------------------------------------- make_playable
def messy_chart(keys: int, seed: int, n: int = 1500, song_ms: float = 60_000.0) -> ManiaChart:
    """Random notes with many duplicates, overlapping long notes, minijacks and notes past the end."""
    rng = np.random.default_rng(seed)
    grid = np.round(rng.uniform(-500, song_ms + 2000, n) / 15.0) * 15.0  # a coarse grid -> many collisions
    starts = grid + rng.choice([0.0, 0.0, 0.4, 7.0, 30.0], n)
    cols = rng.integers(0, keys, n)
    lengths = np.where(rng.random(n) < 0.3, rng.uniform(5, 900, n), np.nan)
    # Bursts: a few extra notes a few ms after random notes, in the same column (minijacks) or as chords.
    k = n // 5
    src = rng.integers(0, n, k)
    starts = np.concatenate([starts, starts[src] + rng.uniform(0, 80, k)])
    cols = np.concatenate([cols, np.where(rng.random(k) < 0.6, cols[src], rng.integers(0, keys, k))])
    lengths = np.concatenate([lengths, np.full(k, np.nan)])
    return ManiaChart(keys, starts, starts + lengths, cols)


@pytest.mark.parametrize("keys", [1, 4, 7, 10])
@pytest.mark.parametrize("min_ln_ms", [None, 60.0])
def test_make_playable_on_messy_chart(keys, min_ln_ms):
    audio_ms = 60_000.0
    chart = messy_chart(keys, seed=keys)
    assert check_playable(chart, audio_ms=audio_ms, min_ln_ms=min_ln_ms)  # really messy
    out = make_playable(chart, audio_ms=audio_ms, min_ln_ms=min_ln_ms)
    assert check_playable(out, audio_ms=audio_ms, min_ln_ms=min_ln_ms) == []
    assert out.n_notes > 0.3 * chart.n_notes if keys > 1 else out.n_notes > 0
    # Idempotent: a playable chart comes back unchanged.
    again = make_playable(out, audio_ms=audio_ms, min_ln_ms=min_ln_ms)
    assert same(out, again)
    # Every kept note comes from the input at the same time (moves change only the column of taps).
    assert np.isin(out.starts, chart.starts).all()
    assert (np.isnan(out.ends) | (out.ends <= audio_ms)).all()


def test_make_playable_keeps_playable_chart_and_meta():
    chart = mk(7, [(0, None, 0), (0, 300, 3), (100, None, 0), (400, None, 3), (400, None, 6)])
    chart.meta.title = "x"
    out = make_playable(chart, audio_ms=1000)
    assert same(chart, out) and out.meta.title == "x" and out is not chart
    assert check_playable(out, audio_ms=1000) == []


def test_make_playable_empty_chart():
    out = make_playable(ManiaChart(4, [], [], []), audio_ms=1000)
    assert out.n_notes == 0 and check_playable(out, audio_ms=1000) == []
