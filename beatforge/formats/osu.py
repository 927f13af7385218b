"""osu! beatmap files (.osu): reading every game mode, writing mania and standard (format v14).

Why our own parser rather than ``slider`` or ``fosu``: the round trip (parse -> write -> parse gives the
same objects and timing) needs every field kept, including the raw hit-sample strings, unknown sections
and storyboard events, which neither library writes back; and this parser reads a 10,000-object file in
a few milliseconds (``benchmarks/osu_parse.py`` measures it against both).

Quirks handled: UTF-8 BOM, CRLF, ``//`` comments, missing sections, old format versions (v3-v14, fewer
timing-point fields), fractional times and coordinates, inherited (green) timing points, sliders of every
curve type (B, C, L, P, and lazer's per-segment types), mania holds with ``endTime:hitSample``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from beatforge.archive import find_member
from beatforge.charts.beatmap import (
    CIRCLE,
    COMBO_SKIP_MASK,
    HOLD,
    MODE_IDS,
    MODES,
    NEW_COMBO,
    SLIDER,
    SPINNER,
    Beatmap,
    HitObject,
    OsuTimingPoint,
    parse_float,
    parse_int,
)
from beatforge.charts.chart import AudioSource, ChartMeta, ManiaChart, TimingPoint
from beatforge.constants import (
    MAX_CHART_MS,
    MAX_CHART_NOTES,
    MAX_KEYS,
    MAX_SLIDER_LENGTH,
    MAX_SLIDER_POINTS,
    MAX_SLIDER_SLIDES,
    MIN_KEYS,
)
from beatforge.errors import ChartError
from beatforge.fileio import decode_text, read_bounded

__all__ = [  # with the beatmap model of :mod:`beatforge.charts.beatmap`, re-exported
    "CIRCLE", "COMBO_SKIP_MASK", "HOLD", "MAX_OSU_BYTES", "MODES", "MODE_IDS", "NEW_COMBO", "SLIDER", "SPINNER",
    "Beatmap", "HitObject", "OsuTimingPoint", "beatmap_meta", "beatmap_to_mania", "check_chart_budget", "checked_time",
    "column_x", "mania_column", "mania_to_beatmap", "parse_osu", "read_osu_mania", "write_osu",
]

_KEY_VALUE_SECTIONS = ("General", "Editor", "Metadata", "Difficulty")
_SECTION_RE = re.compile(r"^\[(\w+)\]\s*$")
_HEADER_RE = re.compile(r"osu file format v(\d{1,9})")
_MAX_COORD = 131072.0  # osu! clamps positions to +-131072 when reading (lazer's parsing limit)
MAX_OSU_BYTES = 64 << 20  # the largest ranked .osu files are a few MB
_TIME_RANGE = f"allowed -{MAX_CHART_MS:.0f} to {MAX_CHART_MS:.0f} ms"


# ================================================================================== the chart budget
# Every reader (.osu, .qua, .sm/.ssc, tui JSON, notes.mid) holds its charts to the same budget: times finite and
# within +-MAX_CHART_MS, at most MAX_CHART_NOTES notes. A time past it (1e300, inf, a MIDI delta of days) would
# make analysis allocate gigabytes.
def checked_time(value: float, what: str, path: str) -> float:
    """``value`` (ms) when finite and within the chart budget, else ChartError naming ``what`` and the range."""
    if not math.isfinite(value) or abs(value) > MAX_CHART_MS:
        raise ChartError(f"{path}: {what} at an absurd time {value:g} ms ({_TIME_RANGE})")
    return value


def check_note_count(n: int, path: str) -> None:
    if n > MAX_CHART_NOTES:
        raise ChartError(f"{path}: more than {MAX_CHART_NOTES} notes (the most a chart may hold)")


def check_chart_budget(starts: np.ndarray, ends: np.ndarray, path: str, timing=()) -> None:
    """ChartError unless a chart's notes (``ends`` NaN for a tap) and timing points fit the chart budget."""
    check_note_count(len(starts), path)
    for tp in timing:  # first: a tempo past the budget is what puts the notes past it
        checked_time(tp.time, "a timing point", path)
        if not 0 < tp.beat_length <= MAX_CHART_MS:
            raise ChartError(f"{path}: timing point at {tp.time:g} ms has an absurd beat length {tp.beat_length:g} ms "
                             f"(allowed above 0 up to {MAX_CHART_MS:.0f} ms)")
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    bad = ~(np.abs(starts) <= MAX_CHART_MS)
    if bad.any():
        checked_time(float(starts[bad][0]), "a note", path)
    bad = ~np.isnan(ends) & ~(np.abs(ends) <= MAX_CHART_MS)
    if bad.any():
        checked_time(float(ends[bad][0]), "a long note's end", path)


