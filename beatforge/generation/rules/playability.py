"""Make a generated osu!mania chart playable, for any key count (1-10).

A decoded chart can hold what no player can hit: two notes in one column at once, notes that start while a
long note of their column is held, "minijacks" (two presses of one column a few ms apart), notes past the end
of the song. Each rule here is a function from chart to a new chart (the input is never changed), and
:func:`make_playable` runs them in order; :func:`check_playable` reports what is still wrong.

Everything is vectorised per column over the (start, column)-sorted arrays, except the minijack repair: moving
a note changes the column it lands in, so each repair depends on the ones before it. That one walks only the
notes that start a minijack (usually few) in time order, over per-column sorted lists.

The minijack repair follows Mug Diffusion's ``remove_intractable_mania_mini_jacks`` (4K only there, see
shared/reference/peers.md 1.8) for every key count, without its "end of a stream" exemption, so that the
result always passes :func:`check_playable`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import replace

import numpy as np

from beatforge.charts.chart import ManiaChart

CHORD_MS = 10.0  # notes closer than this in time count as one chord (Mug Diffusion's value)


def _subset(chart: ManiaChart, keep: np.ndarray | None = None, *, ends=None, columns=None) -> ManiaChart:
    """A new chart from a boolean mask over the notes, optionally with new ends / columns (before masking)."""
    ends = chart.ends if ends is None else ends
    columns = chart.columns if columns is None else columns
    if keep is None:
        keep = np.ones(chart.n_notes, dtype=bool)
    return ManiaChart(
        chart.keys,
        chart.starts[keep].copy(),
        np.asarray(ends)[keep].copy(),
        np.asarray(columns)[keep].copy(),
        list(chart.timing),
        replace(chart.meta),
    )


def _column_order(starts: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Note indices sorted by (column, start)."""
    return np.lexsort((starts, columns))


def _same_column_gaps(chart: ManiaChart) -> tuple[np.ndarray, np.ndarray]:
    """For each note (as index), the start gap to its same-column predecessor (inf for a column's first)."""
    order = _column_order(chart.starts, chart.columns)
    s, c = chart.starts[order], chart.columns[order]
    gap = np.full(len(s), np.inf)
    if len(s) > 1:
        same = c[1:] == c[:-1]
        gap[1:] = np.where(same, s[1:] - s[:-1], np.inf)
    out = np.empty_like(gap)
    out[order] = gap
    return out, order


def _covered_by_held(chart: ManiaChart, keep: np.ndarray, guard_ms: float) -> np.ndarray:
    """Notes that start while a kept long note of their column is held (start < t <= end + guard)."""
    covered = np.zeros(chart.n_notes, dtype=bool)
    held_end = np.where(keep & chart.is_long, chart.ends, -np.inf)
    for col in range(chart.keys):  # <= 10 columns; each column is a vectorised running maximum
        idx = np.flatnonzero(chart.columns == col)  # already in start order (chart is sorted by start)
        if len(idx) < 2:
            continue
        prev_max = np.concatenate(([-np.inf], np.maximum.accumulate(held_end[idx])[:-1]))
        covered[idx] = chart.starts[idx] <= prev_max + guard_ms
    return covered


# --------------------------------------------------------------------------------------------- rules
def dedupe(chart: ManiaChart, *, tol_ms: float = 1.0) -> ManiaChart:
    """No two notes in one column within ``tol_ms``: of each such group keep the longest long note, else the
    first note. A group is a chain of same-column notes each at most ``tol_ms`` after the one before."""
    if chart.n_notes < 2:
        return _subset(chart)
    order = _column_order(chart.starts, chart.columns)
    s, c = chart.starts[order], chart.columns[order]
    new_group = np.ones(len(s), dtype=bool)
    new_group[1:] = (c[1:] != c[:-1]) | (s[1:] - s[:-1] > tol_ms)
    group = np.cumsum(new_group)
    length = np.nan_to_num(chart.ends[order] - s, nan=0.0)
    # Within a group: longest first (taps have length 0), then earliest (position in the group).
    pick = np.lexsort((np.arange(len(s)), -length, group))
    _, first = np.unique(group[pick], return_index=True)
    keep = np.zeros(chart.n_notes, dtype=bool)
    keep[order[pick[first]]] = True
    return _subset(chart, keep)


def remove_inside_long_notes(chart: ManiaChart, *, guard_ms: float = 0.0) -> ManiaChart:
    """Drop every note that starts in a column while a long note of that column is held, from just after its
    start to its end + ``guard_ms`` inclusive. A dropped long note holds nothing: notes after the end of the
    long note that covered it but inside its own span stay.

    Which notes stay is the unique fixed point of "kept = not covered by a kept long note"; it is reached by
    repeating the vectorised cover test (each pass settles at least one more note in time order; in practice a
    pass or three, the depth of chains of overlapping long notes).
    """
    keep = np.ones(chart.n_notes, dtype=bool)
    for _ in range(chart.n_notes + 1):
        new_keep = ~_covered_by_held(chart, keep, guard_ms)
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return _subset(chart, keep)


