"""The Ranking Criteria checks of an osu! beatmap's file and of its set: difficulty settings, timing points, the
preview point, the background, the song file and its bitrate, the difficulty spread and names.

The checks of one chart's file take a :class:`~beatforge.analysis.ranking_issues.ChartContext` whose ``beatmap`` is
the parsed .osu; those marked ``osu_only`` are not made for other games' charts (their fields are osu!'s own), and
:func:`~beatforge.analysis.ranking_criteria.check_chart` says so. The set's checks take a :class:`SetContext`.
Files (the background image, the audio) are looked up in the chart's own folder or archive only, as
:class:`~beatforge.charts.chart.AudioSource` does; a file that is not there is said not to be checked (charts are
often shared without them), not reported as a break.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from beatforge.analysis.ranking_issues import ChartContext, Check, Finding, chart_label, criterion, drain_ms
from beatforge.archive import checked_infos, find_member
from beatforge.audio import audio_kbps
from beatforge.charts.beatmap import Beatmap
from beatforge.charts.chart import ManiaChart
from beatforge.constants import DIFFICULTY_LEVELS, OSU_AUDIO_SUFFIXES, OSU_MAX_AUDIO_KBPS, OSU_MIN_AUDIO_KBPS
from beatforge.errors import BeatforgeError, message_of
from beatforge.fileio import file_in_folder

MANIA = "Ranking_criteria/osu!mania"
GENERAL = "Ranking_criteria"
MAX_HP_OD: dict[str, float] = {"easy": 7.0, "normal": 7.5, "hard": 8.0}  # "HP and OD values should not be higher than"
MAX_BACKGROUND_BYTES = 2.5e6  # "Maximum file size: 2.5MB" (Ranking_criteria, Video and background rules)
MAX_KBPS = OSU_MAX_AUDIO_KBPS  # the wiki's words are with the numbers, in beatforge.constants
MIN_KBPS = OSU_MIN_AUDIO_KBPS
# "If the drain time of each difficulty is..." lower than 2:30 / 2:30-3:15 / 3:15-4:00: the hardest level the lowest
# difficulty may be, or the number of difficulties that spares it (Ranking_criteria/osu!mania, Overall rules)
SPREAD = ((150_000.0, "normal", 4), (195_000.0, "hard", 3), (240_000.0, "insane", 2))


# ==================================================================================== one chart's .osu file
@criterion("guideline", f"{MANIA}, {{Level}} guidelines", osu_only=True, words={
    "easy": "HP and OD values should not be higher than 7.",
    "normal": "HP and OD values should not be higher than 7.5.",
    "hard": "HP and OD values should not be higher than 8.",
})
def check_hp_od(ctx: ChartContext) -> Iterator[Finding]:
    """HP drain and overall difficulty at most 7 (Easy), 7.5 (Normal), 8 (Hard)."""
    limit = MAX_HP_OD[ctx.level]
    for key, short in (("HPDrainRate", "HP"), ("OverallDifficulty", "OD")):
        value = ctx.beatmap.diff(key, 5.0)  # osu!'s default where the file leaves it out
        if value > limit:
            yield Finding(f"{short} {value:g}, over {limit:g}")


@criterion("rule", f"{GENERAL}, Audio rules", osu_only=True)
def check_preview_point(ctx: ChartContext) -> Iterator[Finding]:
    """Preview points must be set and consistent between all difficulties of a beatmap."""
    if preview_time(ctx.beatmap) is None:
        yield Finding("no preview point (PreviewTime unset or -1)")


def preview_time(beatmap: Beatmap) -> float | None:
    """[General] PreviewTime in ms, None where unset (osu! writes -1)."""
    try:
        value = float(beatmap.general.get("PreviewTime", "-1"))
    except ValueError:
        return None
    return value if value >= 0 else None


def background_name(beatmap: Beatmap) -> str | None:
    """The background image an .osu file's [Events] name (``0,0,"bg.jpg",0,0``), or None."""
    for line in beatmap.events:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[0] in ("0", "Background") and parts[2].strip('"'):
            return parts[2].strip('"')
    return None


def set_file_size(chart: ManiaChart, name: str) -> int | None:
    """Bytes of the file ``name`` in the chart's own folder or archive, None where it is not there."""
    path = chart.meta.path
    if "::" in path:
        archive = path.split("::", 1)[0]
        member = find_member(archive, name)
        sizes = {i.filename: i.file_size for i in checked_infos(archive)}
        return sizes.get(member) if member is not None else None
    found = file_in_folder(Path(path).parent, name) if path else None
    return found.stat().st_size if found is not None else None


@criterion("rule", f"{GENERAL}, Video and background rules", osu_only=True)
def check_background(ctx: ChartContext) -> Iterator[Finding]:
    """You must have a background image on every difficulty of your beatmap."""
    name = background_name(ctx.beatmap)
    if name is None:
        yield Finding("no background image in [Events]")
    elif set_file_size(ctx.chart, name) is None:
        yield Finding(f"background {name!r} is not beside the chart: its file not checked", severity="info")


