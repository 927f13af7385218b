"""What an osu!mania Ranking Criteria check reports, and what it judges a chart by: the difficulty level and the
tempo.

The checks themselves live in :mod:`beatforge.analysis.ranking_criteria` (the notes) and
:mod:`beatforge.analysis.ranking_files` (the .osu file and the set). Each is a :class:`Criterion`: a small function
from a context to :class:`Finding` s, declared with the kind of criterion it enforces (a rule, whose break is a
*problem*, or a guideline, whose break is a *warning*), the wiki page and section it comes from and the levels it
applies to; the criterion's own words open its docstring, and every :class:`Issue` it reports quotes them.

Two things decide how strictly a chart is judged:

* its **level** (Easy ... Expert): given, else read from the difficulty name, else from the osu! star rating's bands
  (:data:`~beatforge.constants.LEVEL_STAR_FLOORS`);
* its **tempo**: "Rhythm-related rules and guidelines apply to approximately 180 BPM beatmaps"
  (Ranking_criteria/Scaling_BPM): below ~120 BPM the next finer snap is gradually allowed (twice as fine at 90 BPM),
  above 240 BPM every rhythm limit is halved. :func:`snap_scale` is that factor, applied per timing section.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from beatforge.analysis.star_rating import star_rating
from beatforge.charts.beatmap import Beatmap
from beatforge.charts.chart import ManiaChart
from beatforge.constants import DIFFICULTY_LEVELS, LEVEL_STAR_FLOORS
from beatforge.errors import BeatforgeError

Severity = Literal["problem", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("problem", "warning", "info")

# Two notes closer than this are one chord row (osu! stores whole milliseconds; converted charts carry float noise)
ROW_MS = 1.0
# "Hit objects must be snapped within less than 2 ms of any timeline tick." (Ranking_criteria, Timing): the same
# leniency is given to every rhythm threshold here, so a 1/4 gap written 1 ms long still counts as 1/4
SNAP_TOLERANCE_MS = 2.0
# The tempo the criteria are written for, and where Ranking_criteria/Scaling_BPM bends them
CRITERIA_BPM = 180.0
SLOW_BPM, SLOWEST_BPM, FAST_BPM = 120.0, 90.0, 240.0
# The notes an issue lists in its editor time (osu!'s editor selects them all; more only lengthen the line)
MAX_LISTED_NOTES = 8


# ==================================================================================== what a check reports
def editor_time(ms: float) -> str:
    """``ms`` as osu!'s editor writes a time: ``mm:ss:mmm`` (minutes past 59 keep counting)."""
    t = int(round(ms))
    sign, t = ("-", -t) if t < 0 else ("", t)
    return f"{sign}{t // 60000:02d}:{t // 1000 % 60:02d}:{t % 1000:03d}"


@dataclass(frozen=True)
class Finding:
    """One break a check found: what, when, which notes (``(ms, column)``, column 0-based as the editor counts).

    ``severity`` overrides the criterion's own (``"info"``: the check could not be made, and why)."""

    message: str
    time_ms: float | None = None
    notes: tuple[tuple[int, int], ...] = ()
    severity: Severity | None = None


@dataclass(frozen=True)
class Issue:
    """One break of the Ranking Criteria, as ``beatforge check`` prints it and ``--json`` writes it.

    Attributes:
        severity: "problem" (a rule is broken), "warning" (a guideline is), "info" (a check not made, and why).
        check: the check's name (its function's, without ``check_``).
        message: what is wrong, with the numbers.
        rule: the criterion's own words.
        page: where they are: the osu! wiki page and its section.
        time_ms: when (None for the whole chart or set).
        notes: the notes concerned, ``(ms, column)``.
        chart: the difficulty it was found in ("" for the set).
    """

    severity: Severity
    check: str
    message: str
    rule: str
    page: str
    time_ms: float | None = None
    notes: tuple[tuple[int, int], ...] = ()
    chart: str = ""

    @property
    def where(self) -> str:
        """The editor's form, ``01:23:456 (83456|2,83456|3) - ``, which osu!'s editor jumps to when pasted; ""
        without a time."""
        if self.time_ms is None:
            return ""
        listed = ",".join(f"{t}|{c}" for t, c in self.notes)
        return f"{editor_time(self.time_ms)} ({listed}) - " if listed else f"{editor_time(self.time_ms)} - "

    def line(self) -> str:
        """The issue as ``beatforge check`` prints it: severity, editor time, message, and the criterion quoted."""
        quoted = f" ({self.page}: \"{self.rule}\")" if self.rule and self.severity != "info" else ""
        return f"{self.severity:<8} {self.where}{self.message}{quoted}"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["notes"] = [list(n) for n in self.notes]
        out["editor"] = self.where.removesuffix(" - ") or None
        return out