def clip_to_audio(chart: ManiaChart, *, start_ms: float = 0.0, end_ms: float) -> ManiaChart:
    """Drop notes starting before ``start_ms`` or after ``end_ms``; long notes ending past ``end_ms`` are cut
    there (one cut to zero length becomes a tap)."""
    keep = (chart.starts >= start_ms) & (chart.starts <= end_ms)
    ends = np.where(chart.ends > end_ms, end_ms, chart.ends)  # NaN > x is False: taps stay taps
    return _subset(chart, keep, ends=ends)


def enforce_min_ln(chart: ManiaChart, *, min_len_ms: float) -> ManiaChart:
    """Long notes shorter than ``min_len_ms`` (e.g. one beat/4 snap) become taps."""
    ends = np.where(chart.ends - chart.starts < min_len_ms, np.nan, chart.ends)
    return _subset(chart, ends=ends)


def _hands(keys: int) -> list[int]:
    """0 = left hand, 1 = right hand, -1 = the middle column of an odd key count (either thumb)."""
    half = keys // 2
    return [0 if c < half else (-1 if keys % 2 and c == half else 1) for c in range(keys)]


def target_columns(keys: int, rng_seed: int | None = None) -> list[list[int]]:
    """For each column, the other columns a minijack note may move to, best first: nearest first, then the
    other hand before the same hand; ties by column, or shuffled by ``rng_seed`` (deterministic for a seed)."""
    hands = _hands(keys)
    rng = np.random.default_rng(rng_seed) if rng_seed is not None else None
    orders = []
    for col in range(keys):
        others = [d for d in range(keys) if d != col]
        tie = rng.permutation(len(others)).tolist() if rng is not None else others
        same_hand = [int(hands[d] == hands[col] and hands[col] >= 0) for d in others]
        ranked = sorted(zip(others, same_hand, tie), key=lambda x: (abs(x[0] - col), x[1], x[2]))
        orders.append([d for d, _, _ in ranked])
    return orders


def fix_minijacks(
    chart: ManiaChart,
    *,
    min_jack_ms: float = 90.0,
    ln_guard_ms: float = 0.0,
    chord_ms: float = CHORD_MS,
    rng_seed: int | None = None,
) -> ManiaChart:
    """Repair every minijack (a note less than ``min_jack_ms`` after the previous note of its column).

    For each one, in time order (the earlier note ``p``, the later ``n``):
    1. move ``n`` to another column (order of :func:`target_columns`: neighbours first, other hand on ties)
       where it is at least ``min_jack_ms`` from both neighbours and starts after any held long note + guard;
    2. else move ``p`` the same way;
    3. else drop one of them: a tap before a long note, the one in the bigger chord (so a single note's rhythm
       survives), the later on a tie.
    Long notes are never moved. On 1K only step 3 applies. Expects input without duplicates or notes inside
    long notes (run :func:`dedupe` and :func:`remove_inside_long_notes` first, as :func:`make_playable` does).
    Deterministic; ``rng_seed`` only reorders equally good target columns.

    This is the one Python loop over notes: each move changes the column it lands in, so repairs depend on the
    earlier ones. It visits only notes flagged as minijacks (vectorised); moves and drops only widen gaps
    elsewhere, so no other note can become a minijack.
    """
    if chart.n_notes < 2:
        return _subset(chart)
    gaps, _ = _same_column_gaps(chart)
    flagged = np.flatnonzero(gaps < min_jack_ms)  # in (start, column) order, as the chart is
    if len(flagged) == 0:
        return _subset(chart)

    starts = chart.starts
    ends = chart.ends
    is_long = chart.is_long
    cols = chart.columns.copy()
    alive = np.ones(chart.n_notes, dtype=bool)
    # Per column: sorted start list and the parallel note ids (sorted by start, then id).
    col_starts: list[list[float]] = []
    col_ids: list[list[int]] = []
    for col in range(chart.keys):
        idx = np.flatnonzero(cols == col)
        col_starts.append(starts[idx].tolist())
        col_ids.append(idx.tolist())
    orders = target_columns(chart.keys, rng_seed)

    def position(i: int) -> int:
        c = int(cols[i])
        k = bisect_left(col_starts[c], starts[i])
        while col_ids[c][k] != i:
            k += 1
        return k

    def remove(i: int) -> None:
        k = position(i)
        c = int(cols[i])
        del col_starts[c][k], col_ids[c][k]

    def fits(t: float, d: int) -> bool:
        cs = col_starts[d]
        k = bisect_left(cs, t)
        if k > 0:
            prev = col_ids[d][k - 1]
            if t - cs[k - 1] < min_jack_ms or (is_long[prev] and ends[prev] + ln_guard_ms >= t):
                return False
        return k == len(cs) or cs[k] - t >= min_jack_ms

    def try_move(i: int) -> bool:
        if is_long[i]:
            return False
        t = float(starts[i])
        for d in orders[int(cols[i])]:
            if fits(t, d):
                remove(i)
                k = bisect_right(col_starts[d], t)
                col_starts[d].insert(k, t)
                col_ids[d].insert(k, i)
                cols[i] = d
                return True
        return False

    def chord_size(i: int) -> int:
        t = float(starts[i])
        return sum(bisect_right(cs, t + chord_ms) - bisect_left(cs, t - chord_ms) for cs in col_starts)

    for i in flagged.tolist():
        while alive[i]:
            k = position(i)
            if k == 0:
                break
            c = int(cols[i])
            p = col_ids[c][k - 1]
            if starts[i] - col_starts[c][k - 1] >= min_jack_ms:
                break
            if try_move(i):
                break
            if try_move(p):
                continue  # i may now jack with the note before p
            # Drop the smallest key: a tap before a long note, then the bigger chord, then the later note.
            drop = min((i, p), key=lambda j: (bool(is_long[j]), -chord_size(j), -float(starts[j])))
            remove(drop)
            alive[drop] = False
    return _subset(chart, alive, columns=cols)


