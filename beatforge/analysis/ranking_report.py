"""``beatforge check``: the Ranking Criteria checks of :mod:`beatforge.analysis.ranking_criteria` over the charts and
sets a user names, as a report (text or JSON).

Each path is a set: an .osz or .qp archive, a StepMania file, a Frets on Fire song folder, or one chart file (a
set of one, whose spread is then not judged); a folder of charts is walked, and its charts grouped into sets by
folder or archive and song (artist, title). Sources inside a folder that cannot be read are skipped and listed;
a path named on the command line that cannot be read is an error (exit 2), as for every other command.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from beatforge.analysis.ranking_criteria import CHART_CHECKS, check_chart, check_set
from beatforge.analysis.ranking_issues import (
    SEVERITIES,
    Issue,
    chart_label,
    chart_level,
    checked_level,
    describe_scaling,
)
from beatforge.analysis.star_rating import star_rating
from beatforge.charts.beatmap import Beatmap
from beatforge.charts.chart import ManiaChart
from beatforge.errors import ChartError, message_of
from beatforge.formats.loader import Source, discover, load_beatmaps, load_charts, source_of

_CHECK_ORDER = {check.criterion.name: i for i, check in enumerate(CHART_CHECKS)}


def _counts(issues: Iterable[Issue]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for issue in issues:
        counts[issue.severity] += 1
    return counts


def _sorted(issues: Iterable[Issue]) -> list[Issue]:
    """Problems, then warnings, then info; each in check order, then time."""
    return sorted(issues, key=lambda i: (SEVERITIES.index(i.severity), _CHECK_ORDER.get(i.check, len(_CHECK_ORDER)),
                                         -1e18 if i.time_ms is None else i.time_ms))


@dataclass
class ChartReport:
    """One chart's header facts (what it was judged as) and its issues."""

    chart: str
    path: str
    source_game: str
    keys: int
    notes: int
    stars: float
    level: str
    level_source: str
    level_reason: str
    bpm: float | None
    scaling: str
    issues: list[Issue] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return _counts(self.issues)

    def header(self) -> str:
        return f"[{self.chart}] {self.keys}K {self.stars:.2f}* {self.level_reason}; {self.scaling}"

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "issues"}
        out["counts"] = self.counts
        out["issues"] = [i.to_dict() for i in self.issues]
        return out


@dataclass
class SetReport:
    """One set: where it came from, its set-wide issues and its charts."""

    name: str
    path: str
    issues: list[Issue] = field(default_factory=list)
    charts: list[ChartReport] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return _counts([*self.issues, *(i for c in self.charts for i in c.issues)])

    def to_dict(self) -> dict:
        return {"set": self.name, "path": self.path, "counts": self.counts,
                "issues": [i.to_dict() for i in self.issues], "charts": [c.to_dict() for c in self.charts]}


@dataclass
class CheckRun:
    """What ``beatforge check`` found: a report per set, and the sources of walked folders it could not read."""

    sets: list[SetReport]
    skipped: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        total = dict.fromkeys(SEVERITIES, 0)
        for s in self.sets:
            for k, v in s.counts.items():
                total[k] += v
        return total


# ==================================================================================== reading what to check
Pair = tuple[ManiaChart, Beatmap | None]


def load_pairs(source: Source) -> list[Pair]:
    """Every mania chart of a source with its parsed .osu file (None for other games'); a chart without notes is
    an error, as for ``beatforge analyze``."""
    charts = load_charts(source)
    for chart in charts:
        chart.require_notes()
    if source.kind not in ("osu", "osz"):
        return [(c, None) for c in charts]
    beatmaps = [bm for bm in load_beatmaps(source) if bm.mode == 3]
    return list(zip(charts, beatmaps))


def _song(chart: ManiaChart) -> tuple[str, str, str]:
    return chart.meta.song_key, chart.meta.artist.strip().lower(), chart.meta.title.strip().lower()