# ==================================================================================== the level
_LEVEL_WORDS: dict[str, tuple[str, ...]] = {
    # osu!mania's default names (Ranking_criteria/Difficulty_naming), and the alternatives whose level is not in
    # doubt there: Beginner ("Below Easy"), Medium (In The Groove, Frets on Fire), Extra ("Alternative to Expert"),
    # Extreme ("Above Expert"). Names whose level differs between games (Advanced, Hyper, Another, Novice, Basic,
    # Challenge) are left to the star rating.
    "easy": ("easy", "beginner"),
    "normal": ("normal", "medium"),
    "hard": ("hard",),
    "insane": ("insane",),
    "expert": ("expert", "extra", "extreme"),
}


def level_from_name(name: str) -> str | None:
    """The level a difficulty name says, by whole words ("4K Hard", "~ EXTRA-DELTA ~"), or None where it says none
    or several."""
    words = set(re.findall(r"[a-z]+", name.lower()))
    found = [level for level, names in _LEVEL_WORDS.items() if words.intersection(names)]
    return found[0] if len(found) == 1 else None


def level_from_stars(stars: float) -> str:
    """The level of an osu! star rating: Easy < 2.0, Normal 2.0-2.69, Hard 2.7-3.99, Insane 4.0-5.29, Expert >= 5.3."""
    return [level for level in DIFFICULTY_LEVELS if stars >= LEVEL_STAR_FLOORS[level]][-1]


def checked_level(level: str) -> str:
    """``level`` lower-cased, or a BeatforgeError naming the levels there are."""
    if str(level).lower() not in DIFFICULTY_LEVELS:
        raise BeatforgeError(f"level {level!r}: one of {', '.join(DIFFICULTY_LEVELS)}")
    return str(level).lower()


@dataclass(frozen=True)
class LevelChoice:
    """The level a chart is judged at, and where it came from ("given", "name" or "star rating")."""

    level: str
    source: str
    stars: float | None = None
    name: str = ""

    def describe(self) -> str:
        if self.source == "given":
            return f"level {self.level} (given)"
        if self.source == "name":
            return f"level {self.level} (from the name {self.name!r})"
        i = DIFFICULTY_LEVELS.index(self.level)
        floor = LEVEL_STAR_FLOORS[self.level]
        top = LEVEL_STAR_FLOORS[DIFFICULTY_LEVELS[i + 1]] if i + 1 < len(DIFFICULTY_LEVELS) else None
        band = f">= {floor:.1f}" if top is None else f"< {top:.1f}" if i == 0 else f"{floor:.1f}-{top - 0.01:.2f}"
        return f"level {self.level} (from the star rating {self.stars:.2f}*: {band})"


def chart_level(chart: ManiaChart, *, level: str | None = None, stars: float | None = None) -> LevelChoice:
    """The level ``chart`` is judged at: ``level`` when given, else its difficulty name's, else its star rating's
    band (``stars``, computed with rosu-pp when None)."""
    if level is not None:
        return LevelChoice(checked_level(level), "given", stars, chart.meta.version)
    named = level_from_name(chart.meta.version)
    if named is not None:
        return LevelChoice(named, "name", stars, chart.meta.version)
    if stars is None:
        stars = star_rating(chart)
    return LevelChoice(level_from_stars(stars), "star rating", stars, chart.meta.version)


# ==================================================================================== the tempo
def snap_scale(bpm: np.ndarray | float) -> np.ndarray:
    """How much finer a rhythm the criteria allow at ``bpm`` than at 180 BPM (Ranking_criteria/Scaling_BPM).

    "As a song's tempo falls below ~120 BPM, 1/4 rhythms can be slowly introduced ... until reaching 90 BPM, where
    double the density of existing guidelines apply"; "Beyond 240 BPM, no 1/2 rhythm should be used, just as maps
    above 120 BPM should avoid 1/4 rhythm". So: 1 from 120 to 240 BPM, rising linearly to 2 at 90 BPM and below,
    0.5 above 240 BPM. A limit of ``b`` beats becomes ``b / snap_scale`` beats.
    """
    bpm = np.asarray(bpm, dtype=np.float64)
    slow = 1.0 + np.clip((SLOW_BPM - bpm) / (SLOW_BPM - SLOWEST_BPM), 0.0, 1.0)
    return np.where(bpm > FAST_BPM, 0.5, slow)