# --------------------------------------------------------------------------------------------- pipeline
def make_playable(
    chart: ManiaChart,
    *,
    audio_ms: float,
    min_jack_ms: float = 90.0,
    min_ln_ms: float | None = None,
    start_ms: float = 0.0,
    tol_ms: float = 1.0,
    ln_guard_ms: float = 0.0,
    rng_seed: int | None = None,
) -> ManiaChart:
    """Run every rule: clip to the audio, short long notes to taps, dedupe, drop notes inside long notes, then
    repair minijacks. The result passes :func:`check_playable` with the same arguments, and a chart that
    already does comes back unchanged."""
    out = clip_to_audio(chart, start_ms=start_ms, end_ms=audio_ms)
    if min_ln_ms is not None:
        out = enforce_min_ln(out, min_len_ms=min_ln_ms)
    out = dedupe(out, tol_ms=tol_ms)
    out = remove_inside_long_notes(out, guard_ms=ln_guard_ms)
    return fix_minijacks(out, min_jack_ms=min_jack_ms, ln_guard_ms=ln_guard_ms, rng_seed=rng_seed)


def check_playable(
    chart: ManiaChart,
    *,
    audio_ms: float,
    min_jack_ms: float = 90.0,
    min_ln_ms: float | None = None,
    start_ms: float = 0.0,
    tol_ms: float = 1.0,
    ln_guard_ms: float = 0.0,
    limit: int = 20,
) -> list[str]:
    """Human-readable violations of the rules above (empty when playable); at most ``limit`` lines per rule,
    then one line with the count of the rest. Columns are 0-based."""
    problems: list[str] = []

    def report(rule: str, mask: np.ndarray, describe) -> None:
        idx = np.flatnonzero(mask)
        for i in idx[:limit]:
            problems.append(f"{rule}: column {int(chart.columns[i])}, note at {chart.starts[i]:.1f} ms {describe(i)}")
        if len(idx) > limit:
            problems.append(f"{rule}: ... and {len(idx) - limit} more")

    s, e = chart.starts, chart.ends
    report("before start", s < start_ms, lambda i: f"starts before {start_ms:.1f} ms")
    report("after end", s > audio_ms, lambda i: f"starts after the audio ends ({audio_ms:.1f} ms)")
    report("after end", e > audio_ms, lambda i: f"is held until {e[i]:.1f} ms, past the audio ({audio_ms:.1f} ms)")
    if min_ln_ms is not None:
        report("short long note", e - s < min_ln_ms, lambda i: f"is held only {e[i] - s[i]:.1f} ms (< {min_ln_ms})")
    gaps, _ = _same_column_gaps(chart)
    dup = gaps <= tol_ms
    report("duplicate", dup, lambda i: f"is {gaps[i]:.2f} ms after another note of its column")
    report(
        "minijack",
        (gaps < min_jack_ms) & ~dup,
        lambda i: f"is {gaps[i]:.1f} ms after the previous note of its column (< {min_jack_ms})",
    )
    covered = _covered_by_held(chart, np.ones(chart.n_notes, dtype=bool), ln_guard_ms) & ~dup
    report("inside long note", covered, lambda i: "starts while a long note of its column is held")
    return problems