# ================================================================================== parsing
def _decode(data: bytes, path: str) -> str:
    return decode_text(data, path=path, what="an .osu text file")


def parse_osu(source: str | bytes | Path, *, path: str = "") -> Beatmap:
    """Parse .osu text (a path, the bytes, or the text itself).

    Raises:
        ChartError: for a file that is not an .osu file or has malformed timing or hit objects.
    """
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and source.endswith(".osu")):
        path = path or str(source)
        text = _decode(read_bounded(source, max_bytes=MAX_OSU_BYTES, what="an .osu file"), path)
    elif isinstance(source, bytes):
        text = _decode(source, path or "<bytes>")
    else:
        text = source
    path = path or "<text>"

    lines = text.splitlines()
    bm = Beatmap(path=path)
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    header = _HEADER_RE.search(lines[start]) if start < len(lines) else None
    if header is None:
        raise ChartError(f"{path}: not an .osu file (no 'osu file format vN' header)")
    bm.format_version = int(header.group(1))

    section: str | None = None
    for raw in lines[start + 1 :]:
        line = raw.strip()
        if not line:
            continue
        match = _SECTION_RE.match(line)
        if match:
            section = match.group(1)
            if section not in _KEY_VALUE_SECTIONS + ("Events", "TimingPoints", "Colours", "HitObjects"):
                bm.extra_sections.setdefault(section, [])
            continue
        if section == "Events":
            bm.events.append(raw.rstrip())
            continue
        if line.startswith("//") or section is None:
            continue
        if section in _KEY_VALUE_SECTIONS:
            key, sep, value = line.partition(":")
            if sep:
                getattr(bm, section.lower())[key.strip()] = value.strip()
        elif section == "Colours":
            key, sep, value = line.partition(":")
            if sep:
                bm.colours[key.strip()] = value.strip()
        elif section == "TimingPoints":
            bm.timing_points.append(_parse_timing_point(line, path))
        elif section == "HitObjects":
            bm.hit_objects.append(_parse_hit_object(line, path, bm.format_version))
            check_note_count(len(bm.hit_objects), path)
        else:
            bm.extra_sections[section].append(raw.rstrip())
    return bm


def _parse_timing_point(line: str, path: str) -> OsuTimingPoint:
    parts = [p.strip() for p in line.split(",")]
    if len(parts) < 2:
        raise ChartError(f"{path}: bad timing point '{line[:40]}'")
    time = parse_float(parts[0], "a timing point", path)
    beat_length = parse_float(parts[1], "a timing point", path)
    checked_time(time, "timing point", path)

    def field_(i: int, default: int) -> int:
        return parse_int(parts[i], "a timing point", path) if len(parts) > i and parts[i] else default

    uninherited = bool(field_(6, 1)) if len(parts) > 6 else beat_length > 0
    meter = field_(2, 4)
    return OsuTimingPoint(
        time=time,
        beat_length=beat_length,
        meter=meter if meter > 0 else 4,
        sample_set=field_(3, 0),
        sample_index=field_(4, 0),
        volume=field_(5, 100),
        uninherited=uninherited,
        effects=field_(7, 0),
    )


