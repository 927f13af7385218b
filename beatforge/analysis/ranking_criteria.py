"""The osu!mania Ranking Criteria as hand-written checks: what ``beatforge check`` reports, and what generation and
evaluation can call on any chart.

    issues = check_chart(chart)                   # level from the name, else the star rating
    issues = check_chart(chart, "normal")         # judged as a Normal
    issues = check_set(charts)                    # spread, names, preview points, the song file

Sources (osu! wiki, read for these checks): Ranking_criteria/osu!mania (the mode's rules and guidelines),
Ranking_criteria (timing, audio, background, drain time), Ranking_criteria/Scaling_BPM (the tempo they assume). A
rule's break is a *problem*, a guideline's a *warning*; a check that cannot be made says so as *info* (e.g. a chart
without timing points, or an osu!-only field of another game's chart).

The checks of this module read the notes; :mod:`beatforge.analysis.ranking_files` has those of the .osu file and of
the set. Every number below is a criterion's, scaled to the chart's tempo by
:meth:`~beatforge.analysis.ranking_issues.ChartContext.span_ms`; detection is vectorised over the notes, and the
Python loops run over what was found.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from beatforge.analysis.ranking_files import FILE_CHECKS, SET_CHECKS, SetContext
from beatforge.analysis.ranking_issues import (
    ROW_MS,
    SNAP_TOLERANCE_MS,
    ChartContext,
    Check,
    Finding,
    Issue,
    chart_label,
    chart_level,
    criterion,
    drain_ms,
)
from beatforge.charts.beatmap import Beatmap
from beatforge.charts.chart import ManiaChart
from beatforge.constants import RANKABLE_KEY_COUNTS

MANIA = "Ranking_criteria/osu!mania"
OVERALL_RULES = f"{MANIA}, Overall rules"
OVERALL_GUIDELINES = f"{MANIA}, Overall guidelines"
LEVEL_GUIDELINES = f"{MANIA}, {{Level}} guidelines"
# The snap divisors of osu!'s editor: every tick of 1/1 to 1/16 lies on the 1/16 or the 1/12 grid, and lazer's editor
# adds 1/5, 1/7 and 1/9 (Mapset Verifier counts the same five grids as snapped)
EDITOR_GRIDS: tuple[int, ...] = (16, 12, 5, 7, 9)
OTHER_DIVISORS: tuple[int, ...] = (10, 11, 13, 14, 15)  # "unsupported beat snap divisors (e.g. 1/11)", up to 1/16
MIN_HOLD_BEATS = 1 / 12  # "Long notes should be held for at least 1/12 of a beat." (every level)
MIN_DRAIN_MS = 30_000.0  # "Every difficulty of a beatmap must have a minimum drain time of 30 seconds."
MAX_PRESSED = 6  # "There must not be more than 6 notes pressed at any given moment in Insane or lower difficulties."
_NAMED_SNAPS = (1, 2, 3, 4, 6, 8, 12, 16)


def snap_name(gap_ms: float, beat_ms: float) -> str:
    """A gap as the editor's snap ("1/4") when it is one within the snap tolerance, else in beats."""
    for d in _NAMED_SNAPS:
        if abs(gap_ms - beat_ms / d) < SNAP_TOLERANCE_MS:
            return f"1/{d}"
    return f"{gap_ms / beat_ms:.3g} beat"