@criterion("rule", f"{GENERAL}, Video and background rules", osu_only=True)
def check_background_file_size(ctx: ChartContext) -> Iterator[Finding]:
    """The following are requirements for background images: ... Maximum file size: 2.5MB"""
    name = background_name(ctx.beatmap)
    size = set_file_size(ctx.chart, name) if name is not None else None
    if size is not None and size > MAX_BACKGROUND_BYTES:
        yield Finding(f"background {name!r} is {size / 1e6:.2f} MB")


@criterion("rule", f"{GENERAL}, Timing rules")
def check_timing_points(ctx: ChartContext) -> Iterator[Finding]:
    """No two uninherited or two inherited timing points can be placed at the same point.

    An osu! chart's points are its file's, red and green; another game's are its tempo changes (what ``beatforge
    convert`` writes as red lines).
    """
    if ctx.beatmap is not None:
        points = [(round(tp.time), tp.uninherited) for tp in ctx.beatmap.timing_points]
    else:
        points = [(round(tp.time), True) for tp in ctx.chart.timing]
    seen: dict[tuple[int, bool], int] = {}
    for point in points:
        seen[point] = seen.get(point, 0) + 1
    for (time, red), n in sorted(seen.items()):
        if n > 1:
            yield Finding(f"{n} {'uninherited' if red else 'inherited'} timing points at {time} ms", float(time))


@criterion("rule", f"{GENERAL}, Timing rules", osu_only=True)
def check_inherited_before_uninherited(ctx: ChartContext) -> Iterator[Finding]:
    """An inherited timing point cannot be placed before the first uninherited timing point."""
    reds = [tp.time for tp in ctx.beatmap.timing_points if tp.uninherited]
    first = min(reds) if reds else float("inf")
    early = [tp.time for tp in ctx.beatmap.timing_points if not tp.uninherited and tp.time < first]
    if early:
        yield Finding(f"{len(early)} inherited timing point{'s' if len(early) > 1 else ''} before the first "
                      "uninherited one", float(min(early)))


@criterion("rule", f"{GENERAL}, Timing rules", osu_only=True)
def check_first_line_kiai(ctx: ChartContext) -> Iterator[Finding]:
    """A beatmap's first uninherited timing point cannot be used to toggle kiai."""
    reds = sorted((tp for tp in ctx.beatmap.timing_points if tp.uninherited), key=lambda tp: tp.time)
    if reds and reds[0].effects & 1:
        yield Finding("the first uninherited timing point turns kiai on", float(reds[0].time))


FILE_CHECKS: tuple[Check, ...] = (
    check_hp_od, check_preview_point, check_background, check_background_file_size, check_timing_points,
    check_inherited_before_uninherited, check_first_line_kiai,
)


# ==================================================================================== the set
@dataclass
class SetContext:
    """Every difficulty of one set: the charts, their levels, their parsed .osu files (None for other games'), and
    whether they are known to be the whole set."""

    charts: list[ManiaChart]
    levels: list[str]
    beatmaps: list[Beatmap | None]
    whole: bool = True

    @property
    def osu(self) -> list[tuple[ManiaChart, Beatmap]]:
        return [(c, bm) for c, bm in zip(self.charts, self.beatmaps) if bm is not None]


def _clock(ms: float) -> str:
    return f"{int(ms // 60000)}:{int(ms // 1000 % 60):02d}"


@criterion("rule", f"{MANIA}, Overall rules")
def check_spread(ctx: SetContext) -> Iterator[Finding]:
    """If the drain time of each difficulty is lower than 2:30, the lowest difficulty of each included playstyle
    cannot be harder than a Normal, OR each playstyle must provide a proper spread containing at least 4 difficulties
    in total (between 2:30 and 3:15: a Hard, or 3 difficulties; between 3:15 and 4:00: an Insane, or 2).

    Each key count is a playstyle ("Each of osu!mania's key counts are considered individual game modes"), judged
    by its shortest drain time (every difficulty must meet the bound); whether a spread is "proper" is not judged.
    """
    if not ctx.whole:
        yield Finding("spread not checked: a chart given alone (give the set's folder or archive)", severity="info")
        return
    by_keys: dict[int, list[int]] = {}
    for i, chart in enumerate(ctx.charts):
        by_keys.setdefault(chart.keys, []).append(i)
    for keys, members in sorted(by_keys.items()):
        drain = min(drain_ms(ctx.charts[i], ctx.beatmaps[i]) for i in members)
        lowest = min((ctx.levels[i] for i in members), key=DIFFICULTY_LEVELS.index)
        for bound, hardest, enough in SPREAD:
            if drain < bound:
                n = len(members)
                if DIFFICULTY_LEVELS.index(lowest) > DIFFICULTY_LEVELS.index(hardest) and n < enough:
                    yield Finding(f"{keys}K: drain time {_clock(drain)} (under {_clock(bound)}) with the lowest "
                                  f"difficulty {lowest} and {n} difficult{'ies' if n > 1 else 'y'}: needs "
                                  f"{'an' if hardest == 'insane' else 'a'} {hardest.capitalize()} or easier, or "
                                  f"{enough} difficulties")
                break