def _parse_hit_object(line: str, path: str, version: int) -> HitObject:
    parts = line.split(",")
    if len(parts) < 4:
        raise ChartError(f"{path}: bad hit object '{line[:40]}'")
    x = parse_float(parts[0], "a hit object", path)
    y = parse_float(parts[1], "a hit object", path)
    time = parse_float(parts[2], "a hit object", path)
    if abs(x) > _MAX_COORD or abs(y) > _MAX_COORD:
        raise ChartError(f"{path}: hit object at {parts[2].strip()} ms has absurd coordinates ({x:g}, {y:g})")
    checked_time(time, "hit object", path)
    otype = parse_int(parts[3], "a hit object", path)
    hitsound = parse_int(parts[4], "a hit object", path) if len(parts) > 4 and parts[4].strip() else 0
    obj = HitObject(x=x, y=y, time=time, type=otype, hitsound=hitsound)
    rest = parts[5:]
    if otype & SLIDER:
        if not rest:
            raise ChartError(f"{path}: slider at {time:g} ms has no curve")
        obj.curve_raw = rest[0].strip()
        tokens = obj.curve_raw.split("|")
        obj.curve_type = tokens[0].strip() or "B"
        for tok in tokens[1:]:
            px, sep, py = tok.partition(":")
            if sep:
                obj.curve_points.append(
                    (parse_float(px, "a slider point", path), parse_float(py, "a slider point", path)))
        if len(obj.curve_points) > MAX_SLIDER_POINTS:
            raise ChartError(f"{path}: slider at {time:g} ms has {len(obj.curve_points)} control points (at most "
                             f"{MAX_SLIDER_POINTS})")
        if any(abs(px) > _MAX_COORD or abs(py) > _MAX_COORD for px, py in obj.curve_points):
            raise ChartError(f"{path}: slider at {time:g} ms has a control point at absurd coordinates")
        obj.slides = parse_int(rest[1], "a slider", path) if len(rest) > 1 and rest[1].strip() else 1
        if not 0 <= obj.slides <= MAX_SLIDER_SLIDES:
            raise ChartError(f"{path}: slider at {time:g} ms repeats {obj.slides} times (0 to {MAX_SLIDER_SLIDES})")
        obj.length = parse_float(rest[2], "a slider", path) if len(rest) > 2 and rest[2].strip() else None
        if obj.length is not None and not (math.isfinite(obj.length) and abs(obj.length) <= MAX_SLIDER_LENGTH):
            raise ChartError(f"{path}: slider at {time:g} ms has length {obj.length:g} px (at most "
                             f"{MAX_SLIDER_LENGTH:g})")
        obj.edge_sounds = rest[3].strip() if len(rest) > 3 else None
        obj.edge_sets = rest[4].strip() if len(rest) > 4 else None
        obj.hit_sample = rest[5].strip() if len(rest) > 5 else None
    elif otype & SPINNER:
        if rest and rest[0].strip():
            obj.end_time = checked_time(parse_float(rest[0], "a spinner", path), "a spinner's end", path)
        obj.hit_sample = rest[1].strip() if len(rest) > 1 else None
    elif otype & HOLD:
        if rest:
            end, _, sample = rest[0].partition(":")
            if end.strip():
                obj.end_time = checked_time(parse_float(end, "a hold note", path), "a hold's end", path)
            obj.hit_sample = sample.strip() if sample else None
    else:
        obj.hit_sample = rest[0].strip() if rest else None
    return obj