def describe_scaling(chart: ManiaChart) -> str:
    """The tempo scaling said in words, for the chart's main BPM."""
    bpm = chart.main_bpm()
    if bpm is None:
        return "no timing points: snapping and rhythm guidelines not checked"
    scale = float(snap_scale(bpm))
    several = " (per timing section)" if len(chart.bpms()) > 1 else ""
    if scale == 1.0:
        return f"{bpm:g} BPM: rhythm limits as written (the criteria assume ~180 BPM){several}"
    if scale < 1.0:
        return f"{bpm:g} BPM: rhythm limits halved (above 240 BPM, Scaling BPM){several}"
    return f"{bpm:g} BPM: rhythm limits {scale:.2g}x finer (below ~120 BPM, Scaling BPM){several}"


# ==================================================================================== a chart as the checks see it
def break_ms(beatmap: Beatmap | None) -> float:
    """Total length of the break periods an .osu file's [Events] declare (``2,start,end`` / ``Break,start,end``)."""
    total = 0.0
    for line in beatmap.events if beatmap is not None else ():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[0] in ("2", "Break"):
            try:
                total += max(float(parts[2]) - float(parts[1]), 0.0)
            except ValueError:
                continue
    return total


def chart_label(chart: ManiaChart) -> str:
    """How a report names a chart: its difficulty name, else its file's name."""
    return chart.meta.version.strip() or Path(chart.meta.path.split("::")[-1]).name or "chart"


def drain_ms(chart: ManiaChart, beatmap: Beatmap | None = None) -> float:
    """osu!'s drain time: first note to the last note's end, less the break periods."""
    return max(chart.last_ms - chart.first_ms - break_ms(beatmap), 0.0)