def collect_sets(paths: Sequence[str | Path]) -> tuple[list[tuple[str, list[Pair], bool]], list[str]]:
    """The sets the paths name, as (where, charts with their .osu files, whole), and the walked sources skipped."""
    sets: list[tuple[str, list[Pair], bool]] = []
    skipped: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and not ((path / "notes.mid").is_file() or (path / "song.ini").is_file()):
            groups: dict[tuple[str, str, str], list[Pair]] = {}
            sources = discover(path)
            for src in sources:
                try:
                    pairs = load_pairs(src)
                except ChartError as exc:
                    skipped.append(message_of(exc, 300))
                    continue
                for pair in pairs:
                    groups.setdefault(_song(pair[0]), []).append(pair)
            if not groups:
                why = f": {len(skipped)} unreadable, e.g. {skipped[-1]}" if skipped else ""
                raise ChartError(f"{path}: no chart beatforge reads in this folder ({_plural(len(sources), 'source')}"
                                 f"{why})")
            sets.extend((key[0], pairs, True) for key, pairs in groups.items())
            continue
        src = source_of(path)
        pairs = load_pairs(src)
        sets.append((str(src.path), pairs, src.kind not in ("osu", "qua", "tui") or len(pairs) > 1))
    return sets, skipped


# ==================================================================================== checking
def check_pairs(where: str, pairs: Sequence[Pair], *, level: str | None = None, whole: bool = True) -> SetReport:
    """The report of one set: each chart judged at ``level`` (None: its own), and the set's checks."""
    reports, levels = [], []
    for chart, beatmap in pairs:
        stars = star_rating(chart)
        choice = chart_level(chart, level=level, stars=stars)
        levels.append(choice.level)
        reports.append(ChartReport(
            chart=chart_label(chart), path=chart.meta.path, source_game=chart.meta.source_game, keys=chart.keys,
            notes=chart.n_notes, stars=round(stars, 4), level=choice.level, level_source=choice.source,
            level_reason=choice.describe(), bpm=chart.main_bpm(), scaling=describe_scaling(chart),
            issues=_sorted(check_chart(chart, choice.level, beatmap=beatmap, stars=stars)),
        ))
    charts = [c for c, _ in pairs]
    first = charts[0].meta
    name = " - ".join(x for x in (first.artist, first.title) if x) or Path(where).name
    issues = _sorted(check_set(charts, levels=levels, beatmaps=[bm for _, bm in pairs], whole=whole))
    return SetReport(name, where, issues, reports)


def check_paths(paths: Sequence[str | Path], *, level: str | None = None) -> CheckRun:
    """``beatforge check PATH...``: every set the paths name, checked (``level``: judge every chart at it)."""
    if level is not None:
        level = checked_level(level)
    sets, skipped = collect_sets(paths)
    return CheckRun([check_pairs(where, pairs, level=level, whole=whole) for where, pairs, whole in sets], skipped)


# ==================================================================================== printing
def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _issue_lines(issues: Sequence[Issue], max_per_check: int, indent: str) -> list[str]:
    lines: list[str] = []
    shown: dict[tuple[str, str], int] = {}
    for issue in issues:
        key = (issue.severity, issue.check)
        shown[key] = shown.get(key, 0) + 1
        if not max_per_check or shown[key] <= max_per_check:
            lines.append(indent + issue.line())
    for (severity, check), n in shown.items():
        if max_per_check and n > max_per_check:
            lines.append(f"{indent}{'':<8} ... {n - max_per_check} more {severity}s of {check} (--all lists them)")
    return lines


def _tally(counts: dict[str, int]) -> str:
    return f"{_plural(counts['problem'], 'problem')}, {_plural(counts['warning'], 'warning')}"


def format_run(run: CheckRun, *, max_per_check: int = 10) -> str:
    """The report as text: per set, its set-wide issues, then each chart's header and issues; a closing tally."""
    out: list[str] = []
    for s in run.sets:
        out.append(f"{s.name}  ({s.path}: {_plural(len(s.charts), 'chart')}; {_tally(s.counts)})")
        out += _issue_lines(s.issues, max_per_check, "  set  ")
        for c in s.charts:
            out.append(f"  {c.header()}")
            out += _issue_lines(c.issues, max_per_check, "    ")
            out.append(f"    = {_tally(c.counts)}")
        out.append("")
    out += [f"skipped: {why}" for why in run.skipped]
    n_charts = sum(len(s.charts) for s in run.sets)
    out.append(f"checked {_plural(n_charts, 'chart')} in {_plural(len(run.sets), 'set')}: {_tally(run.counts)}")
    return "\n".join(out)


__all__ = ["ChartReport", "CheckRun", "SetReport", "check_pairs", "check_paths", "collect_sets", "format_run",
           "load_pairs"]