# ================================================================================== writing
def _num(value: float) -> str:
    """Shortest exact text: integers without a decimal point, other floats with repr's shortest digits."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


_LINE_BREAKS = {c: " " for c in [*range(32), 127, 0x85, 0x2028, 0x2029]}


def one_line(text: object, *, strip: bool = True) -> str:
    """Text that stays one line of an .osu file: control characters and every Unicode line break become
    spaces. A title, artist or file name comes from a user or a stranger's file; with a newline in it, it could
    write sections of its own (an ``[Events]`` background of the sender's choosing). ``strip=False`` keeps the
    leading spaces that nest storyboard commands."""
    line = str(text).translate(_LINE_BREAKS)
    return line.strip() if strip else line


def write_osu(bm: Beatmap) -> str:
    """The beatmap as .osu text, format v14 (osu! stable and lazer read it); every value one line
    (:func:`one_line`)."""
    out = ["osu file format v14", ""]
    for name in _KEY_VALUE_SECTIONS:
        values: dict[str, str] = getattr(bm, name.lower())
        out.append(f"[{name}]")
        sep = ": " if name in ("General", "Editor") else ":"
        out.extend(f"{one_line(k).replace(':', '')}{sep}{one_line(v)}" for k, v in values.items())
        out.append("")
    out.append("[Events]")
    out.extend(one_line(e, strip=False) for e in bm.events)
    out.append("")
    out.append("[TimingPoints]")
    for tp in bm.timing_points:
        out.append(
            f"{_num(tp.time)},{_num(tp.beat_length)},{tp.meter},{tp.sample_set},{tp.sample_index},"
            f"{tp.volume},{int(tp.uninherited)},{tp.effects}"
        )
    out.append("")
    if bm.colours:
        out.append("[Colours]")
        out.extend(f"{k} : {v}" for k, v in bm.colours.items())
        out.append("")
    for name, lines in bm.extra_sections.items():
        out.append(f"[{one_line(name)}]")
        out.extend(one_line(x, strip=False) for x in lines)
        out.append("")
    out.append("[HitObjects]")
    out.extend(_hit_object_line(o) for o in bm.hit_objects)
    return "\r\n".join(out) + "\r\n"


def _hit_object_line(o: HitObject) -> str:
    head = f"{_num(o.x)},{_num(o.y)},{_num(o.time)},{o.type},{o.hitsound}"
    # A missing hit sample stays missing (osu! reads old files without it); sliders need it only when
    # their edge fields are written.
    tail = f",{o.hit_sample}" if o.hit_sample is not None else ""
    if o.type & SLIDER:
        path = o.curve_raw or "|".join([o.curve_type or "B"] + [f"{_num(x)}:{_num(y)}" for x, y in o.curve_points])
        fields = [path, str(o.slides or 1), _num(o.length if o.length is not None else 0.0)]
        # Trailing fields are optional in osu!: write up to the last one present.
        optional = [o.edge_sounds, o.edge_sets, o.hit_sample]
        present = max((i + 1 for i, v in enumerate(optional) if v is not None), default=0)
        fields.extend(v if v is not None else d for v, d in zip(optional[:present], ("0", "0:0", "0:0:0:0:")))
        return head + "," + ",".join(fields)
    if o.type & SPINNER:
        return f"{head},{_num(o.end_time if o.end_time is not None else o.time)}{tail}"
    if o.type & HOLD:
        return f"{head},{_num(o.end_time if o.end_time is not None else o.time)}:{o.hit_sample or ''}"
    return head + tail


# ================================================================================== mania
def mania_column(x: np.ndarray | float, keys: int) -> np.ndarray:
    """osu!mania's column rule: floor(x * keys / 512), clamped to the playfield."""
    return np.clip(np.floor(np.asarray(x, dtype=np.float64) * keys / 512.0), 0, keys - 1).astype(np.int64)


def column_x(columns: np.ndarray, keys: int) -> np.ndarray:
    """The x written for a column: its centre, which :func:`mania_column` maps back to the column."""
    return np.floor((np.asarray(columns) + 0.5) * 512.0 / keys).astype(np.int64)


def beatmap_to_mania(bm: Beatmap, *, audio_dir: Path | None = None, archive: Path | None = None) -> ManiaChart:
    """The mania chart of an osu!mania beatmap (mode 3).

    Args:
        bm: the parsed beatmap; must be mode 3.
        audio_dir: folder the audio file is looked up in (a Songs set folder).
        archive: the .osz the beatmap came from, where the audio is a member.
    """
    if bm.mode != 3:
        raise ChartError(f"{bm.path}: an osu!{bm.mode_name} beatmap, not osu!mania")
    keys = bm.mania_keys
    objs = bm.hit_objects
    xs = np.fromiter((o.x for o in objs), dtype=np.float64, count=len(objs))
    starts = np.fromiter((o.time for o in objs), dtype=np.float64, count=len(objs))
    ends = np.fromiter(
        ((o.end_time if (o.type & HOLD and o.end_time is not None) else math.nan) for o in objs),
        dtype=np.float64,
        count=len(objs),
    )
    meta = beatmap_meta(bm, audio_dir=audio_dir, archive=archive)
    timing = [TimingPoint(tp.time, tp.beat_length, tp.meter) for tp in bm.red_lines() if tp.beat_length > 0]
    check_chart_budget(starts, ends, bm.path, timing)
    return ManiaChart(
        keys=_checked_keys(keys, bm.path),
        starts=starts,
        ends=ends,
        columns=mania_column(xs, max(keys, 1)),
        timing=timing,
        meta=meta,
    )


def _checked_keys(keys: int, path: str) -> int:
    if not MIN_KEYS <= keys <= MAX_KEYS:
        raise ChartError(f"{path}: unsupported key count {keys} (CircleSize; beatforge handles {MIN_KEYS}-{MAX_KEYS})")
    return keys


def beatmap_meta(bm: Beatmap, *, audio_dir: Path | None = None, archive: Path | None = None) -> ChartMeta:
    md = bm.metadata

    def opt_int(key: str) -> int | None:
        try:
            value = int(md.get(key, ""))
        except ValueError:
            return None
        return value if value > 0 else None

    audio: tuple[AudioSource, ...] = ()
    name = bm.audio_filename
    if name and archive is not None:
        member = find_member(archive, name)
        audio = (AudioSource(archive, member or name),)
    elif name and audio_dir is not None:
        found = AudioSource.in_folder(audio_dir, name)  # inside the map's folder only
        audio = (found,) if found is not None else ()
    preview = bm.general.get("PreviewTime")
    return ChartMeta(
        title=md.get("Title", ""),
        artist=md.get("Artist", ""),
        creator=md.get("Creator", ""),
        version=md.get("Version", ""),
        source_game="osu",
        audio=audio,
        path=bm.path,
        set_id=opt_int("BeatmapSetID"),
        map_id=opt_int("BeatmapID"),
        preview_ms=float(preview) if preview and preview.isdecimal() and float(preview) <= MAX_CHART_MS else None,
        tags=md.get("Tags", ""),
        od=bm.diff("OverallDifficulty", 8.0),
        hp=bm.diff("HPDrainRate", 8.0),
    )


def mania_to_beatmap(
    chart: ManiaChart,
    *,
    audio_filename: str = "audio.mp3",
    extra_metadata: dict[str, str] | None = None,
    background: str | None = None,
) -> Beatmap:
    """An osu!mania v14 beatmap of the chart (timing from the chart, one red line at least); ``background``: the
    image file its [Events] name (``0,0,"bg.jpg",0,0``), beside it in the set.

    Times are rounded to whole milliseconds, as osu! stable stores hit objects.
    """
    meta = chart.meta
    bm = Beatmap(path=meta.path)
    bm.general = {
        "AudioFilename": audio_filename,
        "AudioLeadIn": "0",
        "PreviewTime": str(int(meta.preview_ms)) if meta.preview_ms is not None else "-1",
        "Countdown": "0",
        "SampleSet": "Soft",
        "StackLeniency": "0.7",
        "Mode": "3",
        "LetterboxInBreaks": "0",
        "SpecialStyle": "0",
        "WidescreenStoryboard": "0",
    }
    bm.editor = {"DistanceSpacing": "1", "BeatDivisor": "4", "GridSize": "4", "TimelineZoom": "1"}
    if background:
        bm.events = [f'0,0,"{one_line(background).replace(chr(34), "")}",0,0']
    tags = " ".join(t for t in (meta.tags, meta.source_game) if t).strip()
    bm.metadata = {
        "Title": meta.title or "Unknown",
        "TitleUnicode": meta.title or "Unknown",
        "Artist": meta.artist or "Unknown",
        "ArtistUnicode": meta.artist or "Unknown",
        "Creator": meta.creator or "beatforge",
        "Version": meta.version or f"{chart.keys}K",
        "Source": "",
        "Tags": tags,
        "BeatmapID": str(meta.map_id or 0),
        "BeatmapSetID": str(meta.set_id or -1),
        **(extra_metadata or {}),
    }
    bm.difficulty = {
        "HPDrainRate": _num(meta.hp),
        "CircleSize": str(chart.keys),
        "OverallDifficulty": _num(meta.od),
        "ApproachRate": "5",
        "SliderMultiplier": "1.4",
        "SliderTickRate": "1",
    }
    timing = chart.timing or [TimingPoint(0.0, 500.0, 4)]
    bm.timing_points = [
        OsuTimingPoint(
            time=float(round(tp.time)) if abs(tp.time - round(tp.time)) < 1e-6 else tp.time,
            beat_length=tp.beat_length,
            meter=tp.meter,
            sample_set=1,
            volume=70,
        )
        for tp in timing
    ]
    xs = column_x(chart.columns, chart.keys)
    starts = np.round(chart.starts).astype(np.int64)
    ends = np.round(np.nan_to_num(chart.ends, nan=-1.0)).astype(np.int64)
    objs = []
    for x, t, e in zip(xs.tolist(), starts.tolist(), ends.tolist()):
        if e > t:
            objs.append(HitObject(x=x, y=192, time=t, type=HOLD, end_time=e, hit_sample="0:0:0:0:"))
        else:
            objs.append(HitObject(x=x, y=192, time=t, type=CIRCLE, hit_sample="0:0:0:0:"))
    bm.hit_objects = objs
    return bm


def read_osu_mania(path: str | Path) -> ManiaChart:
    """Convenience: parse a mania .osu file and return its chart (audio looked up beside it)."""
    p = Path(path)
    return beatmap_to_mania(parse_osu(p), audio_dir=p.parent)