@dataclass
class ChartContext:
    """One chart, the level it is judged at and, for an osu! chart, its parsed .osu file; with the arrays every
    check shares (rows of notes struck together, the tempo at any time).

    Attributes:
        rows: (R,) float64, the start time of each row (notes within ROW_MS of the row's first note).
        row_of: (N,) int64, each note's row.
        row_size: (R,) int64, notes starting in each row.
        tp_times, tp_beats: (T,) float64, the timing points' times and ms per beat.
    """

    chart: ManiaChart
    level: str
    beatmap: Beatmap | None = None
    rows: np.ndarray = field(init=False, repr=False)
    row_of: np.ndarray = field(init=False, repr=False)
    row_size: np.ndarray = field(init=False, repr=False)
    tp_times: np.ndarray = field(init=False, repr=False)
    tp_beats: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.level = checked_level(self.level)
        starts = self.chart.starts
        new_row = np.ones(len(starts), dtype=bool)
        new_row[1:] = np.diff(starts) > ROW_MS
        self.row_of = np.cumsum(new_row) - 1
        self.rows = starts[new_row]
        self.row_size = np.bincount(self.row_of, minlength=len(self.rows))
        timing = self.chart.timing
        self.tp_times = np.array([tp.time for tp in timing], dtype=np.float64)
        self.tp_beats = np.array([tp.beat_length for tp in timing], dtype=np.float64)

    @property
    def label(self) -> str:
        return chart_label(self.chart)

    @property
    def is_osu(self) -> bool:
        return self.beatmap is not None

    @property
    def has_timing(self) -> bool:
        return len(self.tp_times) > 0

    def section(self, times: np.ndarray) -> np.ndarray:
        """Index of the timing point in force at each time (the first one before it)."""
        return np.clip(np.searchsorted(self.tp_times, times, side="right") - 1, 0, None)

    def beat_ms(self, times: np.ndarray) -> np.ndarray:
        """ms per beat at each time."""
        return self.tp_beats[self.section(np.asarray(times, dtype=np.float64))]

    def span_ms(self, times: np.ndarray, beats: float) -> np.ndarray:
        """``beats`` beats of the criteria (written for ~180 BPM) in ms at each time's tempo, BPM scaling applied."""
        beat = self.beat_ms(times)
        return beats * beat / snap_scale(60000.0 / beat)

    def held_at(self, times: np.ndarray) -> np.ndarray:
        """Long notes held through each time (started before it, released after it)."""
        long = self.chart.is_long
        heads = np.sort(self.chart.starts[long])
        tails = np.sort(self.chart.ends[long])
        times = np.asarray(times, dtype=np.float64)
        started = np.searchsorted(heads, times - ROW_MS, side="right")
        released = np.searchsorted(tails, times + ROW_MS, side="left")
        return np.maximum(started - released, 0)

    def note(self, i: int) -> tuple[int, int]:
        return int(round(self.chart.starts[i])), int(self.chart.columns[i])

    def notes(self, indices: Iterable[int]) -> tuple[tuple[int, int], ...]:
        return tuple(self.note(int(i)) for i in list(indices)[:MAX_LISTED_NOTES])

    def row_notes(self, rows: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """The notes of the given rows, in time order (at most MAX_LISTED_NOTES)."""
        wanted = np.isin(self.row_of, np.asarray(rows, dtype=np.int64))
        return self.notes(np.flatnonzero(wanted))


# ==================================================================================== declaring a criterion
Kind = Literal["rule", "guideline"]


@dataclass(frozen=True)
class Criterion:
    """What a check enforces: the kind of criterion (a rule's break is a problem, a guideline's a warning), the wiki
    page and section (``{Level}`` in it becomes the level judged), the levels it applies to (None: every level),
    the criterion's own words per level where they differ by level (else they are the check's docstring's first
    paragraph), and whether it needs the .osu file's own fields."""

    fn: Callable[..., Iterable[Finding]]
    kind: Kind
    page: str
    levels: tuple[str, ...] | None = None
    words: dict[str, str] | None = None
    osu_only: bool = False

    @property
    def name(self) -> str:
        return self.fn.__name__.removeprefix("check_")

    def rule_text(self, level: str | None = None) -> str:
        if self.words:
            return self.words.get(level or "", next(iter(self.words.values())))
        doc = (self.fn.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(doc.split())

    def applies(self, level: str | None) -> bool:
        return self.levels is None or level in self.levels

    def issues(self, ctx) -> list[Issue]:
        """The Findings of ``fn(ctx)`` as Issues (none where ``ctx``'s level is not among ``levels``)."""
        level = getattr(ctx, "level", None)
        if not self.applies(level):
            return []
        severity: Severity = "problem" if self.kind == "rule" else "warning"
        page = self.page.replace("{Level}", (level or "").capitalize())
        label = getattr(ctx, "label", "")
        return [Issue(f.severity or severity, self.name, f.message, self.rule_text(level), page, f.time_ms, f.notes,
                      label) for f in self.fn(ctx)]


Check = Callable[..., list[Issue]]


def criterion(kind: Kind, page: str, *, levels: Sequence[str] | None = None, words: dict[str, str] | None = None,
              osu_only: bool = False) -> Callable[[Callable[..., Iterable[Finding]]], Check]:
    """Declare a check: the decorated function yields Findings for a context; the check it becomes returns them
    as Issues and carries its :class:`Criterion` as ``.criterion``. Per-level ``words`` are appended to the
    function's docstring, so ``help()`` quotes them too."""
    if words and levels is None:
        levels = tuple(words)

    def wrap(fn: Callable[..., Iterable[Finding]]) -> Check:
        if words:
            quoted = "\n".join(f'        {level.capitalize()}: "{text}"' for level, text in words.items())
            fn.__doc__ = f"{(fn.__doc__ or '').rstrip()}\n\n    The criterion's words, by level:\n{quoted}\n"
        spec = Criterion(fn, kind, page, tuple(levels) if levels is not None else None, words, osu_only)

        @functools.wraps(fn)
        def check(ctx) -> list[Issue]:
            return spec.issues(ctx)

        check.criterion = spec  # type: ignore[attr-defined]
        return check

    return wrap


__all__ = [
    "MAX_LISTED_NOTES", "ROW_MS", "SEVERITIES", "SNAP_TOLERANCE_MS", "ChartContext", "Check", "Criterion", "Finding",
    "Issue", "LevelChoice", "Severity", "break_ms", "chart_label", "chart_level", "checked_level", "criterion",
    "describe_scaling", "drain_ms", "editor_time", "level_from_name", "level_from_stars", "snap_scale",
]