@criterion("rule", f"{GENERAL}, Beatmap rules")
def check_difficulty_names(ctx: SetContext) -> Iterator[Finding]:
    """Difficulty names in a beatmap must be clearly progressive and accurately indicating of their respective
    difficulties.

    Two difficulties of one name cannot be (osu!'s submission refuses them too).
    """
    seen: dict[str, int] = {}
    for chart in ctx.charts:
        name = chart.meta.version.strip().lower()
        seen[name] = seen.get(name, 0) + 1
    for name, n in seen.items():
        if n > 1:
            yield Finding(f"{n} difficulties named {name!r}")


@criterion("rule", f"{GENERAL}, Audio rules")
def check_preview_consistency(ctx: SetContext) -> Iterator[Finding]:
    """Preview points must be set and consistent between all difficulties of a beatmap."""
    times = {preview_time(bm) for _, bm in ctx.osu} - {None}
    if len(times) > 1:
        yield Finding(f"preview points differ between difficulties: {', '.join(f'{t:g}' for t in sorted(times))} ms")


@criterion("rule", f"{GENERAL}, Audio rules")
def check_one_song_file(ctx: SetContext) -> Iterator[Finding]:
    """A beatmap may only contain one song file used by all difficulties."""
    names = {bm.audio_filename.lower() for _, bm in ctx.osu} - {""}
    if len(names) > 1:
        yield Finding(f"{len(names)} song files: {', '.join(sorted(names))}")


@criterion("rule", f"{GENERAL}, Audio rules")
def check_audio_bitrate(ctx: SetContext) -> Iterator[Finding]:
    """The audio file of a beatmap must use the .mp3 or .ogg file format, have an average bit rate no greater than
    192 kbps for .mp3 files, or 208 kbps for .ogg files, have an average bit rate no lower than 128 kbps, if such a
    source exists.

    Another game's chart is judged by the file ``beatforge convert`` copies into the .osz byte for byte (one .mp3
    or .ogg); any other audio it re-encodes, so that is n/a. A bit rate under 128 kbps is a warning: the rule
    lets it through where no better source exists, which no tool can know.
    """
    seen: set[str] = set()
    for chart in ctx.charts:
        audio, osu = chart.meta.audio, chart.meta.source_game == "osu"
        key = " + ".join(str(a) for a in audio)
        if key in seen:
            continue
        seen.add(key)
        if not audio:
            yield Finding(f"{chart_label(chart)}: no audio file named: bit rate not checked", severity="info")
            continue
        suffix = audio[0].suffix
        if len(audio) > 1 or (not osu and suffix not in OSU_AUDIO_SUFFIXES):
            yield Finding(f"{key}: n/a (beatforge convert re-encodes it as Ogg Vorbis)", severity="info")
            continue
        if not audio[0].exists():
            yield Finding(f"{audio[0].name!r} is not beside the chart: not checked", severity="info")
            continue
        if suffix not in OSU_AUDIO_SUFFIXES:
            yield Finding(f"{audio[0].name}: a {suffix or 'suffix-less'} file, not .mp3 or .ogg")
            continue
        try:
            kbps = audio_kbps(audio[0])
        except (BeatforgeError, OSError) as exc:
            yield Finding(f"{audio[0].name}: bit rate not checked ({message_of(exc, 120)})", severity="info")
            continue
        if kbps > MAX_KBPS[suffix] + 0.5:
            yield Finding(f"{audio[0].name}: {kbps:.0f} kbps, over {MAX_KBPS[suffix]:.0f} kbps for {suffix}")
        elif kbps < MIN_KBPS - 0.5:
            yield Finding(f"{audio[0].name}: {kbps:.0f} kbps, under {MIN_KBPS:.0f} kbps (allowed only where no better "
                          "source exists)", severity="warning")


SET_CHECKS: tuple[Check, ...] = (
    check_spread, check_difficulty_names, check_preview_consistency, check_one_song_file, check_audio_bitrate,
)

__all__ = [
    "FILE_CHECKS", "MAX_HP_OD", "MAX_KBPS", "MIN_KBPS", "SET_CHECKS", "SPREAD", "SetContext", "audio_kbps",
    "background_name", "check_audio_bitrate", "check_background", "check_background_file_size",
    "check_difficulty_names", "check_first_line_kiai", "check_hp_od", "check_inherited_before_uninherited",
    "check_one_song_file", "check_preview_consistency", "check_preview_point", "check_spread",
    "check_timing_points", "preview_time", "set_file_size",
]