def runs(joined: np.ndarray) -> list[tuple[int, int]]:
    """(first row, last row) of each run of rows joined by ``joined`` gaps (gap k joins rows k and k+1)."""
    edges = np.diff(np.concatenate(([0], joined.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _fast_gaps(ctx: ChartContext, beats: float) -> np.ndarray:
    """(R-1,) bool: consecutive rows at most ``beats`` (scaled) apart."""
    if len(ctx.rows) < 2:
        return np.zeros(0, dtype=bool)
    return np.diff(ctx.rows) <= ctx.span_ms(ctx.rows[:-1], beats) + SNAP_TOLERANCE_MS


def _limit_text(ctx: ChartContext, time_ms: float, beats: float) -> str:
    """``beats`` said as the criteria say it, with what it is here in ms (and the scaling where there is one)."""
    scaled = float(ctx.span_ms(np.array([time_ms]), beats)[0])
    plain = beats * float(ctx.beat_ms(np.array([time_ms]))[0])
    words = "1/1" if beats == 1 else f"1/{round(1 / beats)}"
    return f"{words} ({scaled:.0f} ms here{'' if abs(scaled - plain) < 0.5 else ', BPM-scaled'})"


# ==================================================================================== every level
@criterion("rule", OVERALL_RULES)
def check_concurrent_notes(ctx: ChartContext) -> Iterator[Finding]:
    """Two notes cannot be placed in a single column at the same timestamp.

    Nor can a note start while a long note of its column is held, up to its release: Auto would miss one of them,
    breaking the rule above it, "The `Auto` mod must be able to achieve the full score (1,000,000) in all
    difficulties."
    """
    c = ctx.chart
    if c.n_notes < 2:
        return
    order = np.lexsort((c.starts, c.columns))
    starts, cols = c.starts[order], c.columns[order]
    lane = cols * 1e10  # columns apart by more than any chart lasts, so one running maximum serves them all
    busy = np.where(c.is_long[order], c.ends[order], starts) + lane
    until = np.maximum.accumulate(busy)
    setter = np.maximum.accumulate(np.where(busy >= until, np.arange(len(busy)), 0))
    clash = (cols[1:] == cols[:-1]) & (starts[1:] + lane[1:] - until[:-1] < ROW_MS)
    for k in np.flatnonzero(clash):
        i, j = order[setter[k]], order[k + 1]
        col = int(c.columns[j])
        if c.is_long[i] and c.starts[j] - c.starts[i] >= ROW_MS:
            what = f"a note in column {col} while its long note ({ctx.note(i)[0]}-{c.ends[i]:.0f} ms) is held"
        else:
            what = f"two notes at once in column {col}"
        yield Finding(f"{what}: Auto cannot reach 1,000,000", float(c.starts[j]), ctx.notes([i, j]))


@criterion("rule", OVERALL_RULES)
def check_empty_columns(ctx: ChartContext) -> Iterator[Finding]:
    """No column can be left empty."""
    used = np.bincount(ctx.chart.columns, minlength=ctx.chart.keys)
    empty = np.flatnonzero(used == 0).tolist()
    if empty:
        several = len(empty) > 1
        yield Finding(f"column{'s' if several else ''} {', '.join(map(str, empty))} (of 0-{ctx.chart.keys - 1}) "
                      f"hold{'' if several else 's'} no note")


@criterion("rule", OVERALL_RULES)
def check_key_count(ctx: ChartContext) -> Iterator[Finding]:
    """Beatmaps can only use 4–10, 12, 14, 16, or 18 keys."""
    if ctx.chart.keys not in RANKABLE_KEY_COUNTS:
        yield Finding(f"{ctx.chart.keys} keys")


def _unsupported_sections(ctx: ChartContext) -> np.ndarray:
    """(R,) the divisor d of OTHER_DIVISORS whose 1/d grid each row lies on as part of at least 3 consecutive rows on
    it (a section written in 1/d), else 0. One row alone proves nothing: with so many grids, most times lie within
    2 ms of some tick."""
    found = np.zeros(len(ctx.rows), dtype=np.int64)
    if len(ctx.rows) < 3:
        return found
    sec = ctx.section(ctx.rows)
    beat = ctx.tp_beats[sec]
    x = (ctx.rows - ctx.tp_times[sec]) / beat
    for d in OTHER_DIVISORS[::-1]:  # the smallest divisor wins where several fit
        on = np.abs(x - np.round(x * d) / d) * beat < SNAP_TOLERANCE_MS
        three = on[:-2] & on[1:-1] & on[2:]  # rows k, k+1, k+2 all on the grid
        in_run = np.zeros(len(on), dtype=bool)
        for shift in range(3):
            in_run[shift : len(on) - 2 + shift] |= three
        found[in_run] = d
    return found


@criterion("rule", "Ranking_criteria, Timing rules")
def check_snapping(ctx: ChartContext) -> Iterator[Finding]:
    """Hit objects must be snapped within less than 2 ms of any timeline tick.

    Ticks are those of the timing point in force at the object (the first one before the first); a long note's end
    is an object of its own ("An object which is wrongly snapped due to passing through or ending slightly before a
    new uninherited timing point must have its tail snapped within the new timing section."). Notes off every tick
    but in a run of 3 or more on the grid of a divisor the editor lacks (1/10, 1/11, 1/13, 1/14, 1/15) are a
    warning, not a problem: the rule lets them "remain unsnapped, as long as they align with the intended beat snap
    divisor" where the music needs it, which only a person can tell.
    """
    c = ctx.chart
    if not ctx.has_timing or c.n_notes == 0:
        return
    tails = np.flatnonzero(c.is_long)
    owner = np.concatenate((np.arange(c.n_notes), tails))
    times = np.concatenate((c.starts, c.ends[tails]))
    sec = ctx.section(times)
    beat = ctx.tp_beats[sec]
    x = (times - ctx.tp_times[sec]) / beat
    off = np.stack([(x - np.round(x * d) / d) * beat for d in EDITOR_GRIDS])  # (G, M) ms to each grid's tick
    off = off[np.argmin(np.abs(off), axis=0), np.arange(len(times))]
    section_of = _unsupported_sections(ctx)
    for k in np.flatnonzero(np.abs(off) >= SNAP_TOLERANCE_MS):
        what = "long note's end" if k >= c.n_notes else "note"
        d = section_of[ctx.row_of[k]] if k < c.n_notes else 0
        if d:
            yield Finding(f"{what} {off[k]:+.1f} ms off the editor's ticks, in a run on 1/{d} ticks: fine only where "
                          f"the music needs 1/{d}", float(times[k]), ctx.notes([owner[k]]), severity="warning")
        else:
            yield Finding(f"{what} unsnapped by {off[k]:+.1f} ms (the nearest 1/16, 1/12, 1/5, 1/7 or 1/9 tick)",
                          float(times[k]), ctx.notes([owner[k]]))


@criterion("rule", "Ranking_criteria, Beatmap rules")
def check_drain_time(ctx: ChartContext) -> Iterator[Finding]:
    """Every difficulty of a beatmap must have a minimum drain time of 30 seconds."""
    drain = drain_ms(ctx.chart, ctx.beatmap)
    if drain < MIN_DRAIN_MS:
        yield Finding(f"drain time {drain / 1000:.1f} s")


@criterion("rule", OVERALL_RULES, levels=("easy", "normal", "hard", "insane"))
def check_pressed_at_once(ctx: ChartContext) -> Iterator[Finding]:
    """There must not be more than 6 notes pressed at any given moment in Insane or lower difficulties.

    "This rule does not apply to ends of long notes, as they are released, not pressed": a long note counts while
    it is held, from after its head to before its release.
    """
    held = ctx.held_at(ctx.rows)
    for r in np.flatnonzero(ctx.row_size + held > MAX_PRESSED):
        yield Finding(f"{ctx.row_size[r] + held[r]} notes pressed at once ({ctx.row_size[r]} struck, {held[r]} held)",
                      float(ctx.rows[r]), ctx.row_notes([r]))


@criterion("guideline", OVERALL_GUIDELINES)
def check_long_note_hold(ctx: ChartContext) -> Iterator[Finding]:
    """Long notes should be held for at least 1/12 of a beat."""
    yield from _short_long_notes(ctx, MIN_HOLD_BEATS)


def _short_long_notes(ctx: ChartContext, beats: float) -> Iterator[Finding]:
    c = ctx.chart
    if not ctx.has_timing:
        return
    long = np.flatnonzero(c.is_long)
    length = c.ends[long] - c.starts[long]
    short = length < ctx.span_ms(c.starts[long], beats) - SNAP_TOLERANCE_MS
    for i, held in zip(long[short], length[short]):
        yield Finding(f"long note held {held:.0f} ms, under {_limit_text(ctx, c.starts[i], beats)}",
                      float(c.starts[i]), ctx.notes([i]))


# ==================================================================================== by level
# The numbers of the level guidelines below, in beats at ~180 BPM (before BPM scaling), for generation to aim at:
# the shortest long note; the finest gap between consecutive notes, and the notes a run of such gaps may hold (Hard's
# exception is "the usage of 3 grace notes that are at higher-end snaps (1/8, 1/12 and 1/16)"); the stream snap
# whose runs are capped at MAX_RUN_NOTES and hold no chord inside; the smallest gap between long-note releases
MIN_LONG_NOTE_BEATS: dict[str, float] = {"easy": 1.0, "normal": 0.5, "hard": 0.25}
FINEST_GAP_BEATS: dict[str, float] = {"easy": 0.25, "normal": 1 / 6, "hard": 0.125}
MAX_FINEST_RUN_NOTES: dict[str, int] = {"easy": 1, "normal": 1, "hard": 3}
RUN_SNAP_BEATS: dict[str, float] = {"easy": 0.5, "normal": 0.25}
MAX_RUN_NOTES = 5  # "Avoid using more than 5 consecutive 1/2 notes." (Easy) / "... 1/4 notes." (Normal)
MIN_RELEASE_GAP_BEATS: dict[str, float] = {"easy": 1.0, "normal": 0.5}
JACK_BEATS = 0.25  # "Avoid using 1/4 minijacks or other jack patterns." (Normal)


@criterion("guideline", LEVEL_GUIDELINES, words={
    "easy": "Long notes should be held for at least one beat.",
    "normal": "Long notes should be held for at least 1/2 of a beat.",
    "hard": "Long notes should be held for at least 1/4 of a beat.",
})
def check_long_note_length(ctx: ChartContext) -> Iterator[Finding]:
    """The shortest long note a level takes: 1/1 (Easy), 1/2 (Normal), 1/4 (Hard) of a beat."""
    yield from _short_long_notes(ctx, MIN_LONG_NOTE_BEATS[ctx.level])


@criterion("guideline", LEVEL_GUIDELINES, words={
    "easy": "Note snappings of consecutive 1/4 and higher should not be used.",
    "normal": "Note snappings of consecutive 1/6 and above should not be used.",
    "hard": "Note snappings of consecutive 1/8 and higher should not be used. An exception to this guideline would be "
            "the usage of 3 grace notes that are at higher-end snaps (1/8, 1/12 and 1/16) as they are only used to "
            "accentuate gracing sounds.",
})
def check_fast_snaps(ctx: ChartContext) -> Iterator[Finding]:
    """Consecutive notes (chords count once) no closer than the level's finest snap.

    "Consecutive 1/4" is read as the proposal that wrote it explained it: "there must be at least more than 1/4 of a
    beat of distance between every note"; Hard lets a run of up to 3 grace notes through.
    """
    if not ctx.has_timing:
        return
    beats, allowed = FINEST_GAP_BEATS[ctx.level], MAX_FINEST_RUN_NOTES[ctx.level]
    for first, last in runs(_fast_gaps(ctx, beats)):
        if last - first + 1 > allowed:
            t = float(ctx.rows[first])
            gap = snap_name(float(ctx.rows[first + 1] - ctx.rows[first]), float(ctx.beat_ms(np.array([t]))[0]))
            yield Finding(f"{last - first + 1} notes in a row at {gap} or finer, the limit being "
                          f"{_limit_text(ctx, t, beats)}", t, ctx.row_notes(range(first, last + 1)))


@criterion("guideline", LEVEL_GUIDELINES, words={
    "easy": "Avoid using more than 5 consecutive 1/2 notes.",
    "normal": "Avoid using more than 5 consecutive 1/4 notes.",
})
def check_run_length(ctx: ChartContext) -> Iterator[Finding]:
    """Runs at the level's stream snap (1/2 on Easy, 1/4 on Normal, or finer) of at most 5 notes (chords count once)."""
    if not ctx.has_timing:
        return
    beats = RUN_SNAP_BEATS[ctx.level]
    for first, last in runs(_fast_gaps(ctx, beats)):
        if last - first + 1 > MAX_RUN_NOTES:
            t = float(ctx.rows[first])
            yield Finding(f"{last - first + 1} consecutive notes at {_limit_text(ctx, t, beats)} or finer", t,
                          ctx.row_notes(range(first, last + 1)))


@criterion("guideline", LEVEL_GUIDELINES, words={
    "easy": "Avoid using chords during consecutive 1/2 note patterns. However, using a chord to begin or to end a "
            "pattern is fine.",
    "normal": "Avoid using chords during consecutive 1/4 note patterns. However, using a chord to begin or to end a "
              "pattern is fine.",
})
def check_chords_in_runs(ctx: ChartContext) -> Iterator[Finding]:
    """No chord inside a run at the level's stream snap (1/2 on Easy, 1/4 on Normal); at its ends, chords are fine."""
    if not ctx.has_timing:
        return
    beats = RUN_SNAP_BEATS[ctx.level]
    for first, last in runs(_fast_gaps(ctx, beats)):
        inner = first + 1 + np.flatnonzero(ctx.row_size[first + 1 : last] > 1)
        if len(inner):
            t = float(ctx.rows[inner[0]])
            yield Finding(f"{len(inner)} chord{'s' if len(inner) > 1 else ''} inside a run of {last - first + 1} "
                          f"notes at {_limit_text(ctx, t, beats)} or finer", t, ctx.row_notes(inner))


def chord_limit(level: str, keys: int) -> int | None:
    """The largest chord a level's guidelines take: Easy 2; Normal 2 on 4K, 3 on 7K; Hard 3 on 4K, 4 on 7K. Other
    key counts take the guideline of the nearer of 4K and 7K ("Any other key modes ... should apply these
    guidelines when applicable"); None where the level has no such guideline."""
    seven = keys >= 6
    return {"easy": 2, "normal": 3 if seven else 2, "hard": 4 if seven else 3}.get(level)


def _hand(column: int, keys: int) -> int | None:
    """0 for the left hand's columns, 1 for the right's, None for an odd key count's middle column."""
    if column < keys // 2:
        return 0
    return 1 if column >= (keys + 1) // 2 else None


@criterion("guideline", LEVEL_GUIDELINES, words={
    "easy": "Avoid chords with more than 2 notes. This includes long note patterns that involve notes in more than "
            "two columns.",
    "normal": "Avoid chords with more than 2 notes (4 key; 3 notes on 7 key). This includes long note patterns that "
              "involve notes in more than two columns. However, using a double that is played with the other hand "
              "than the long note is fine.",
    "hard": "Avoid chords with more than 3 notes (4 key; 4 notes on 7 key). This includes long note patterns that "
            "involve notes in more than three columns.",
})
def check_chord_size(ctx: ChartContext) -> Iterator[Finding]:
    """Chords no larger than the level's limit (:func:`chord_limit`), counting the long notes held through them."""
    c = ctx.chart
    limit = chord_limit(ctx.level, c.keys)
    held = ctx.held_at(ctx.rows)
    for r in np.flatnonzero(ctx.row_size + held > limit):
        heads = np.flatnonzero(ctx.row_of == r)
        if ctx.level == "normal" and ctx.row_size[r] == 2 and held[r] > 0:
            t = ctx.rows[r]
            holding = np.flatnonzero(c.is_long & (c.starts <= t - ROW_MS) & (c.ends >= t + ROW_MS))
            hands = {_hand(int(col), c.keys) for col in c.columns[heads]}
            others = {_hand(int(col), c.keys) for col in c.columns[holding]}
            if len(hands) == 1 and None not in hands and others.isdisjoint(hands) and None not in others:
                continue  # "a double that is played with the other hand than the long note is fine"
        yield Finding(f"chord of {ctx.row_size[r] + held[r]} notes ({ctx.row_size[r]} struck, {held[r]} held) on "
                      f"{c.keys}K; at most {limit}", float(ctx.rows[r]), ctx.notes(heads))


@criterion("guideline", LEVEL_GUIDELINES, words={"normal": "Avoid using 1/4 minijacks or other jack patterns."})
def check_jacks(ctx: ChartContext) -> Iterator[Finding]:
    """No two consecutive notes of one column 1/4 of a beat apart or closer. (Two notes of one column at once are the
    overlap problem, not a jack: counted there only.)"""
    c = ctx.chart
    if not ctx.has_timing or c.n_notes < 2:
        return
    order = np.lexsort((c.starts, c.columns))
    starts, cols = c.starts[order], c.columns[order]
    limit = ctx.span_ms(starts[:-1], JACK_BEATS) + SNAP_TOLERANCE_MS
    gap = np.diff(starts)
    jack = (cols[1:] == cols[:-1]) & (gap <= limit) & (gap > ROW_MS)
    for k in np.flatnonzero(jack):
        yield Finding(f"jack in column {cols[k]}: {starts[k + 1] - starts[k]:.0f} ms apart, within "
                      f"{_limit_text(ctx, starts[k], JACK_BEATS)}", float(starts[k]), ctx.notes(order[[k, k + 1]]))


@criterion("guideline", LEVEL_GUIDELINES, words={
    "easy": "Long note releases should be at least one beat apart from each other.",
    "normal": "Long note releases should be at least 1/2 of a beat apart from each other.",
})
def check_release_gaps(ctx: ChartContext) -> Iterator[Finding]:
    """Releases at different times at least 1/1 (Easy) or 1/2 (Normal) of a beat apart; releases together are one
    release."""
    c = ctx.chart
    if not ctx.has_timing:
        return
    beats = MIN_RELEASE_GAP_BEATS[ctx.level]
    long = np.flatnonzero(c.is_long)
    long = long[np.argsort(c.ends[long], kind="stable")]
    ends = c.ends[long]
    gaps = np.diff(ends)
    close = (gaps > ROW_MS) & (gaps < ctx.span_ms(ends[:-1], beats) - SNAP_TOLERANCE_MS)
    for k in np.flatnonzero(close):
        yield Finding(f"long notes released {gaps[k]:.0f} ms apart, under {_limit_text(ctx, ends[k], beats)}",
                      float(ends[k + 1]), ctx.notes(long[[k, k + 1]]))


@criterion("guideline", LEVEL_GUIDELINES, words={
    "easy": "Objects should not be placed during a 1/1 long note's hold duration. However, using an object at the "
            "beginning or end of a long note is fine.",
    "normal": "Objects should not be placed during a 1/2 long note's hold duration. However, using an object at the "
              "beginning or end of a long note is fine.",
})
def check_objects_during_long_notes(ctx: ChartContext) -> Iterator[Finding]:
    """No note starts while a long note is held (any long note on Easy, where none is shorter than 1/1; those shorter
    than 1/1 on Normal), except at its head or release."""
    c = ctx.chart
    if not ctx.has_timing:
        return
    long = np.flatnonzero(c.is_long)
    if ctx.level == "normal":
        long = long[c.ends[long] - c.starts[long] < ctx.span_ms(c.starts[long], 1.0) - SNAP_TOLERANCE_MS]
    lo = np.searchsorted(c.starts, c.starts[long] + ROW_MS, side="right")
    hi = np.searchsorted(c.starts, c.ends[long] - ROW_MS, side="left")
    for i, a, b in zip(long, lo, hi):
        if b > a:
            yield Finding(f"{b - a} note{'s' if b - a > 1 else ''} during the long note of column {c.columns[i]} "
                          f"({c.starts[i]:.0f}-{c.ends[i]:.0f} ms)", float(c.starts[a]),
                          ctx.notes([i, *range(a, b)]))


NOTE_CHECKS: tuple[Check, ...] = (
    check_concurrent_notes, check_empty_columns, check_key_count, check_snapping, check_drain_time,
    check_pressed_at_once, check_long_note_hold, check_long_note_length, check_fast_snaps, check_run_length,
    check_chords_in_runs, check_chord_size, check_jacks, check_release_gaps, check_objects_during_long_notes,
)
CHART_CHECKS: tuple[Check, ...] = NOTE_CHECKS + FILE_CHECKS


# ==================================================================================== the entry points
def _info(check: str, message: str, page: str, chart: str = "") -> Issue:
    return Issue("info", check, message, "", page, chart=chart)


def check_chart(chart: ManiaChart, level: str | None = None, *, beatmap: Beatmap | None = None,
                stars: float | None = None) -> list[Issue]:
    """Every Ranking Criteria check of one chart, in check order.

    Args:
        chart: the chart (any game's, as beatforge reads it).
        level: "easy" ... "expert"; None takes it from the difficulty name, else from the star rating (``stars``,
            computed with rosu-pp when None).
        beatmap: the parsed .osu file, for an osu! chart: its HP/OD, preview point, background and timing points
            are checked too (for other games' charts they are said to be n/a).
    """
    if level is None:
        level = chart_level(chart, stars=stars).level
    ctx = ChartContext(chart, level, beatmap)
    issues: list[Issue] = []
    if not ctx.has_timing:
        issues.append(_info("timing", "no timing points: snapping and rhythm guidelines not checked", "", ctx.label))
    skipped = [check.criterion.name for check in CHART_CHECKS if check.criterion.osu_only and beatmap is None]
    if skipped:
        game = chart.meta.source_game
        why = "no .osu file given" if game == "osu" else f"not an osu! file: a {game} chart"
        issues.append(_info("osu_file", f"n/a ({why}): {', '.join(skipped)}", "", ctx.label))
    for check in CHART_CHECKS:
        if not (check.criterion.osu_only and beatmap is None):
            issues.extend(check(ctx))
    return issues


def check_set(charts: Sequence[ManiaChart], *, levels: Sequence[str] | None = None,
              beatmaps: Sequence[Beatmap | None] | None = None, whole: bool = True) -> list[Issue]:
    """The checks of a whole set: difficulty spread by drain time, difficulty names, preview points, the song file
    and its bitrate.

    Args:
        charts: every difficulty of the set.
        levels: each chart's level (None: :func:`~beatforge.analysis.ranking_issues.chart_level`'s).
        beatmaps: each chart's parsed .osu file (None for other games' charts).
        whole: False where the charts are not known to be the whole set (one chart file given alone): the spread
            is then said not to be checked rather than judged on part of the set.
    """
    if levels is None:
        levels = [chart_level(c).level for c in charts]
    if beatmaps is None:
        beatmaps = [None] * len(charts)
    ctx = SetContext(list(charts), list(levels), list(beatmaps), whole)
    return [issue for check in SET_CHECKS for issue in check(ctx)]


__all__ = [
    "CHART_CHECKS", "FINEST_GAP_BEATS", "JACK_BEATS", "MAX_FINEST_RUN_NOTES", "MAX_PRESSED", "MAX_RUN_NOTES",
    "MIN_DRAIN_MS", "MIN_HOLD_BEATS", "MIN_LONG_NOTE_BEATS", "MIN_RELEASE_GAP_BEATS", "NOTE_CHECKS",
    "RUN_SNAP_BEATS", "chart_label", "runs", "check_chart", "check_chord_size", "check_chords_in_runs",
    "check_concurrent_notes", "check_drain_time", "check_empty_columns", "check_fast_snaps", "check_jacks",
    "check_key_count", "check_long_note_hold", "check_long_note_length", "check_objects_during_long_notes",
    "check_pressed_at_once", "check_release_gaps", "check_run_length", "check_set", "check_snapping", "chord_limit",
    "snap_name",
]
