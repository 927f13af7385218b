"""One entry point for every chart format: find chart sources in folders, and load them.

A *source* is the unit a reader consumes: one .osu / .qua / .sm / .ssc / .json file, one .osz / .qp
archive, or one Frets on Fire song folder (``song.ini`` + ``notes.mid``). A source yields one or more
charts (an archive holds a whole set; a StepMania file holds every difficulty).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from beatforge.archive import chart_members, read_member
from beatforge.charts.chart import ManiaChart
from beatforge.errors import ChartError
from beatforge.formats.fretsonfire import read_fretsonfire
from beatforge.formats.osu import MAX_OSU_BYTES, Beatmap, beatmap_meta, beatmap_to_mania, parse_osu
from beatforge.formats.quaver import read_qp, read_qua
from beatforge.formats.stepmania import read_stepmania
from beatforge.formats.tuijson import looks_like_tui_chart, read_tui_json

CHART_SUFFIXES = (".osu", ".osz", ".qua", ".qp", ".sm", ".ssc", ".json")


# What a reader may raise on a malformed file it did not foresee (each reader checks the values it reads; this is
# the last guard): ValueError covers UnicodeError, struct.error is how MIDI bytes fail to unpack.
_MALFORMED = (ValueError, KeyError, TypeError, IndexError, ZeroDivisionError, OverflowError, RecursionError,
              struct.error)


@contextmanager
def malformed_as_chart_error(path: str | Path) -> Iterator[None]:
    """Turn an exception a malformed chart file raises inside a reader into a one-line ChartError naming it."""
    try:
        yield
    except _MALFORMED as exc:
        detail = next(iter(str(exc).splitlines()), "")[:100]
        raise ChartError(f"{path}: malformed chart ({type(exc).__name__}{': ' + detail if detail else ''})") from None


@dataclass(frozen=True)
class Source:
    """A chart source and the reader that handles it."""

    path: Path
    kind: str  # osu | osz | qua | qp | stepmania | fretsonfire | tui


def source_of(path: str | Path) -> Source:
    """The source a path names, or a ChartError saying why it is none."""
    p = Path(path)
    if not p.exists():
        raise ChartError(f"{p}: no such file or folder")
    if p.is_dir():
        if (p / "notes.mid").is_file() or (p / "song.ini").is_file():
            return Source(p, "fretsonfire")
        raise ChartError(f"{p}: a folder, not a chart (pass a chart file, or use 'dataset build --songs')")
    suffix = p.suffix.lower()
    if p.name.lower() in ("notes.mid", "song.ini"):
        return Source(p.parent, "fretsonfire")
    kinds = {
        ".osu": "osu",
        ".osz": "osz",
        ".qua": "qua",
        ".qp": "qp",
        ".sm": "stepmania",
        ".ssc": "stepmania",
        ".json": "tui",
        ".mid": "fretsonfire",
    }
    if suffix not in kinds:
        raise ChartError(f"{p}: unknown chart format '{suffix}' (expected one of {', '.join(CHART_SUFFIXES)})")
    return Source(p.parent if suffix == ".mid" else p, kinds[suffix])


def discover(folder: str | Path) -> list[Source]:
    """Every chart source under ``folder`` (recursively), in a stable sorted order.

    A StepMania song folder with both ``X.sm`` and ``X.ssc`` yields only the .ssc (the same charts,
    with more timing data). A .json file counts only if it looks like a beat chart.
    """
    root = Path(folder)
    if root.is_file():
        return [source_of(root)]
    if not root.is_dir():
        raise ChartError(f"{root}: " + ("not a folder or chart file (a pipe, a device?)" if root.exists()
                                        else "no such folder"))
    found: list[Source] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        lower = {f.lower(): f for f in filenames}
        if "notes.mid" in lower:
            found.append(Source(here, "fretsonfire"))
        ssc_stems = {Path(f).stem.lower() for f in filenames if f.lower().endswith(".ssc")}
        for name in sorted(filenames):
            suffix = Path(name).suffix.lower()
            p = here / name
            if suffix == ".sm" and Path(name).stem.lower() in ssc_stems:
                continue
            if suffix == ".json" and not looks_like_tui_chart(p):
                continue
            if suffix in CHART_SUFFIXES:
                found.append(source_of(p))
    return found


# ---------------------------------------------------------------------------------- osu! beatmaps
def load_beatmaps(source: Source | str | Path) -> list[Beatmap]:
    """The osu! beatmaps of an .osu file or .osz archive (any game mode)."""
    src = source if isinstance(source, Source) else source_of(source)
    with malformed_as_chart_error(src.path):
        return _load_beatmaps(src)


def _load_beatmaps(src: Source) -> list[Beatmap]:
    if src.kind == "osu":
        return [parse_osu(src.path)]
    if src.kind == "osz":
        names = chart_members(src.path, (".osu",))
        if not names:
            raise ChartError(f"{src.path}: the archive holds no .osu beatmap")
        return [parse_osu(read_member(src.path, n, max_bytes=MAX_OSU_BYTES), path=f"{src.path}::{n}") for n in names]
    raise ChartError(f"{src.path}: not an osu! beatmap (.osu / .osz)")


def _osu_song_key(src: Source) -> str:
    # Every difficulty of an osu! set lives in one folder (or one .osz): that is the song.
    return str(src.path if src.kind == "osz" else src.path.parent)


def mania_from_beatmap(bm: Beatmap, src: Source) -> ManiaChart:
    archive = src.path if src.kind == "osz" else None
    chart = beatmap_to_mania(bm, audio_dir=None if archive else src.path.parent, archive=archive)
    chart.meta.song_key = _osu_song_key(src)
    return chart


def beatmap_chart_meta(bm: Beatmap, src: Source):
    archive = src.path if src.kind == "osz" else None
    meta = beatmap_meta(bm, audio_dir=None if archive else src.path.parent, archive=archive)
    meta.song_key = _osu_song_key(src)
    return meta


# ---------------------------------------------------------------------------------- mania charts
def load_charts(source: Source | str | Path, *, skip_other_modes: bool = True) -> list[ManiaChart]:
    """Every mania chart a source holds, whatever its game.

    osu! beatmaps of other modes (standard, taiko, catch) are skipped when ``skip_other_modes``;
    otherwise they raise. A source with no mania chart at all raises ChartError, and so does a malformed one,
    whatever a reader let through (see :func:`malformed_as_chart_error`).
    """
    src = source if isinstance(source, Source) else source_of(source)
    with malformed_as_chart_error(src.path):
        return _load_charts(src, skip_other_modes)


def _load_charts(src: Source, skip_other_modes: bool) -> list[ManiaChart]:
    if src.kind in ("osu", "osz"):
        beatmaps = load_beatmaps(src)
        charts = [mania_from_beatmap(bm, src) for bm in beatmaps if bm.mode == 3 or not skip_other_modes]
        if not charts:
            modes = sorted({bm.mode_name for bm in beatmaps})
            raise ChartError(f"{src.path}: no osu!mania beatmap (found osu!{', osu!'.join(modes)})")
        return charts
    if src.kind == "qua":
        return [read_qua(src.path)]
    if src.kind == "qp":
        return read_qp(src.path)
    if src.kind == "stepmania":
        return read_stepmania(src.path)
    if src.kind == "fretsonfire":
        return read_fretsonfire(src.path)
    if src.kind == "tui":
        return [read_tui_json(src.path)]
    raise ChartError(f"{src.path}: unknown source kind {src.kind}")


def load_chart(path: str | Path, *, index: int | None = None, version: str | None = None) -> ManiaChart:
    """One chart from a path. A multi-chart source needs ``version`` (difficulty name) or ``index``,
    unless it holds exactly one chart; without either, the hardest (most notes) is taken."""
    charts = load_charts(path)
    if version is not None:
        matches = [c for c in charts if c.meta.version.lower() == version.lower()]
        if not matches:
            names = ", ".join(repr(c.meta.version) for c in charts)
            raise ChartError(f"{path}: no difficulty named {version!r} (found {names})")
        return matches[0]
    if index is not None:
        if not 0 <= index < len(charts):
            raise ChartError(f"{path}: chart index {index} out of range (0-{len(charts) - 1})")
        return charts[index]
    return max(charts, key=lambda c: c.n_notes)
