"""Hand-written rules that make a chart meet the osu!mania Ranking Criteria of its level: what ``beatforge check``
(:mod:`beatforge.analysis.ranking_criteria`) reports, enforced while the chart is made.

Each rule is a function from chart to new chart (the input is never changed), named for what a player would notice;
:func:`make_ranked` runs them in order and :func:`check_ranked` is its twin, reporting what is still wrong with the
checks themselves. Every number is the checker's, imported from it (one home for each): the level's finest gap,
run length, chord size, jack and long-note limits, scaled to the chart's tempo by the same
:meth:`~beatforge.analysis.ranking_issues.ChartContext.span_ms` (Ranking_criteria/Scaling_BPM), and which rule
applies at which level is asked of each check's own :class:`~beatforge.analysis.ranking_issues.Criterion`. Where
the check allows SNAP_TOLERANCE_MS of leniency, the rules keep MARGIN_MS more: osu! stores whole milliseconds, so a
gap written may be up to 1 ms off the one made here.

Rhythm first: the note times are what the rhythm F1 scores and what a player hears, so a rule that must take notes
away takes a chord's extra notes before a whole note time, and of note times the weakest metrical position first
(a 1/4 note before a 1/2 note before a whole beat, :data:`~beatforge.generation.rules.timing.DIVISOR_ORDER`); a
long note in the way is shortened to end where the conflict starts, else made a tap; a note moved to another
column keeps its time.

The order is chosen so that no rule undoes an earlier one: snapping and the playability rules first; then note
times are taken away (fast gaps, then runs), which only widens gaps; then chords are cut down, which changes no
note time; then jacks are moved to other columns (or dropped), which changes no chord; then long notes are
shortened, which only lowers what is held; an empty column is filled last, by moving notes into it, which breaks
nothing (the column held no note to clash with).

The level of a generated chart (:func:`judged_level`) is the band of its requested star rating; ``beatforge check``
takes a generated chart's level from its star rating (the name says none), so the star-rating fit keeps the chart
at or above that band's floor (:func:`rating_floor`) where a chart within the star-rating tolerance reaches it, and
a chart that still ends below it also gets the rules of the level it reached (:func:`settle_level`). A chart rated
above its band is judged at a looser level, whose rules the stricter ones already meet.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, insort

import numpy as np

from beatforge.analysis.ranking_criteria import (
    EDITOR_GRIDS,
    FINEST_GAP_BEATS,
    JACK_BEATS,
    MAX_FINEST_RUN_NOTES,
    MAX_PRESSED,
    MAX_RUN_NOTES,
    MIN_HOLD_BEATS,
    MIN_LONG_NOTE_BEATS,
    MIN_RELEASE_GAP_BEATS,
    RUN_SNAP_BEATS,
    check_chart,
    check_chord_size,
    check_chords_in_runs,
    check_fast_snaps,
    check_jacks,
    check_long_note_length,
    check_objects_during_long_notes,
    check_pressed_at_once,
    check_release_gaps,
    check_run_length,
    chord_limit,
    runs,
)
from beatforge.analysis.ranking_issues import (
    ROW_MS,
    SNAP_TOLERANCE_MS,
    ChartContext,
    checked_level,
    level_from_stars,
)
from beatforge.analysis.star_rating import star_rating
from beatforge.charts.chart import ManiaChart
from beatforge.constants import DIFFICULTY_LEVELS, LEVEL_STAR_FLOORS
from beatforge.generation.rules.playability import fix_minijacks, make_playable
from beatforge.generation.rules.star_rating_fit import Fit
from beatforge.generation.rules.timing import DIVISOR_ORDER

# osu! stores whole milliseconds: each time written moves by up to 0.5 ms, a gap by up to 1 ms
MARGIN_MS = 1.0
# The ticks notes are snapped to: the editor's grids that hold every 1/1-1/16 snap (1/16 and 1/12; the check also
# takes lazer's 1/5, 1/7 and 1/9, which generated charts do not use)
TICK_GRIDS: tuple[int, ...] = tuple(d for d in EDITOR_GRIDS if 48 % d == 0)
# Star ratings kept clear of a level's floor. The fit rates a chart as the .osu file it becomes (star_rating writes
# it), so its rating is the one `beatforge check` reads from the file; the margin only keeps it off the boundary
RATING_MARGIN = 0.01
# Notes an empty column gets, as a share of an average column's (at least one)
FILL_SHARE = 0.25


# ==================================================================================== the level
def requested_level(star_rating: float) -> str:
    """The level whose rules a chart requested at this star rating gets: the band the rating falls in (Easy < 2.0,
    Normal < 2.7, Hard < 4.0, Insane < 5.3, else Expert; :data:`~beatforge.constants.LEVEL_STAR_FLOORS`)."""
    return level_from_stars(star_rating)


def judged_level(star_rating: float) -> str:
    """The level ``beatforge check`` gives a chart of this star rating (with RATING_MARGIN to spare below each
    band's floor): the level whose rules a generated chart of it meets."""
    return level_from_stars(max(float(star_rating) - RATING_MARGIN, 0.0))


def rating_floor(level: str | None) -> float | None:
    """The lowest star rating a chart with ``level``'s rules may end at and still be judged at ``level`` (None for
    Easy, or no level)."""
    if level is None or LEVEL_STAR_FLOORS[level] <= 0.0:
        return None
    return LEVEL_STAR_FLOORS[level] + RATING_MARGIN


def _applies(check, level: str) -> bool:
    return check.criterion.applies(level)


# ==================================================================================== helpers
def _edit(chart: ManiaChart, keep: np.ndarray | None = None, *, ends: np.ndarray | None = None,
          columns: np.ndarray | None = None) -> ManiaChart:
    """A new chart from a mask over the notes, with new ends / columns (before masking); re-sorted by the chart."""
    ends = chart.ends if ends is None else ends
    columns = chart.columns if columns is None else columns
    keep = np.ones(chart.n_notes, dtype=bool) if keep is None else keep
    return ManiaChart(chart.keys, chart.starts[keep].copy(), np.asarray(ends)[keep].copy(),
                      np.asarray(columns)[keep].copy(), list(chart.timing), dataclasses.replace(chart.meta))


def _fast_limit(ctx: ChartContext, times: np.ndarray, beats: float) -> np.ndarray:
    """The gap (ms) at or under which the check counts two notes ``beats`` apart or closer, with MARGIN_MS more."""
    return ctx.span_ms(times, beats) + SNAP_TOLERANCE_MS + MARGIN_MS


def _short_limit(ctx: ChartContext, times: np.ndarray, beats: float) -> np.ndarray:
    """The length (ms) under which the check counts a span as shorter than ``beats``, with MARGIN_MS more."""
    return ctx.span_ms(times, beats) - SNAP_TOLERANCE_MS + MARGIN_MS


def metric_rank(ctx: ChartContext, times: np.ndarray) -> np.ndarray:
    """(N,) the metrical weakness of each time: its coarsest beat division's place in DIVISOR_ORDER (0 on a whole
    beat, 1 on a half beat, 2 on a quarter ...), len(DIVISOR_ORDER) off every one of them."""
    times = np.asarray(times, dtype=np.float64)
    sec = ctx.section(times)
    beat = ctx.tp_beats[sec]
    x = (times - ctx.tp_times[sec]) / beat
    rank = np.full(len(times), len(DIVISOR_ORDER), dtype=np.int64)
    for i, d in reversed(list(enumerate(DIVISOR_ORDER))):  # the coarsest division that fits wins
        on = np.abs(x * d - np.round(x * d)) * beat / d < ROW_MS
        rank[on] = i
    return rank


# ==================================================================================== the rules
def snap_to_ticks(chart: ManiaChart, *, end_ms: float | None = None) -> ManiaChart:
    """Every note start to the nearest tick of the editor's 1/16 and 1/12 grids (TICK_GRIDS), every long-note end to
    the tick at or before it (never later, so it can only free what it held), nothing past ``end_ms``: the
    snapping rule's "Hit objects must be snapped within less than 2 ms of any timeline tick", for starts and ends
    alike. A time already on a tick stays. Needs the chart's timing (without it, the chart is returned as it is)."""
    if not chart.timing or not chart.n_notes:
        return _edit(chart)
    ctx = ChartContext(chart, "expert")
    starts = chart.starts
    ends = chart.ends if end_ms is None else np.minimum(chart.ends, end_ms)  # a tap's NaN stays NaN

    def ticks(times: np.ndarray, floor: bool) -> np.ndarray:
        safe = np.nan_to_num(times)
        sec = ctx.section(safe)
        beat, origin = ctx.tp_beats[sec], ctx.tp_times[sec]
        x = (safe - origin) / beat
        if floor:  # the latest tick at or before: 1e-6 keeps a time already on a tick where it is
            best = np.max([np.floor(x * d + 1e-6) / d for d in TICK_GRIDS], axis=0)
        else:
            near = np.stack([np.round(x * d) / d for d in TICK_GRIDS])
            best = near[np.argmin(np.abs(near - x), axis=0), np.arange(len(x))]
        tick = origin + best * beat
        return np.where(np.abs(tick - times) < 1e-3, times, tick)  # on a tick already: kept to the bit (NaN stays)

    new_starts = ticks(starts, floor=False)
    new_ends = ticks(ends, floor=True)
    keep = np.ones(chart.n_notes, dtype=bool) if end_ms is None else new_starts <= end_ms
    snapped = ManiaChart(chart.keys, new_starts[keep], new_ends[keep], chart.columns[keep].copy(), list(chart.timing),
                         dataclasses.replace(chart.meta))
    # two notes of a column that met on one tick are one (ManiaChart made long notes that end at their start taps)
    dup = np.zeros(snapped.n_notes, dtype=bool)
    order = np.lexsort((snapped.starts, snapped.columns))
    same = (snapped.columns[order][1:] == snapped.columns[order][:-1]) & (np.diff(snapped.starts[order]) < ROW_MS)
    dup[order[1:][same]] = True
    return _edit(snapped, ~dup)


def _thin_rows(chart: ManiaChart, level: str, beats: float, allowed: int) -> ManiaChart:
    """Note times taken away until no more than ``allowed`` consecutive ones (a chord counts once) are ``beats`` of
    a beat apart or closer: within each such run, note times are kept strongest first (metrical position, then the
    larger chord, then the earlier) wherever the run they would join stays within ``allowed``."""
    if not chart.timing or chart.n_notes < 2:
        return _edit(chart)
    ctx = ChartContext(chart, level)
    rows, size = ctx.rows, ctx.row_size
    if len(rows) <= allowed:
        return _edit(chart)
    limit = _fast_limit(ctx, rows, beats)  # a gap is judged at its earlier row's tempo, as the check does
    keep_row = np.ones(len(rows), dtype=bool)
    rank = metric_rank(ctx, rows)
    for first, last in runs(np.diff(rows) <= limit[:-1]):
        if last - first + 1 <= allowed:
            continue
        kept: list[int] = []
        for r in sorted(range(first, last + 1), key=lambda r: (rank[r], -size[r], r)):
            pos = bisect_left(kept, r)
            n, cur, j = 1, r, pos - 1
            while j >= 0 and n <= allowed and rows[cur] - rows[kept[j]] <= limit[kept[j]]:
                n, cur, j = n + 1, kept[j], j - 1
            cur, j = r, pos
            while j < len(kept) and n <= allowed and rows[kept[j]] - rows[cur] <= limit[cur]:
                n, cur, j = n + 1, kept[j], j + 1
            if n <= allowed:
                insort(kept, r)
        keep_row[first : last + 1] = False
        keep_row[kept] = True
    return _edit(chart, keep_row[ctx.row_of])


def limit_fast_notes(chart: ManiaChart, level: str) -> ManiaChart:
    """No consecutive notes at the level's finest snap or closer ("Note snappings of consecutive 1/4 and higher
    should not be used", Easy; 1/6 on Normal; 1/8 on Hard, where up to 3 grace notes may be): note times taken
    away, the weakest first."""
    level = checked_level(level)
    if not _applies(check_fast_snaps, level):
        return _edit(chart)
    return _thin_rows(chart, level, FINEST_GAP_BEATS[level], MAX_FINEST_RUN_NOTES[level])


def limit_runs(chart: ManiaChart, level: str) -> ManiaChart:
    """Runs at the level's stream snap (1/2 on Easy, 1/4 on Normal) of at most MAX_RUN_NOTES notes ("Avoid using
    more than 5 consecutive 1/2 notes"): note times taken away, the weakest first."""
    level = checked_level(level)
    if not _applies(check_run_length, level):
        return _edit(chart)
    return _thin_rows(chart, level, RUN_SNAP_BEATS[level], MAX_RUN_NOTES)


def _chord_cap(level: str, keys: int) -> int | None:
    """The most notes struck and held at once the level's rules take (chord size, pressed at once), or None."""
    caps = []
    if _applies(check_chord_size, level):
        caps.append(chord_limit(level, keys))
    if _applies(check_pressed_at_once, level):
        caps.append(MAX_PRESSED)
    return min(caps) if caps else None


def limit_chords(chart: ManiaChart, level: str) -> ManiaChart:
    """Chords the level's hands take: single notes inside runs at the stream snap (Easy, Normal: "Avoid using
    chords during consecutive 1/2 note patterns"; a chord to begin or end one is fine), and no more notes struck
    and held at once than its chord size (Easy 2; Normal 2 on 4K, 3 on 7K; Hard 3 / 4) and than MAX_PRESSED (up to
    Insane). A chord struck keeps as many notes as the level's chord size takes (taps kept before long-note heads,
    which would hold their columns on), and the long notes held through it that would make it too big are released
    at it, those that would hold on longest first (they become taps later where that leaves them too short): a
    note struck weighs more in the star rating, and in what a player hears, than the tail of a held one."""
    level = checked_level(level)
    if not chart.n_notes:
        return _edit(chart)
    ctx = ChartContext(chart, level)
    target = np.where(ctx.row_size > 0, ctx.row_size, 1)  # notes each row may keep struck
    if chart.timing and _applies(check_chords_in_runs, level):
        limit = _fast_limit(ctx, ctx.rows, RUN_SNAP_BEATS[level])
        for first, last in runs(np.diff(ctx.rows) <= limit[:-1]):
            target[first + 1 : last] = 1
    cap = _chord_cap(level, chart.keys)
    starts, long = chart.starts, chart.is_long
    ends = chart.ends.copy()
    alive = np.ones(chart.n_notes, dtype=bool)
    over = ctx.row_size > target
    if cap is not None:
        over |= ctx.row_size + ctx.held_at(ctx.rows) > cap
    for r in np.flatnonzero(over):
        t = ctx.rows[r]
        heads = np.flatnonzero((ctx.row_of == r) & alive)
        lns = np.flatnonzero(long & alive & (starts <= t - ROW_MS) & (ends >= t + ROW_MS))
        keep_struck = min(int(target[r]), len(heads))
        if cap is not None:
            keep_struck = min(keep_struck, cap)
            excess = len(lns) + keep_struck - cap
            if excess > 0:  # the notes struck stay: the held long notes that would hold on longest are released
                ends[lns[np.argsort(-ends[lns], kind="stable")[:excess]]] = t
        if len(heads) > keep_struck:
            # taps first; among them a rotating column order, so no column is always the one kept
            order = sorted(heads.tolist(), key=lambda i: (bool(long[i]), (int(chart.columns[i]) - r) % chart.keys))
            alive[order[keep_struck:]] = False
    return _edit(chart, alive, ends=ends)


def break_jacks(chart: ManiaChart, level: str, *, min_jack_ms: float = 0.0) -> ManiaChart:
    """No jacks at 1/4 of a beat or closer on Normal ("Avoid using 1/4 minijacks or other jack patterns"): the
    later note moves to another column where it is no jack (else the earlier one; else one is dropped), by the
    playability rules' minijack repair (:func:`~beatforge.generation.rules.playability.fix_minijacks`) with the
    jack limit of this chart's tempo. Moves change no note time and no chord size."""
    level = checked_level(level)
    if not chart.timing or chart.n_notes < 2 or not _applies(check_jacks, level):
        return _edit(chart)
    ctx = ChartContext(chart, level)
    limit = float(np.max(_fast_limit(ctx, chart.starts, JACK_BEATS)))
    return fix_minijacks(chart, min_jack_ms=max(limit + 1e-3, min_jack_ms))


def _min_long_note_beats(level: str) -> float:
    if _applies(check_long_note_length, level):
        return max(MIN_LONG_NOTE_BEATS[level], MIN_HOLD_BEATS)
    return MIN_HOLD_BEATS


def _release_together(chart: ManiaChart, ctx: ChartContext, ends: np.ndarray, level: str) -> np.ndarray:
    """Ends with long-note releases too close to the one before ("Long note releases should be at least one beat
    apart", Easy; 1/2 on Normal) moved to it (releases together are one release), or taps where that leaves the
    long note too short. One pass over the long notes in release order."""
    ends = ends.copy()
    long = np.flatnonzero(~np.isnan(ends))
    if len(long) < 2:
        return ends
    gap = _short_limit(ctx, ends[long], MIN_RELEASE_GAP_BEATS[level])
    order = np.argsort(ends[long], kind="stable")
    apart = np.diff(ends[long][order])
    if not np.any((apart > ROW_MS) & (apart < gap[order][:-1])):
        return ends  # nothing to move: the loop below runs only where releases are too close
    shortest = _short_limit(ctx, chart.starts[long], _min_long_note_beats(level))
    last, last_gap = None, 0.0
    for k in order.tolist():
        i = long[k]
        if last is not None and ROW_MS < ends[i] - last < last_gap:
            ends[i] = last if last - chart.starts[i] >= shortest[k] else np.nan
            continue
        last, last_gap = float(ends[i]), float(gap[k])  # the check compares each release with the one before
    return ends


def fit_long_notes(chart: ManiaChart, level: str, *, max_passes: int = 16) -> ManiaChart:
    """Long notes as the level takes them: no note during one ("Objects should not be placed during a 1/1 long
    note's hold duration", Easy: every long note; Normal: those under a beat), by ending it where the first such
    note starts; at least the level's shortest (1/1 Easy, 1/2 Normal, 1/4 Hard; 1/12 of a beat on every level),
    else a tap; releases at least 1/1 (Easy) or 1/2 (Normal) of a beat apart, else released together. Each pass
    only shortens long notes or makes taps of them, so the passes settle (in practice in two or three)."""
    level = checked_level(level)
    if not chart.timing or not chart.n_long:
        return _edit(chart)
    ends = chart.ends.copy()
    starts = chart.starts
    ctx = ChartContext(chart, level)
    for _ in range(max_passes):
        before = ends.copy()
        long = np.flatnonzero(~np.isnan(ends))
        if _applies(check_objects_during_long_notes, level):
            if level == "normal":  # the check's reading: Normal's rule is for long notes under a beat
                long = long[ends[long] - starts[long] < _short_limit(ctx, starts[long], 1.0)]
            lo = np.searchsorted(starts, starts[long] + ROW_MS, side="right")
            hi = np.searchsorted(starts, ends[long] - ROW_MS, side="left")
            inside = hi > lo
            ends[long[inside]] = starts[lo[inside]]
        long = np.flatnonzero(~np.isnan(ends))
        short = ends[long] - starts[long] < _short_limit(ctx, starts[long], _min_long_note_beats(level))
        ends[long[short]] = np.nan
        if _applies(check_release_gaps, level):
            ends = _release_together(chart, ctx, ends, level)
        if np.array_equal(before, ends, equal_nan=True):
            break
    return _edit(chart, ends=ends)


def fill_empty_columns(chart: ManiaChart, *, min_gap_ms: float = 0.0) -> ManiaChart:
    """No empty column ("No column can be left empty"): an empty column gets FILL_SHARE of an average column's
    notes (at least one), taps moved from the fullest columns, spread over the song and at least ``min_gap_ms``
    apart. Times and chords stay; the column held nothing to clash with."""
    used = np.bincount(chart.columns, minlength=chart.keys)
    empty = np.flatnonzero(used == 0)
    if not len(empty) or chart.n_notes <= chart.keys:
        return _edit(chart)
    columns = chart.columns.copy()
    long = chart.is_long
    for c in empty.tolist():
        used = np.bincount(columns, minlength=chart.keys)
        want = max(1, int(FILL_SHARE * chart.n_notes / chart.keys))
        donors = np.flatnonzero(used >= 2)
        pool = np.flatnonzero(np.isin(columns, donors) & ~long)
        if not len(pool):
            pool = np.flatnonzero(np.isin(columns, donors))
        picks = np.unique(pool[np.round(np.linspace(0, len(pool) - 1, min(want, len(pool)))).astype(np.int64)])
        free_from = -np.inf
        for i in picks.tolist():
            if used[columns[i]] < 2 or chart.starts[i] < free_from:
                continue
            used[columns[i]] -= 1
            columns[i] = c
            free_from = (chart.starts[i] if np.isnan(chart.ends[i]) else chart.ends[i]) + max(min_gap_ms, ROW_MS)
    return _edit(chart, columns=columns)


# ==================================================================================== all of them
def make_ranked(chart: ManiaChart, level: str, *, audio_ms: float, min_jack_ms: float = 90.0) -> ManiaChart:
    """Every rule, in order (see the module's docstring): the chart meets the Ranking Criteria's rules and the
    guidelines of ``level`` that concern its notes, as :func:`check_ranked` finds (the drain time and the key
    count excepted: no rule on notes can change them). The playability rules (:func:`make_playable`, with
    ``audio_ms`` and ``min_jack_ms``) run after snapping, so the result passes them too."""
    level = checked_level(level)
    out = snap_to_ticks(chart, end_ms=audio_ms)
    out = make_playable(out, audio_ms=audio_ms, min_jack_ms=min_jack_ms)
    out = limit_fast_notes(out, level)
    out = limit_runs(out, level)
    out = limit_chords(out, level)
    out = break_jacks(out, level, min_jack_ms=min_jack_ms)
    out = fit_long_notes(out, level)
    jack = min_jack_ms
    if out.timing and _applies(check_jacks, level):
        jack = max(jack, float(np.max(_fast_limit(ChartContext(out, level), out.starts, JACK_BEATS))))
    return fill_empty_columns(out, min_gap_ms=jack)


# The checks no rule on notes can satisfy: the song's length and the key count
UNFIXABLE = ("drain_time", "key_count")


def check_ranked(chart: ManiaChart, level: str) -> list[str]:
    """What :func:`make_ranked` would still have to change: the Ranking Criteria checks of the notes at ``level``
    (problems and warnings, as ``beatforge check`` prints them; UNFIXABLE left out). Empty when the chart meets
    them."""
    return [i.line() for i in check_chart(chart, checked_level(level))
            if i.severity != "info" and i.check not in UNFIXABLE]


def settle_level(fit: Fit, level: str, *, audio_ms: float, min_jack_ms: float = 90.0) -> Fit:
    """The fit's chart with the rules of the level ``beatforge check`` will judge it at: where its star rating
    ended below ``level``'s band (the search could not reach the floor), the stricter rules of the level it
    reached are applied too, and it is rated again, until the two agree. A miss (:attr:`Fit.missed`) below the
    request then says that the level's rules bound it."""
    chart, stars = fit.chart, fit.star_rating
    while DIFFICULTY_LEVELS.index(judged_level(stars)) < DIFFICULTY_LEVELS.index(level):
        level = judged_level(stars)
        chart = make_ranked(chart, level, audio_ms=audio_ms, min_jack_ms=min_jack_ms)
        stars = star_rating(chart) if chart.n_notes else 0.0
    out = dataclasses.replace(fit, chart=chart, star_rating=stars)
    if out.missed and out.target is not None and stars < out.target and level in MIN_LONG_NOTE_BEATS:
        # Easy, Normal and Hard have guidelines that bound density (gaps, runs, chords); Insane and Expert do not
        why = f"with the {level.capitalize()} level's Ranking Criteria (--no-criteria lifts them)"
        out.reason = f"{fit.reason}; {why}" if fit.reason else why
    return out


__all__ = [
    "FILL_SHARE", "MARGIN_MS", "RATING_MARGIN", "TICK_GRIDS", "UNFIXABLE", "break_jacks", "check_ranked",
    "fill_empty_columns", "fit_long_notes", "judged_level", "limit_chords", "limit_fast_notes", "limit_runs",
    "make_ranked", "metric_rank", "rating_floor", "requested_level", "settle_level", "snap_to_ticks",
]
